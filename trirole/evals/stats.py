"""Confidence intervals and paired tests for evaluation results. Pure functions.

Every rate trirole reports comes with a 95% interval, computed by statsmodels:

- A plain rate (SGC: one outcome per scenario; TGC when every task is its own scenario)
  gets the Wilson score interval (`proportion_confint(method="wilson")`; Clopper-Pearson
  with ``method="beta"``). Both stay inside [0, 1] and behave at 0/n and n/n.
- TGC over tasks grouped in scenarios: the tasks of one scenario share apps, data and
  a solution pattern, so their outcomes are correlated and a plain interval is too
  narrow. Following Miller (2024), "Adding Error Bars to Evals" (arXiv:2411.00640, sec. 2.2),
  the standard error is cluster-robust: OLS of the per-task success on a constant with
  ``cov_type="cluster"`` by scenario, i.e. Var = G/(G-1) * sum_s (sum_{i in s} (x_i - mean))^2 / n^2
  (Miller's formula times statsmodels' small-sample factor G/(G-1), "CR1"), and, with
  ``use_t``, a t quantile with G-1 degrees of freedom (G = scenarios) instead of 1.96,
  because a dev split has few scenarios. The interval is clipped to [0, 1].
  When the clustered standard error is 0 (every task had the same outcome) or there
  are fewer than 2 scenarios, that formula has nothing to say, so the Wilson interval
  over the tasks is given instead; `Interval.method` says which was used.
- Paired comparison of two paradigms on the same tasks: the per-task difference
  (success of B minus success of A; with repeats, of their mean successes), its mean
  with the same clustered interval, and McNemar's exact test on the discordant tasks
  (`mcnemar(exact=True)`: a two-sided binomial test of "B-only" against "A-only" wins,
  i.e. a sign test). McNemar treats tasks as independent; the clustered interval does
  not, so a difference is called distinguishable only when both agree.
- With repeats, each task's outcome is its mean success over the repeats, and the
  intervals above are computed over those per-task means (clustered as before), so
  repeats of one task are never counted as independent tasks.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import asdict, dataclass
from typing import Any, Hashable, Sequence

from trirole.errors import TriroleError

ALPHA = 0.05  # 95% intervals


class StatisticsUnavailable(TriroleError):
    """statsmodels, which computes every interval and test here, is not installed."""


def require_statistics() -> None:
    """Raise `StatisticsUnavailable` unless statsmodels can be imported. statsmodels (with
    scipy, numpy and pandas: about 380 MB, more than twice trirole's core) is the ``[eval]``
    extra, so ``trirole eval`` checks before it runs anything rather than fail at the report."""
    if importlib.util.find_spec("statsmodels") is None:
        raise StatisticsUnavailable(
            "the evaluation report's confidence intervals and paired tests need statsmodels, which trirole's "
            "[eval] extra installs (with scipy and matplotlib); nothing was run: pip install 'trirole[eval]'")

WILSON = "wilson"
CLOPPER_PEARSON = "beta"  # statsmodels' name for Clopper-Pearson
_TINY = 1e-12  # a standard error this small is rounding noise of an exact 0


@dataclass(frozen=True)
class Interval:
    """A point estimate and its 95% interval; `method` names how it was computed."""

    estimate: float
    low: float
    high: float
    method: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def excludes(self, value: float) -> bool:
        return value < self.low or value > self.high


def proportion_interval(successes: float, n: int, *, method: str = WILSON, alpha: float = ALPHA) -> Interval | None:
    """Wilson (default) or Clopper-Pearson (``method="beta"``) interval of successes/n;
    None when n is 0."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        return None
    low, high = proportion_confint(successes, n, alpha=alpha, method=method)
    name = "Wilson" if method == WILSON else "Clopper-Pearson" if method == CLOPPER_PEARSON else method
    return Interval(successes / n, max(0.0, float(low)), min(1.0, float(high)), name)


def _clustered(values: Sequence[float], clusters: Sequence[Hashable],
               alpha: float) -> tuple[float, float, float, float, int]:
    """(mean, clustered standard error, low, high, clusters): OLS of `values` on a
    constant, cluster-robust by `clusters` (CR1), t interval with clusters-1 df."""
    import numpy as np
    from statsmodels.regression.linear_model import OLS  # not statsmodels.api: seconds less to import

    y = np.asarray(values, dtype=float)
    groups = np.unique(np.asarray([str(c) for c in clusters]), return_inverse=True)[1]
    n_clusters = int(groups.max()) + 1
    if n_clusters < 2:
        return float(y.mean()), math.nan, math.nan, math.nan, n_clusters
    fit = OLS(y, np.ones_like(y)).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    low, high = fit.conf_int(alpha)[0]
    return float(fit.params[0]), float(fit.bse[0]), float(low), float(high), n_clusters


def _is_binary(values: Sequence[float]) -> bool:
    return all(v in (0, 1) for v in values)


def clustered_mean_interval(values: Sequence[float], clusters: Sequence[Hashable], *,
                            alpha: float = ALPHA) -> Interval | None:
    """Interval of the mean of `values` (successes 0/1, or per-task mean successes in
    [0, 1]) whose units are grouped in `clusters` (scenario per task). None when empty.

    Every unit its own cluster and binary values: the Wilson interval (units
    independent). Otherwise the cluster-robust t interval (see the module docstring),
    falling back to Wilson when its standard error is 0 or there is one cluster."""
    if len(values) != len(clusters):
        raise ValueError(f"values and clusters differ in length ({len(values)} != {len(clusters)})")
    n = len(values)
    if n == 0:
        return None
    total = math.fsum(values)
    if len(set(map(str, clusters))) == n and _is_binary(values):
        return proportion_interval(total, n)
    mean, se, low, high, n_clusters = _clustered(values, clusters, alpha)
    if n_clusters < 2 or len(set(values)) == 1 or not se > _TINY:
        fallback = proportion_interval(total, n)
        return Interval(fallback.estimate, fallback.low, fallback.high,
                        "Wilson (clustered standard error undefined: all outcomes equal or one scenario)")
    return Interval(total / n, max(0.0, low), min(1.0, high),
                    f"cluster-robust by scenario (CR1, t with {n_clusters - 1} df)")


@dataclass(frozen=True)
class PairedComparison:
    """Paradigm B against paradigm A on the same tasks.

    tasks: tasks both have a result for; a_better / b_better: discordant tasks (with
    repeats: tasks whose mean success is higher for A / for B); difference: mean of
    B - A per task, with its interval; p_value: McNemar's exact test on the discordant
    tasks; distinguishable: p < alpha AND the interval excludes 0.
    """

    a: str
    b: str
    tasks: int
    a_better: int
    b_better: int
    difference: Interval
    p_value: float
    distinguishable: bool

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["difference"] = self.difference.as_dict()
        out["verdict"] = describe_comparison(self)
        return out


def mcnemar_exact_p(a_better: int, b_better: int) -> float:
    """Two-sided exact McNemar p-value from the discordant counts (1.0 when there are none)."""
    from statsmodels.stats.contingency_tables import mcnemar

    if a_better + b_better == 0:
        return 1.0
    return float(mcnemar([[0, a_better], [b_better, 0]], exact=True).pvalue)


def _degenerate_difference(value: float, n: int) -> Interval:
    """All per-task differences equal `value`: the clustered standard error is 0, which
    would claim certainty. Bound the share of tasks that could differ with Wilson
    instead (|mean difference| <= share of discordant tasks)."""
    share = proportion_interval(abs(value) * n, n)
    method = "Wilson bound on the discordant share (every task had the same difference)"
    if value == 0:
        return Interval(0.0, -share.high, share.high, method)
    if value > 0:
        return Interval(value, share.low, share.high, method)
    return Interval(value, -share.high, -share.low, method)


def paired_comparison(a: str, b: str, a_values: Sequence[float], b_values: Sequence[float],
                      clusters: Sequence[Hashable], *, alpha: float = ALPHA) -> PairedComparison:
    """B against A on the same tasks: `a_values[i]` and `b_values[i]` are the two
    paradigms' success (0/1, or mean over repeats) on task i, in scenario `clusters[i]`."""
    if not len(a_values) == len(b_values) == len(clusters):
        raise ValueError("a_values, b_values and clusters must have one entry per task")
    if not a_values:
        raise ValueError(f"{a} and {b} have no task in common")
    diffs = [float(vb) - float(va) for va, vb in zip(a_values, b_values)]
    a_better, b_better = sum(d < 0 for d in diffs), sum(d > 0 for d in diffs)
    n = len(diffs)
    if len(set(diffs)) == 1:
        difference = _degenerate_difference(diffs[0], n)
    else:
        mean, se, low, high, n_clusters = _clustered(diffs, clusters, alpha)
        if n_clusters < 2 or not se > _TINY:  # the tasks as independent units instead (paired t)
            mean, se, low, high, n_clusters = _clustered(diffs, list(range(n)), alpha)
        label = ("paired t over tasks" if n_clusters == n
                 else f"cluster-robust by scenario (CR1, t with {n_clusters - 1} df)")
        difference = Interval(math.fsum(diffs) / n, max(-1.0, low), min(1.0, high), label)
    p_value = mcnemar_exact_p(a_better, b_better)
    return PairedComparison(a=a, b=b, tasks=n, a_better=a_better, b_better=b_better, difference=difference,
                            p_value=p_value, distinguishable=p_value < alpha and difference.excludes(0.0))


def _points(value: float) -> str:
    return f"{100 * value:+.1f}"


def describe_comparison(c: PairedComparison, alpha: float = ALPHA) -> str:
    """One sentence that says what the sample shows, and no more."""
    d = c.difference
    head = (f"{c.b} - {c.a}: {_points(d.estimate)} points (95% CI {_points(d.low)} to {_points(d.high)}) "
            f"over {c.tasks} tasks; {c.b_better} better with {c.b}, {c.a_better} better with {c.a}; "
            f"McNemar exact p = {c.p_value:.3g}.")
    discordant = c.a_better + c.b_better
    if c.distinguishable:
        better = c.b if d.estimate > 0 else c.a
        return f"{head} Distinguishable at this sample size: {better} did better on these tasks."
    if discordant and 2 * 0.5 ** discordant >= alpha:
        reason = (f"with only {discordant} discordant task{'s' if discordant > 1 else ''} no split could reach "
                  f"p < {alpha:g}")
    elif not discordant:
        reason = "no task differed"
    elif c.p_value < alpha:
        reason = "the exact test alone would say so, but the interval clustered by scenario includes 0"
    else:
        reason = "the difference is within what chance gives on this many tasks"
    return f"{head} Not distinguishable from no difference at this sample size ({reason})."


def spread(values: Sequence[float]) -> dict[str, float | int | None]:
    """Mean, sample standard deviation (None for one value), min and max of `values`
    (e.g. one TGC per repeat)."""
    import statistics

    if not values:
        return {"n": 0, "mean": None, "sd": None, "min": None, "max": None}
    return {"n": len(values), "mean": statistics.fmean(values),
            "sd": statistics.stdev(values) if len(values) > 1 else None,
            "min": min(values), "max": max(values)}
