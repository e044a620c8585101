"""benchmark.stats: intervals honest at small n, checked by simulations whose truth is known."""
import math

import numpy as np
import pytest

from nanoinfer_lib.benchmark import stats
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE, verdict

TRIALS = 3000


@pytest.mark.parametrize("df, level, want", [(1, 0.95, 12.706), (2, 0.95, 4.303), (3, 0.95, 3.182), (5, 0.95, 2.571),
                                             (30, 0.95, 2.042), (10, 0.99, 3.169), (4, 0.90, 2.132)])
def test_t_quantile_matches_the_tables(df, level, want):
    assert stats.t_quantile(df, level) == pytest.approx(want, abs=1e-3)


def _abba(rng, ratio, rounds, sigma=0.05, drift=0.02, carry=0.0):
    """One simulated ``compare``: ABBA rounds of lognormal times (true medians ``ratio`` and 1) on a
    machine whose speed wanders (a random walk, ``drift`` per sample) and where a call run right
    after the other condition is ``carry`` slower (cache left cold)."""
    order = [0, 1, 1, 0] * rounds
    walk = np.cumsum(rng.normal(0, drift, len(order)))
    a, b, prev = [], [], 0
    for i, which in enumerate(order):
        t = math.log(ratio if which == 0 else 1.0) + walk[i] + rng.normal(0, sigma) + (carry if which != prev else 0.0)
        (a if which == 0 else b).append(math.exp(t))
        prev = which
    return a, b


def _covered(interval, truth):
    return interval[0] <= truth <= interval[1]


@pytest.mark.parametrize("rounds", [2, 4, 8])
def test_compare_interval_covers_the_true_ratio_95_percent_of_the_time(rounds):
    """The statistics ``compare`` uses: over simulated runs with known noise, drift and carry-over,
    the 95% interval holds the true ratio (1.3) in about 95% of them, at 2, 4 and 8 rounds."""
    rng = np.random.default_rng(0)
    hits = sum(_covered(stats.abba_statistics(*_abba(rng, 1.3, rounds, carry=0.03))["interval"], 1.3)
               for _ in range(TRIALS))
    assert 0.93 <= hits / TRIALS <= 0.975


def test_a_a_noise_compares_like_with_like():
    """A call right after the other condition runs 3% slower. The A/A interval compares the first
    half of each round (a, b) with its mirror (b, a), one such call in each, so that carry-over
    does not show as noise: it holds 1 about 95% of the time. Comparing a round's first a with its
    last a (which follows b) would see the 3% every time."""
    rng = np.random.default_rng(1)
    runs = [_abba(rng, 1.0, 6, carry=0.03) for _ in range(TRIALS)]
    hits = sum(_covered(stats.abba_statistics(a, b)["noise"], 1.0) for a, b in runs)
    assert 0.93 <= hits / TRIALS <= 0.975
    first_vs_last = np.mean([np.mean(np.log(a[0::2]) - np.log(a[1::2])) for a, _ in runs])
    assert first_vs_last == pytest.approx(-0.03, abs=0.005)          # what the old A/A measured: carry-over


def test_a_a_of_identical_functions_is_never_faster():
    """Identical conditions: "b is faster" and "b is slower" never hold; "equal within 5%" holds or
    is inconclusive, and almost never fails."""
    rng = np.random.default_rng(2)
    faster, slower, equal = [], [], []
    for _ in range(TRIALS):
        st = stats.abba_statistics(*_abba(rng, 1.0, 5))
        faster.append(verdict(st["interval"], 1.0, None, st["noise"], floor=0.05))
        slower.append(verdict(st["interval"], None, 1.0, st["noise"], floor=0.05))
        equal.append(verdict(st["interval"], 1 / 1.05, 1.05))
    assert HOLDS not in faster and HOLDS not in slower
    assert equal.count(FAILS) / TRIALS < 0.01 and equal.count(HOLDS) > 0


