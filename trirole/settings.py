"""Run-time settings of every trirole graph.

`TriroleSettings` is the graphs' LangGraph ``context_schema``: LangGraph Studio shows
its fields as an editable form, ``graph.invoke(..., context={...})`` sets them per run,
and plain ``config={"configurable": {...}}`` works too (see :func:`resolve_settings`).
Every field is JSON-friendly so a run can be configured from the CLI, Studio or a file.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Iterable, Literal, Mapping, get_args
from urllib.parse import urlsplit

from langchain_core.runnables import RunnableConfig

Role = Literal["summarizer", "agent", "corrector"]
ROLES: tuple[Role, ...] = ("summarizer", "agent", "corrector")

CorrectionPolicy = Literal["always", "after_n", "never"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"

Isolation = Literal["bwrap", "process"]
"""How the python sandbox confines agent code (see `trirole.environments.isolation`)."""
ISOLATIONS: tuple[str, ...] = get_args(Isolation)

_URL_HELP = "give http://HOST:PORT/v1, several as a comma-separated list, or @FILE with one URL a line"


def parse_base_urls(text: str) -> tuple[str, ...]:
    """The replica URLs of a ``--base-url`` value: ``URL``, ``URL1,URL2`` or ``@FILE``
    (one URL a line; blank lines and ``#`` comments skipped). Raises ValueError with a
    one-line fix for anything that is not a list of http(s) URLs."""
    text = (text or "").strip()
    if text.startswith("@"):
        path = Path(text[1:]).expanduser()
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ValueError(f"base URL file {str(path)!r} cannot be read ({exc.strerror}); {_URL_HELP}") from None
        items = [line.split("#", 1)[0].strip() for line in lines]
    else:
        items = [item.strip() for item in text.split(",")]
    urls = [item.rstrip("/") for item in items if item]
    if not urls:
        raise ValueError(f"base URL {text!r} names no endpoint; {_URL_HELP}")
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError(f"base URL {url!r} is not an http(s) URL; {_URL_HELP}")
    return tuple(dict.fromkeys(urls))


def normalize_base_url(text: str) -> str:
    """A ``--base-url`` value as the settings hold it: the URLs, comma-separated (a file read)."""
    return ",".join(parse_base_urls(text))


@dataclass(frozen=True)
class RoleEndpoint:
    """Where one role's model lives. Empty fields fall back to the shared ones."""

    base_url: str = ""
    model: str = ""
    temperature: float | None = None
    max_completion_tokens: int | None = None


@dataclass(frozen=True)
class Preset:
    """A published model setting (Three Roles, One Model, Section 4)."""

    name: str
    model: str
    max_context_tokens: int
    vllm_args: tuple[str, ...]
    description: str


PRESETS: dict[str, Preset] = {
    "qwen3-8b-fp16": Preset(
        name="qwen3-8b-fp16",
        model="Qwen/Qwen3-8B",
        max_context_tokens=12288,
        vllm_args=("--max-model-len", "12288", "--reasoning-parser", "qwen3", "--enable-prefix-caching",
                   "--enable-prompt-tokens-details"),
        description="Qwen3-8B in FP16 on one 24 GB GPU: 12K context (the paper's FP16 setting).",
    ),
    "qwen3-8b-awq": Preset(
        name="qwen3-8b-awq",
        model="Qwen/Qwen3-8B-AWQ",
        max_context_tokens=32768,
        vllm_args=(
            "--max-model-len", "32768", "--quantization", "awq_marlin",
            "--reasoning-parser", "qwen3", "--enable-prefix-caching", "--enable-prompt-tokens-details",
        ),
        description="Qwen3-8B 4-bit AWQ on one 24 GB GPU: 32K context (the paper's AWQ setting).",
    ),
}


def _setting(default: Any, group: str, help: str, *, flag: str | None = None) -> Any:
    """A field the command line offers as ``--<flag>`` (default: the field's name with
    dashes) in option group `group`; its type, choices and default come from the field."""
    return field(default=default, metadata={"cli": {"group": group, "help": help, "flag": flag}})


@dataclass(frozen=True)
class TriroleSettings:
    """Everything a run can be configured with. Defaults reproduce the paper's scaffold.

    Model endpoint
        base_url, model, api_key: the shared OpenAI-compatible endpoint (vLLM first);
            base_url may list replicas of the model, comma-separated (`trirole.backend.replicas`).
        roles: per-role overrides, e.g. ``{"corrector": {"model": "other"}}``.
        temperature, max_completion_tokens: sampling for every role unless overridden.
        enable_thinking: Qwen3 thinking mode (sent as a chat-template kwarg); ``<think>``
            blocks are stripped before code extraction either way.
        request_timeout_s, max_retries: per model call.

    Budgets
        max_steps: agent actions per user request before the run ends with status
            ``step_budget``. A task is one request (AppWorld, python tasks, BFCL
            single-turn); a BFCL multi-turn entry brings several, one after another, and
            each gets its own ``max_steps``, as BFCL gives each turn its own 20 steps.
        max_total_steps: agent actions of a whole run, over all its requests; 0 (the
            default): no cap beyond ``max_steps`` per request.
        max_context_tokens: the model's context window; every prompt plus
            ``max_completion_tokens`` stays within it.
        keep_recent_turns: turns the summarizer keeps verbatim after the summary.
        max_observation_chars: an execution's output is clipped (head and tail) to this.
        artifact_share: the share (0..0.9] of the prompt budget the agent prompt's artifact
            block may take, at the token counter's conservative 3 characters per token.
            Every secret is shown whatever it costs; records and API responses fill what
            is left, most recently seen or used first.

    Corrector routing
        correction_policy: after a failed execution, send the next code to the corrector
            ``always``, ``after_n`` consecutive failures, or ``never``.
        correction_after_n: the n of ``after_n``.
        repetition_similarity: code at least this similar (0..1, on normalised code) to
            an earlier failed attempt counts as a repetition.
        repeated_error_k: the same error signature k times in a row counts as a repetition.
        corrector_sees_history: ablation: give the corrector the full conversation.
        review_no_code: a reply that holds no code goes to the corrector too, which writes
            the step's code from the task, the reference and that reply (for a small model
            that often answers in prose, e.g. on BFCL); off, such a reply gets a hint and
            the agent tries again at its next step.

    Ablations
        use_summarizer, use_corrector: switch a role off.

    Environment
        env: ``python`` (sandboxed subprocess) or ``appworld`` (AppWorld's server).
        env_options: passed to the environment factory (e.g. AppWorld's server URL).
        step_timeout_s, memory_limit_mb: limits of one code execution.
        isolation: how the python sandbox confines agent code: ``bwrap`` (bubblewrap: no
            network, no view of the host, its own processes and scratch folder; needs the
            ``bubblewrap`` package, which ``make setup`` installs) or ``process`` (a plain
            subprocess that can reach the user's files and network: only when asked for).
        tools: your own tools for the agent's code, as ``module:attribute`` specs (each a
            tool or a list of LangChain tools, callables or MCP clients; see
            `trirole.environments.user_tools`), loaded when the graph is built; a run's value is not
            read (a run cannot add tools). The builders' ``tools=[...]`` takes the objects.
        tool_timeout_s: seconds one call of one of those tools may take.
    """

    base_url: str = _setting(DEFAULT_BASE_URL, "model", "OpenAI-compatible base URL; replicas of one model as "
                             "URL1,URL2,... or @FILE (one URL a line), each request to the least-loaded one "
                             "(default: the server of `trirole model serve`)")
    model: str = _setting("smollm2-135m-instruct", "model", "model name as the server knows it (default: the local "
                          "server's); `oracle`: answer with each task's ground-truth solution, no endpoint "
                          "(checks an installation or a dataset)")
    api_key: str = "EMPTY"
    roles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    temperature: float = _setting(0.0, "model", "sampling temperature of every role")
    max_completion_tokens: int = _setting(512, "model", "tokens reserved for each answer")
    enable_thinking: bool = _setting(False, "model", "Qwen3 thinking mode (on with a preset)", flag="thinking")
    request_timeout_s: float = _setting(120.0, "model", "seconds one model call may take", flag="request-timeout")
    max_retries: int = _setting(2, "model", "retries of a failed model call")

    max_steps: int = _setting(20, "scaffold", "agent steps per user request (a task is one request; a BFCL "
                              "multi-turn entry brings several, each with its own steps)")
    max_total_steps: int = _setting(0, "scaffold", "agent steps of a whole run, over all its requests "
                                    "(default 0: no cap beyond --max-steps per request)")
    max_context_tokens: int = _setting(4096, "model", "the model's context window")
    keep_recent_turns: int = _setting(2, "scaffold", "turns the summarizer keeps verbatim")
    max_observation_chars: int = _setting(3000, "scaffold", "an execution's output is clipped to this")
    artifact_share: float = _setting(0.25, "scaffold", "share of the prompt budget for ids and records kept "
                                     "verbatim (secrets are always kept)")

    correction_policy: CorrectionPolicy = _setting("always", "scaffold",
                                                   "send code to the corrector after a failed execution")
    correction_after_n: int = _setting(2, "scaffold", "the n of --correction-policy after_n")
    repetition_similarity: float = _setting(0.9, "scaffold", "code this similar to a failed attempt is a repetition")
    repeated_error_k: int = _setting(2, "scaffold", "the same error k times in a row is a repetition")
    corrector_sees_history: bool = _setting(False, "scaffold", "ablation: the corrector sees the conversation")
    review_no_code: bool = _setting(False, "scaffold", "the corrector also reviews a reply that holds no code "
                                    "and writes that step's code (off: such a reply only gets a hint)")

    use_summarizer: bool = _setting(True, "scaffold", "the summarizer role (--no-summarizer: ablation)",
                                    flag="summarizer")
    use_corrector: bool = _setting(True, "scaffold", "the corrector role (--no-corrector: ablation)",
                                   flag="corrector")

    env: str = "python"
    env_options: Mapping[str, Any] = field(default_factory=dict)
    step_timeout_s: float = _setting(30.0, "environment", "seconds one code execution may take",
                                     flag="step-timeout")
    memory_limit_mb: int = _setting(1024, "environment", "memory limit of one code execution (MB)",
                                    flag="memory-limit-mb")
    isolation: Isolation = _setting("bwrap", "environment", "how agent code is confined: bwrap (no network, no "
                                    "view of the host) or process (only when asked for)")
    tools: tuple[str, ...] = _setting((), "environment", "your own tools, called from the agent's code: "
                                      "module:attribute (a LangChain tool, callable or MCP client, or a list of "
                                      "them), comma-separated for several (default: none)")
    tool_timeout_s: float = _setting(30.0, "environment", "seconds one call of your own tools may take",
                                     flag="tool-timeout")

    def __post_init__(self) -> None:
        validate_settings(self)

    def endpoint(self, role: str) -> RoleEndpoint:
        """The resolved endpoint of one role (its overrides on top of the shared one)."""
        override = dict(self.roles.get(role, {}))
        unknown = set(override) - {f.name for f in fields(RoleEndpoint)}
        if unknown:
            raise ValueError(
                f"settings.roles[{role!r}] has unknown keys {sorted(unknown)}; "
                f"allowed: base_url, model, temperature, max_completion_tokens"
            )
        return RoleEndpoint(
            base_url=override.get("base_url") or self.base_url,
            model=override.get("model") or self.model,
            temperature=self.temperature if override.get("temperature") is None else override["temperature"],
            max_completion_tokens=override.get("max_completion_tokens") or self.max_completion_tokens,
        )

    @property
    def prompt_budget(self) -> int:
        """Tokens a prompt may use: the context window minus the completion reserve."""
        return self.max_context_tokens - self.max_completion_tokens

    def with_preset(self, name: str) -> "TriroleSettings":
        """These settings with a published preset's model and context window."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        preset = PRESETS[name]
        return replace(self, model=preset.model, max_context_tokens=preset.max_context_tokens,
                       enable_thinking=True)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["roles"] = {k: dict(v) for k, v in self.roles.items()}
        out["env_options"] = dict(self.env_options)
        return out


def validate_settings(s: TriroleSettings) -> None:
    """Fail at build time, with the fix in the message, instead of mid-run."""
    problems = []
    if s.temperature < 0:
        problems.append(f"temperature must be >= 0 (got {s.temperature})")
    if s.max_steps < 1:
        problems.append(f"max_steps must be >= 1 (got {s.max_steps})")
    if s.max_total_steps < 0:
        problems.append(f"max_total_steps must be >= 0, 0 for no cap (got {s.max_total_steps})")
    if s.max_completion_tokens < 16:
        problems.append(f"max_completion_tokens must be >= 16 (got {s.max_completion_tokens})")
    if s.max_context_tokens < s.max_completion_tokens + 256:
        problems.append(
            f"max_context_tokens ({s.max_context_tokens}) must leave at least 256 prompt tokens "
            f"after max_completion_tokens ({s.max_completion_tokens}); raise it or lower the completion reserve"
        )
    if s.correction_policy not in ("always", "after_n", "never"):
        problems.append(f"correction_policy must be always, after_n or never (got {s.correction_policy!r})")
    if not 0.0 < s.repetition_similarity <= 1.0:
        problems.append(f"repetition_similarity must be in (0, 1] (got {s.repetition_similarity})")
    if s.repeated_error_k < 1 or s.correction_after_n < 1:
        problems.append("repeated_error_k and correction_after_n must be >= 1")
    if not 0.0 < s.artifact_share <= 0.9:
        problems.append(f"artifact_share must be in (0, 0.9] of the prompt budget (got {s.artifact_share})")
    if s.keep_recent_turns < 0:
        problems.append("keep_recent_turns must be >= 0")
    if s.tool_timeout_s <= 0:
        problems.append(f"tool_timeout_s must be > 0 (got {s.tool_timeout_s})")
    if isinstance(s.tools, str) or not all(isinstance(t, str) and ":" in t.strip(":") for t in s.tools):
        problems.append(f"tools must be a list of module:attribute specs (got {s.tools!r})")
    if s.isolation not in ISOLATIONS:
        problems.append(f"isolation must be one of {', '.join(ISOLATIONS)} (got {s.isolation!r})")
    for label, url in [("base_url", s.base_url)] + [(f"roles[{r!r}].base_url", o.get("base_url"))
                                                     for r, o in s.roles.items() if o.get("base_url")]:
        try:
            parse_base_urls(url)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
    unknown_roles = set(s.roles) - set(ROLES)
    if unknown_roles:
        problems.append(f"settings.roles has unknown roles {sorted(unknown_roles)}; roles are {list(ROLES)}")
    if problems:
        raise ValueError("invalid trirole settings: " + "; ".join(problems))


_FIELD_NAMES = frozenset(f.name for f in fields(TriroleSettings))

_EVERYDAY_NAMES = frozenset({"model", "roles", "env", "tools"})
"""Settings named by everyday words: an app's own ``configurable`` may well hold a key one
letter from them (``models``, ``role``, ``tool``), so only their exact names are read there."""

_SHARED_PREFIXES = ("__", "checkpoint_", "langgraph_", "ls_", "x-")
"""``configurable`` keys LangGraph, its API server and LangSmith own: never settings."""

UnknownKeys = Literal["refuse", "misspelled", "ignore"]
"""What `settings_from_mapping` does with a key that is no setting: refuse it, refuse it
only when it looks like a misspelled setting (`misspelled_setting`), or ignore it."""


def _folded(key: str) -> str:
    """`key` in snake case: ``maxSteps``, ``max-steps`` and ``Max Steps`` all read ``max_steps``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", key).replace("-", "_").replace(" ", "_").lower()


def misspelled_setting(key: str) -> str | None:
    """The setting `key` looks like a misspelling of (``max_step``, ``maxSteps``,
    ``temprature``: `max_steps`, `temperature`), else ``None``. A key LangGraph or its
    server owns, or one letter from a setting named by an everyday word (`_EVERYDAY_NAMES`), is
    nobody's misspelling: an app's ``configurable`` holds such keys for its own nodes."""
    if key in _FIELD_NAMES or key.startswith(_SHARED_PREFIXES):
        return None
    folded = _folded(key)
    if folded in _FIELD_NAMES:
        return folded
    close = difflib.get_close_matches(folded, sorted(_FIELD_NAMES - _EVERYDAY_NAMES), n=1, cutoff=0.85)
    return close[0] if close else None


def unknown_settings_message(keys: Iterable[str], where: str) -> str:
    """One line naming the keys of `where` that are no setting, with the setting each
    looks like where one does."""
    keys = sorted(keys)
    meant = {key: misspelled_setting(key) for key in keys if misspelled_setting(key)}
    if len(keys) == 1:
        hint = f"did you mean {meant[keys[0]]!r}? " if meant else ""
        return f"unknown setting {keys[0]!r} in {where}: {hint}the settings are trirole.TriroleSettings' fields"
    hint = "did you mean " + ", ".join(f"{m!r} for {k!r}" for k, m in meant.items()) + "? " if meant else ""
    return f"unknown settings {keys} in {where}: {hint}the settings are trirole.TriroleSettings' fields"


def settings_from_mapping(values: Mapping[str, Any], base: TriroleSettings | None = None, *,
                          unknown: UnknownKeys = "refuse", where: str = "settings") -> TriroleSettings:
    """`base` with the settings in `values` applied. A key that is no setting is refused
    (ValueError naming it and the setting it looks like, `where` saying where it came
    from), refused only when it looks like a misspelled setting (``unknown="misspelled"``:
    a RunnableConfig's ``configurable`` also carries thread ids and an app's own keys), or
    ignored."""
    others = set(values) - _FIELD_NAMES
    refused = others if unknown == "refuse" else \
        {key for key in others if misspelled_setting(key)} if unknown == "misspelled" else set()
    if refused:
        raise ValueError(unknown_settings_message(refused, where))
    updates = {k: v for k, v in values.items() if k in _FIELD_NAMES}
    return replace(base or TriroleSettings(), **updates) if updates else (base or TriroleSettings())


def resolve_settings(
    defaults: TriroleSettings, config: RunnableConfig | None = None, context: Any = None, *,
    shared_context: bool = False,
) -> TriroleSettings:
    """The settings of one run: builder defaults < ``configurable`` < LangGraph context.

    A compiled trirole graph calls this once when a run starts and hands the result to
    LangGraph as the run's context, where every node reads it (`trirole.resources`).
    A mapping (``context={"max_steps": 20}``, ``configurable``) overrides exactly the keys
    it has, so ``max_steps=20`` wins over a builder's ``max_steps=3`` even though 20 is the
    class default. A `TriroleSettings` given as the context is the run's whole settings
    (pass a mapping to change only some fields).

    Unknown keys: the run's own context holds settings only, so any other key is refused,
    as ``settings=`` refuses it (LangGraph itself refuses a context its schema lacks).
    ``configurable`` is shared with LangGraph (``thread_id``, ``checkpoint_ns``, ...), its
    server and your app's other nodes, so there only a key that looks like a misspelled
    setting (`misspelled_setting`) is refused. `shared_context`: `context` is not the run's
    own but an enclosing graph's (a trirole graph run as a subgraph, a trirole node in a
    graph of yours), read as ``configurable`` is; a context that is not a mapping is then
    ignored.
    """
    settings = defaults
    configurable = (config or {}).get("configurable") or {}
    if configurable:
        settings = settings_from_mapping(configurable, settings, unknown="misspelled",
                                         where='config["configurable"]')
    if isinstance(context, TriroleSettings):
        return context
    if isinstance(context, Mapping):
        settings = settings_from_mapping(context, settings, unknown="misspelled" if shared_context else "refuse",
                                         where="the enclosing graph's context" if shared_context else "context=")
    elif context is not None and not shared_context:
        raise TypeError(f"context= takes a mapping of trirole settings or a TriroleSettings, "
                        f"not {type(context).__name__}")
    return settings


DEFAULT_RECURSION_LIMIT = 25  # LangGraph's, filled in by its ensure_config when a caller sets none


def recursion_limit(settings: TriroleSettings) -> int:
    """LangGraph's recursion limit for a run with `settings`. A step of the loops is at
    most five graph steps (agent, corrector, review, executor, summarizer); twice that
    plus a margin for setup, finish and hand-offs. The step budget, not this limit, is
    what ends a run: the limit only stops a graph that has a bug. Without
    ``max_total_steps``, a run's steps are bounded by its requests, `MAX_REQUESTS` at most."""
    return 10 * (settings.max_total_steps or settings.max_steps * MAX_REQUESTS) + 50


MAX_REQUESTS = 64
"""More user requests than any task brings one after another (BFCL's longest entries have
8); a task of more needs ``max_total_steps`` for its recursion limit."""
