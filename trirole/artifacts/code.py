"""Secrets the agent's own code printed bare: read the executed code to know what it printed.

``token = apis.spotify.login(...)["access_token"]; print(token)`` prints a line with no
key in it. The code says what that line is: a credential-named variable, a login call's
field, a value of the passwords dict. `printed_secrets` follows assignments (``ast``,
never executed), builds for each ``print`` of such a value a pattern of the line it
writes, and reads the value back from the output.
"""

from __future__ import annotations

import ast
import re
from typing import Iterator

from trirole.artifacts.keys import credible_secret, secret_kind

_LOGIN = re.compile(r"(?:^|_)(?:login|log_in|signin|sign_in|authenticate|get_token|access_token)$", re.I)
_PASSWORDS = re.compile(r"passwords$", re.I)


def _call_name(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _const_str(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Bindings:
    """What each variable of the code holds: a secret of some kind, or a container of them."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}     # name -> kind
        self.containers: dict[str, str] = {}  # name -> kind of what indexing it gives

    def kind(self, node: ast.AST | None) -> str | None:
        """The kind of secret `node` evaluates to, if any."""
        if node is None:
            return None
        if isinstance(node, ast.Name):  # bound here, or named like one (a loop variable, an earlier step's)
            return self.secrets.get(node.id) or secret_kind(node.id)
        if isinstance(node, ast.Subscript):
            key = _const_str(node.slice)
            if key is not None and secret_kind(key):
                return secret_kind(key)
            if isinstance(node.value, ast.Name):  # passwords["spotify"], pw["gmail"] (a dict of an earlier step)
                name = node.value.id
                return self.containers.get(name) or secret_kind(name.rstrip("s")) or \
                    ("password" if name.lower() in ("pw", "pws", "pwds", "creds", "credentials") else None)
            return None
        if isinstance(node, ast.Attribute):
            return secret_kind(node.attr)
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if name in ("get", "getenv", "pop") and node.args and _const_str(node.args[0]):
                return secret_kind(_const_str(node.args[0]) or "")
            if name == "str" and node.args:          # str(token)
                return self.kind(node.args[0])
            if name == "strip" and isinstance(node.func, ast.Attribute):  # token.strip()
                return self.kind(node.func.value)
            return None
        if isinstance(node, ast.JoinedStr):
            return next((k for v in node.values if isinstance(v, ast.FormattedValue) for k in [self.kind(v.value)] if k),
                        None)
        return None

    def container(self, node: ast.AST) -> str | None:
        """The kind of secret found by indexing what `node` evaluates to."""
        if isinstance(node, ast.Call):
            name = _call_name(node)
            if _LOGIN.search(name):
                return "access_token"
            if _PASSWORDS.search(name):
                return "password"
        if isinstance(node, ast.DictComp):
            return self.kind(node.value)
        if isinstance(node, (ast.ListComp, ast.SetComp)):
            return self.kind(node.elt)
        if isinstance(node, ast.Name):
            return self.containers.get(node.id)
        return None

    def bind(self, tree: ast.AST) -> None:
        for _ in range(2):  # twice: a binding may use a name bound later in walk order
            for node in ast.walk(tree):
                targets: list[ast.AST] = []
                value: ast.AST | None = None
                if isinstance(node, ast.Assign):
                    targets, value = node.targets, node.value
                elif isinstance(node, (ast.AnnAssign, ast.NamedExpr)) and node.value is not None:
                    targets, value = [node.target], node.value
                for target in targets:
                    if not isinstance(target, ast.Name):
                        continue
                    kind = secret_kind(target.id) or self.kind(value)
                    if kind:
                        self.secrets[target.id] = kind
                    container = self.container(value) if value is not None else None
                    if container:
                        self.containers[target.id] = container


def _print_calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
            and n.func.id == "print"]


def _line_pattern(call: ast.Call, bindings: _Bindings) -> tuple[re.Pattern[str], list[tuple[str | None, str]]] | None:
    """A regex of the line `call` prints, and for each group the secret kind it holds and
    the expression that printed it."""
    sep = next((_const_str(k.value) for k in call.keywords if k.arg == "sep"), " ")
    if sep is None or any(isinstance(a, ast.Starred) for a in call.args):
        return None
    parts, kinds = [], []
    for arg in call.args:
        text = _const_str(arg)
        if text is not None:
            parts.append(re.escape(text))
        elif isinstance(arg, ast.JoinedStr):
            piece = ""
            for value in arg.values:
                if isinstance(value, ast.FormattedValue):
                    piece += "(.+?)"
                    kinds.append((bindings.kind(value.value), ast.unparse(value.value)))
                else:
                    piece += re.escape(_const_str(value) or "")
            parts.append(piece)
        else:
            parts.append("(.+?)")
            kinds.append((bindings.kind(arg), ast.unparse(arg)))
    if not any(kind for kind, _ in kinds):
        return None
    return re.compile(re.escape(sep).join(parts)), kinds


def printed_secrets(code: str, output: str) -> Iterator[tuple[str, str, str, str]]:
    """(name, kind, value, how) for each secret `code` printed without a key naming it;
    the name is the expression that held it (``token``, ``pw['spotify']``)."""
    try:
        tree = ast.parse(code or "")
    except (SyntaxError, ValueError):
        return
    bindings = _Bindings()
    bindings.bind(tree)
    prints = _print_calls(tree)
    lines = [line.rstrip("\r") for line in (output or "").splitlines()]
    # Straight-line code whose every print wrote one line: line i is print i.
    top_level = [s.value for s in getattr(tree, "body", []) if isinstance(s, ast.Expr) and s.value in prints]
    ordered = len(top_level) == len(prints) == len([line for line in lines if line.strip()])
    printed = [line for line in lines if line.strip()]
    for index, call in enumerate(prints):
        pattern = _line_pattern(call, bindings)
        if pattern is None:
            continue
        regex, kinds = pattern
        candidates = [printed[index]] if ordered else lines
        for line in candidates:
            match = regex.fullmatch(line.strip())
            if not match:
                continue
            for value, (kind, name) in zip(match.groups(), kinds):
                bare = not ordered and regex.pattern == "(.+?)"
                if kind and credible_secret(value, quoted=not bare) and value[:1] not in "[{" \
                        and not (bare and " " in value.strip()):
                    yield name, kind, value.strip(), f"printed by the code ({ast.unparse(call)})"
