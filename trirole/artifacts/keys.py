"""Which field names hold secrets, which hold ids, and which values are not worth keeping.

One vocabulary for every shape (JSON keys, ``key=value`` text, headers, environment
lines, variable names in the agent's code): a name is split into words
(``SERVICE_API_KEY`` → service, api, key; ``accessToken`` → access, token) and its last
words decide.
"""

from __future__ import annotations

import re
from functools import lru_cache

# The kinds of secret; everything else is a record (an id with its fields) or an API response.
SECRET_KINDS = ("access_token", "refresh_token", "password", "api_key", "verification_code", "session_id")

# Words before a final "code" that make it a one-time code rather than a zip or promo code.
_CODE_QUALIFIERS = {"verification", "verify", "reset", "otp", "auth", "authentication", "confirmation", "security",
                    "login", "access", "mfa", "2fa", "one", "time", "onetime", "sms", "activation", "authorization"}
_KEY_QUALIFIERS = {"api", "secret", "access", "private", "signing", "auth", "client", "service", "app"}
_PASSWORD_WORDS = {"password", "passwd", "pwd", "passphrase", "passcode", "pin", "otp"}
_SKIP_VALUES = {"", "none", "null", "nil", "true", "false", "undefined", "redacted", "hidden", "secret", "password",
                "token", "string", "str", "int", "bearer", "basic", "n/a", "na", "unknown", "required", "optional",
                "invalid", "expired", "missing", "incorrect", "wrong", "changeme", "your_token", "your_password"}
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_PLAIN_WORD = re.compile(r"[A-Za-z]?[a-z]+")  # "incorrect", "Invalid": words, not credentials
_PLACEHOLDER = re.compile(r"^(?:[*xX.•#-]{3,}|<[^>]*>|\{[^}]*\}|\$\{?\w+\}?|%\w|\.\.\.)$")


def words(name: str) -> list[str]:
    return [w for w in re.split(r"[^a-z0-9]+", _CAMEL.sub("_", name.strip()).lower()) if w]


@lru_cache(maxsize=4096)  # the same few field names, thousands of times in a listing
def secret_kind(name: str) -> str | None:
    """The kind of secret a field called `name` holds, or ``None``."""
    parts = words(name)
    if not parts:
        return None
    last, before = parts[-1], parts[:-1]
    joined = "_".join(parts)
    if last in ("token", "accesstoken", "authtoken", "bearer", "jwt") or joined.endswith("access_token"):
        return "refresh_token" if "refresh" in parts else "access_token"
    if last == "refreshtoken":
        return "refresh_token"
    if last in _PASSWORD_WORDS or last.endswith("password"):
        return "verification_code" if last in ("otp", "pin") else "password"
    if last in ("apikey", "secret", "secretkey") or (last == "key" and set(before) & _KEY_QUALIFIERS):
        return "api_key"
    if last == "authorization" or joined in ("x_auth", "auth"):
        return "access_token"
    if (last == "code" and set(before) & _CODE_QUALIFIERS) or last in ("otp", "totp"):
        return "verification_code"
    if joined in ("session_id", "sessionid", "session", "sid", "session_token", "session_key") or last == "sessionid":
        return "session_id"
    return None


@lru_cache(maxsize=4096)
def is_id_key(name: str) -> bool:
    """``id``, ``song_id``, ``playlistId``: a field that names one record."""
    parts = words(name)
    return bool(parts) and parts[-1] == "id" and secret_kind(name) is None


def credible_secret(value: str, *, quoted: bool) -> bool:
    """Whether `value`, found under a secret's name, is a value rather than a word or a
    placeholder. A quoted value is taken as is; an unquoted one must not be a plain word
    (``password is incorrect``) or an expression (``token=r['access_token']``)."""
    text = value.strip()
    if text.lower() in _SKIP_VALUES or _PLACEHOLDER.match(text) or len(text) > 2000:
        return False
    if quoted:
        return True
    if len(text) < 4 or _PLAIN_WORD.fullmatch(text) or text.endswith(":"):  # a word, or a label ("count:")
        return False
    # An expression, not a value: r['access_token'], get_token(), os.environ
    return not (re.fullmatch(r"[A-Za-z_][\w.]*(?:\[.*|\(.*)", text)
                or re.fullmatch(r"[a-z_][a-z0-9_]*(?:\.[a-z_][a-z0-9_]*)+", text))
