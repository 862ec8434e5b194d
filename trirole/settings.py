"""Run-time settings of every trirole graph.

`TriroleSettings` is the graphs' LangGraph ``context_schema``: LangGraph Studio shows
its fields as an editable form, ``graph.invoke(..., context={...})`` sets them per run,
and plain ``config={"configurable": {...}}`` works too (see :func:`resolve_settings`).
Every field is JSON-friendly so a run can be configured from the CLI, Studio or a file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal, Mapping

from langchain_core.runnables import RunnableConfig

from trirole.endpoints import parse_base_urls

Role = Literal["summarizer", "agent", "corrector"]
ROLES: tuple[Role, ...] = ("summarizer", "agent", "corrector")

CorrectionPolicy = Literal["always", "after_n", "never"]

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"


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
        vllm_args=("--max-model-len", "12288", "--reasoning-parser", "qwen3", "--enable-prefix-caching"),
        description="Qwen3-8B in FP16 on one 24 GB GPU: 12K context (the paper's FP16 setting).",
    ),
    "qwen3-8b-awq": Preset(
        name="qwen3-8b-awq",
        model="Qwen/Qwen3-8B-AWQ",
        max_context_tokens=32768,
        vllm_args=(
            "--max-model-len", "32768", "--quantization", "awq_marlin",
            "--reasoning-parser", "qwen3", "--enable-prefix-caching",
        ),
        description="Qwen3-8B 4-bit AWQ on one 24 GB GPU: 32K context (the paper's AWQ setting).",
    ),
}


@dataclass(frozen=True)
class TriroleSettings:
    """Everything a run can be configured with. Defaults reproduce the paper's scaffold.

    Model endpoint
        base_url, model, api_key: the shared OpenAI-compatible endpoint (vLLM first);
            base_url may list replicas of the model, comma-separated (`trirole.endpoints`).
        roles: per-role overrides, e.g. ``{"corrector": {"model": "other"}}``.
        temperature, max_completion_tokens: sampling for every role unless overridden.
        enable_thinking: Qwen3 thinking mode (sent as a chat-template kwarg); ``<think>``
            blocks are stripped before code extraction either way.
        request_timeout_s, max_retries: per model call.

    Budgets
        max_steps: agent actions before the run ends with status ``step_budget``.
        max_context_tokens: the model's context window; every prompt plus
            ``max_completion_tokens`` stays within it.
        keep_recent_turns: turns the summarizer keeps verbatim after the summary.
        max_observation_chars: an execution's output is clipped (head and tail) to this.

    Corrector routing
        correction_policy: after a failed execution, send the next code to the corrector
            ``always``, ``after_n`` consecutive failures, or ``never``.
        correction_after_n: the n of ``after_n``.
        repetition_similarity: code at least this similar (0..1, on normalised code) to
            an earlier failed attempt counts as a repetition.
        repeated_error_k: the same error signature k times in a row counts as a repetition.
        corrector_sees_history: ablation: give the corrector the full conversation.

    Ablations
        use_summarizer, use_corrector: switch a role off.

    Environment
        env: ``python`` (sandboxed subprocess) or ``appworld`` (AppWorld's server).
        env_options: passed to the environment factory (e.g. AppWorld's server URL).
        step_timeout_s, memory_limit_mb: limits of one code execution.
    """

    base_url: str = DEFAULT_BASE_URL
    model: str = "smollm2-135m-instruct"
    api_key: str = "EMPTY"
    roles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    temperature: float = 0.0
    max_completion_tokens: int = 512
    enable_thinking: bool = False
    request_timeout_s: float = 120.0
    max_retries: int = 2

    max_steps: int = 20
    max_context_tokens: int = 4096
    keep_recent_turns: int = 2
    max_observation_chars: int = 3000

    correction_policy: CorrectionPolicy = "always"
    correction_after_n: int = 2
    repetition_similarity: float = 0.9
    repeated_error_k: int = 2
    corrector_sees_history: bool = False

    use_summarizer: bool = True
    use_corrector: bool = True

    env: str = "python"
    env_options: Mapping[str, Any] = field(default_factory=dict)
    step_timeout_s: float = 30.0
    memory_limit_mb: int = 1024

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
    if s.max_steps < 1:
        problems.append(f"max_steps must be >= 1 (got {s.max_steps})")
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
    if s.keep_recent_turns < 0:
        problems.append("keep_recent_turns must be >= 0")
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


def settings_from_mapping(values: Mapping[str, Any], base: TriroleSettings | None = None) -> TriroleSettings:
    """`base` with the known keys of `values` applied; unknown keys are ignored
    (a RunnableConfig's ``configurable`` also carries thread ids and the like)."""
    updates = {k: v for k, v in values.items() if k in _FIELD_NAMES}
    return replace(base or TriroleSettings(), **updates) if updates else (base or TriroleSettings())


def resolve_settings(
    defaults: TriroleSettings, config: RunnableConfig | None = None, context: Any = None
) -> TriroleSettings:
    """The settings of one run: builder defaults < ``configurable`` < LangGraph context."""
    settings = defaults
    configurable = (config or {}).get("configurable") or {}
    if configurable:
        settings = settings_from_mapping(configurable, settings)
    if isinstance(context, TriroleSettings):
        # A context built from the class carries every field; only the fields that
        # differ from the class defaults are the caller's intent.
        changed = {f.name: getattr(context, f.name) for f in fields(TriroleSettings)
                   if getattr(context, f.name) != getattr(_CLASS_DEFAULTS, f.name)}
        settings = replace(settings, **changed) if changed else settings
    elif isinstance(context, Mapping):
        settings = settings_from_mapping(context, settings)
    return settings


_CLASS_DEFAULTS = TriroleSettings()
