"""The statistics of evaluation reports (trirole.evals.stats), against hand computations.

Every expected value is written out as its formula (binomial sums, the Wilson formula,
the clustered variance), using only the standard library, never the implementation's
(statsmodels') output. Pure functions: no model, no environment.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from trirole.evals.stats import (
    clustered_mean_interval,
    describe_comparison,
    mcnemar_exact_p,
    paired_comparison,
    proportion_interval,
    spread,
)

Z = NormalDist().inv_cdf(0.975)  # 1.95996...
# t quantile with 2 degrees of freedom, closed form: its CDF is 1/2 + t / (2 sqrt(2 + t^2)),
# so F(t) = 0.975 gives t / sqrt(2 + t^2) = 0.95, t^2 = 2 * 0.95^2 / (1 - 0.95^2).
T2 = math.sqrt(2 * 0.95 ** 2 / (1 - 0.95 ** 2))  # 4.3027, the t table's value


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    center = (p + Z ** 2 / (2 * n)) / (1 + Z ** 2 / n)
    half = Z / (1 + Z ** 2 / n) * math.sqrt(p * (1 - p) / n + Z ** 2 / (4 * n ** 2))
    return center - half, center + half


def test_the_wilson_interval_of_3_out_of_10():
    interval = proportion_interval(3, 10)
    low, high = wilson(3, 10)
    assert interval.estimate == 0.3
    assert (interval.low, interval.high) == (pytest.approx(low, abs=1e-9), pytest.approx(high, abs=1e-9))
    assert interval.low == pytest.approx(0.1078, abs=1e-4) and interval.high == pytest.approx(0.6032, abs=1e-4)
    assert interval.method == "Wilson"


def test_clopper_pearson_at_the_edges_has_a_closed_form():
    # 0 of n: P(X = 0) = (1 - p)^n = alpha/2 at the upper bound; n of n: p^n = alpha/2 at the lower.
    none = proportion_interval(0, 10, method="beta")
    assert none.low == 0.0 and none.high == pytest.approx(1 - 0.025 ** (1 / 10), abs=1e-9)
    all_ = proportion_interval(10, 10, method="beta")
    assert all_.high == 1.0 and all_.low == pytest.approx(0.025 ** (1 / 10), abs=1e-9)
    assert none.method == "Clopper-Pearson"
    assert proportion_interval(0, 0) is None


def test_the_tgc_interval_clustered_by_scenario_by_hand():
    # 3 scenarios of 10 tasks, solved 6, 5, 4: mean 0.5.
    values = [1] * 6 + [0] * 4 + [1] * 5 + [0] * 5 + [1] * 4 + [0] * 6
    clusters = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    # Residual sums per scenario: 6 - 5 = 1, 0, -1. Clustered variance (Miller 2024, with the
    # CR1 factor G/(G-1)): 3/2 * (1^2 + 0^2 + 1^2) / 30^2 = 1/300. t with G-1 = 2 df.
    se = math.sqrt(3 / 2 * 2 / 30 ** 2)
    interval = clustered_mean_interval(values, clusters)
    assert interval.estimate == pytest.approx(0.5)
    assert interval.low == pytest.approx(0.5 - T2 * se, abs=1e-9)
    assert interval.high == pytest.approx(0.5 + T2 * se, abs=1e-9)
    assert "cluster-robust" in interval.method and "2 df" in interval.method


def test_correlated_tasks_widen_the_interval():
    # Same 15/30 successes; scenarios all-or-nothing vs mixed within every scenario.
    clusters = [s for s in "abcdef" for _ in range(5)]
    correlated = [1] * 15 + [0] * 15  # a, b, c solved entirely; d, e, f not at all
    mixed = [1, 1, 1, 0, 0, 1, 1, 0, 0, 0] * 3
    wide, narrow = clustered_mean_interval(correlated, clusters), clustered_mean_interval(mixed, clusters)
    assert wide.estimate == narrow.estimate == 0.5
    assert wide.high - wide.low > 2 * (narrow.high - narrow.low)


def test_independent_tasks_and_uniform_outcomes_get_the_wilson_interval():
    # Every task its own scenario (python tasks): plain Wilson.
    interval = clustered_mean_interval([1, 0, 0, 1, 0], ["t1", "t2", "t3", "t4", "t5"])
    assert (interval.low, interval.high) == pytest.approx(wilson(2, 5))
    # All solved: the clustered standard error is 0, which would claim certainty.
    # Wilson's lower bound for n of n is n / (n + z^2).
    solved = clustered_mean_interval([1] * 6, ["a", "a", "a", "b", "b", "b"])
    assert solved.high == 1.0 and solved.low == pytest.approx(6 / (6 + Z ** 2)) and "Wilson" in solved.method
    assert clustered_mean_interval([], []) is None


def test_mcnemar_exact_p_is_a_binomial_sum_over_the_discordant_tasks():
    # 1 vs 6 discordant: p = 2 * P(X <= 1), X ~ Bin(7, 1/2) = 2 * (C(7,0) + C(7,1)) / 2^7.
    assert mcnemar_exact_p(1, 6) == pytest.approx(2 * (math.comb(7, 0) + math.comb(7, 1)) / 2 ** 7)
    assert mcnemar_exact_p(6, 1) == mcnemar_exact_p(1, 6) == pytest.approx(0.125)
    assert mcnemar_exact_p(0, 6) == pytest.approx(2 / 2 ** 6)
    # 3 vs 3: 2 * P(X <= 3) for Bin(6, 1/2) exceeds 1, so p = 1.
    assert mcnemar_exact_p(3, 3) == 1.0 and mcnemar_exact_p(0, 0) == 1.0


def test_a_paired_difference_by_hand_and_what_the_report_says():
    # 3 scenarios of 10 tasks; B solves 3, 2, 1 tasks per scenario that A does not, and
    # they agree on every other task. Per-task difference B - A: mean 6/30 = 0.2.
    a = [0] * 30
    b = [1] * 3 + [0] * 7 + [1] * 2 + [0] * 8 + [1] * 1 + [0] * 9
    clusters = ["a"] * 10 + ["b"] * 10 + ["c"] * 10
    result = paired_comparison("react", "scaffold", a, b, clusters)
    # Residual sums 3 - 2 = 1, 0, -1: the same clustered variance as above, 1/300.
    se = math.sqrt(3 / 2 * 2 / 30 ** 2)
    assert (result.tasks, result.a_better, result.b_better) == (30, 0, 6)
    assert result.difference.estimate == pytest.approx(0.2)
    assert result.difference.low == pytest.approx(0.2 - T2 * se)
    assert result.difference.high == pytest.approx(0.2 + T2 * se)
    assert result.p_value == pytest.approx(2 / 2 ** 6)  # below 0.05 ...
    assert result.difference.low < 0 and not result.distinguishable  # ... but the clustered interval includes 0
    text = describe_comparison(result)
    assert "Not distinguishable" in text and "includes 0" in text and "+20.0 points" in text


def test_a_clear_difference_is_called_distinguishable_and_a_small_one_is_not():
    # 20 independent tasks (own scenarios), B solves 12 more than A: p = 2 / 2^12.
    clusters = [f"t{i}" for i in range(20)]
    result = paired_comparison("base", "react", [0] * 20, [1] * 12 + [0] * 8, clusters)
    assert result.p_value == pytest.approx(2 / 2 ** 12) and result.distinguishable
    assert "Distinguishable at this sample size: react did better" in describe_comparison(result)
    # 4 discordant tasks all one way: 2 * (1/2)^4 = 0.125, no split of 4 could reach 0.05.
    small = paired_comparison("base", "react", [0] * 20, [1] * 4 + [0] * 16, clusters)
    assert small.p_value == pytest.approx(0.125) and not small.distinguishable
    assert "no split could reach p < 0.05" in describe_comparison(small)


def test_no_discordant_task_gives_a_bounded_interval_not_certainty():
    # Every task agreed: the difference is 0 but not known to be exactly 0. Its bound is
    # Wilson's upper bound of 0 discordant out of n: z^2 / (n + z^2).
    result = paired_comparison("a", "b", [1, 0, 1, 0, 1], [1, 0, 1, 0, 1], ["s1", "s1", "s2", "s2", "s3"])
    bound = Z ** 2 / (5 + Z ** 2)
    assert result.difference.estimate == 0 and result.difference.high == pytest.approx(bound)
    assert result.difference.low == pytest.approx(-bound) and result.p_value == 1.0
    assert "no task differed" in describe_comparison(result)


def test_the_spread_across_repeats():
    s = spread([0.5, 0.25, 0.75])
    # mean 0.5; sample variance ((0)^2 + 0.25^2 + 0.25^2) / (3 - 1) = 0.0625.
    assert s == {"n": 3, "mean": 0.5, "sd": pytest.approx(0.25), "min": 0.25, "max": 0.75}
    assert spread([0.4])["sd"] is None and spread([])["mean"] is None