def test_paired_and_welch_ratio_intervals_cover_95_percent_at_3_runs():
    rng = np.random.default_rng(3)
    paired = welch = 0
    for _ in range(TRIALS):
        shared = rng.normal(0, 0.1, 3)                                   # each pair ran on the same machine state
        num, den = np.exp(math.log(2.0) + shared + rng.normal(0, 0.05, 3)), np.exp(shared + rng.normal(0, 0.05, 3))
        paired += _covered(stats.paired_ratio_interval(num, den)[1], 2.0)
        welch += _covered(stats.ratio_interval(np.exp(math.log(2.0) + rng.normal(0, 0.08, 3)),
                                               np.exp(rng.normal(0, 0.08, 3))), 2.0)
    assert 0.93 <= paired / TRIALS <= 0.975
    assert 0.93 <= welch / TRIALS <= 0.99                              # Welch's df rounded down: a little wide


@pytest.mark.parametrize("n, low, high", [(3, 0.72, 0.78), (10, 0.96, 0.995)])
def test_median_interval_coverage_is_what_its_label_says(n, low, high):
    """3 runs: no 95% interval of a median exists; the range is returned and labelled as such (it
    covers 75%). 10 runs: order statistics cover at least 95% whatever the distribution."""
    rng = np.random.default_rng(4)
    hits = sum(_covered(stats.median_interval(np.exp(rng.normal(0, 0.2, n))), 1.0) for _ in range(TRIALS))
    assert low <= hits / TRIALS <= high
    assert low - 0.02 <= stats.median_coverage(n) <= high
    assert ("range of 3 runs" in stats.median_label(n)) == (n == 3)


def test_median_interval_on_known_samples():
    assert stats.median_interval([3.0, 1.0, 2.0]) == (1.0, 3.0)              # the range, below 6 runs
    assert stats.median_interval(list(range(1, 11))) == (2.0, 9.0)         # order statistics 2 and 9 of 10
    assert stats.median_interval([2.0]) == (2.0, 2.0) and stats.median_label(1) == "one run: no spread"


@pytest.mark.parametrize("interval, floor, noise, low, high, want", [
    ((0.02, 0.05), 0.03, None, 0.0, None, INCONCLUSIVE),     # widened by adding: -0.01..0.08 crosses 0
    ((0.05, 0.09), 0.03, None, 0.0, None, HOLDS),
    ((-0.5, -0.1), 0.05, None, None, 0.0, HOLDS),            # wholly below 0, even widened to -0.55..-0.05
    ((-0.5, -0.1), 0.2, None, None, 0.0, INCONCLUSIVE),      # widened to -0.7..0.1
    ((-0.2, 0.3), 0.0, (-0.25, 0.1), None, 0.5, INCONCLUSIVE),   # noise reaches 0.25: 0.3 + 0.25 > 0.5
    ((-0.2, 0.2), 0.0, (-0.05, 0.1), None, 0.5, HOLDS),
])
def test_verdict_on_differences_widens_by_adding(interval, floor, noise, low, high, want):
    assert verdict(interval, low, high, noise, floor, kind="difference") == want


def test_verdict_on_ratios_widens_by_factors_and_refuses_a_difference():
    assert verdict((1.06, 1.2), 1.0, floor=0.05) == HOLDS                   # 1.06 * 0.95 > 1
    assert verdict((1.04, 1.2), 1.0, floor=0.05) == INCONCLUSIVE
    with pytest.raises(ValueError, match="kind='difference'"):
        verdict((-0.1, 0.2), 0.0, floor=0.05)
    with pytest.raises(ValueError, match="kind"):
        verdict((1.0, 1.1), kind="percent")


@pytest.mark.parametrize("call, name", [
    (lambda: stats.t_quantile(0), "df"), (lambda: stats.t_quantile(3, 1.0), "level"),
    (lambda: stats.paired_ratio_interval([1.0, 2.0], [1.0]), "pair"),
    (lambda: stats.paired_ratio_interval([1.0, -2.0], [1.0, 1.0]), "num"),
    (lambda: stats.abba_statistics([1.0, 1.0], [1.0, 1.0]), "at least 2 rounds"),
    (lambda: stats.median_interval([1.0, float("nan")]), "times"),
])
def test_bad_arguments_name_themselves(call, name):
    with pytest.raises(ValueError, match=name):
        call()
