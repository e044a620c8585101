"""benchmark.timing: timers, latency statistics, compare (ABBA rounds, intervals, A/A noise) and verdict."""
import time

import pytest
import torch

from nanoinfer_lib.benchmark import timing as bench
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE, verdict


def test_latency_stats_known_values():
    s = bench.latency_stats([0.001, 0.003, 0.002])
    assert s == pytest.approx({"median_latency_ms": 2.0, "avg_latency_ms": 2.0, "std_latency_ms": 1.0,
                               "min_latency_ms": 1.0, "max_latency_ms": 3.0})


def test_unsynced_timer_runs_num_runs_times():
    calls = []
    assert len(bench.time_fn_unsynced(lambda: calls.append(1), 3)) == 3 and len(calls) == 3


def test_time_fn_warms_up_untimed():
    calls = []
    times = bench.time_fn(lambda: calls.append(1), num_runs=4, warmup=2)
    assert len(times) == 4 and len(calls) == 6 and all(t >= 0 for t in times)


def test_compare_finds_a_known_ratio():
    """a sleeps twice as long as b: the ratio's interval holds 2 (less the fixed cost of a call)."""
    c = bench.compare(lambda: time.sleep(0.004), lambda: time.sleep(0.002), names=("slow", "fast"),
                      rounds=5, min_sample_s=0.02)
    assert c.interval[0] <= c.ratio <= c.interval[1]
    assert c.interval[0] <= 2.0 * 1.03 and c.interval[1] >= 2.0 * 0.9       # truth: 2, minus sleep's overhead
    assert 1.7 < c.ratio < 2.1
    assert len(c.a) == len(c.b) == 10 and c.calls_per_sample[0] >= 4 and c.calls_per_sample[1] >= 9
    assert c.meta == {"rounds": 5, "threads": [torch.get_num_threads()] * 2} and c.rounds == 5
    assert "slow/fast" in str(c) and "ABBA" in str(c)
    assert c.scaled_interval(3) == pytest.approx((3 * c.interval[0], 3 * c.interval[1]))
    lo, hi = c.spread("b")
    assert lo <= c.median_b <= hi
    assert c.verdict(1.5) == HOLDS and c.verdict(2.5) == FAILS


def test_a_a_on_the_same_function_is_near_one_and_never_faster():
    f = lambda: time.sleep(0.002)                                          # noqa: E731
    c = bench.compare(f, f, rounds=6, min_sample_s=0.01)
    assert 0.9 < c.ratio < 1.1
    assert c.interval[0] < 1.05 and c.interval[1] > 0.95
    assert c.noise[0] < 1.05 and c.noise[1] > 0.95
    assert c.verdict(1.0, floor=0.05) != HOLDS and c.verdict(None, 1.0, floor=0.05) != HOLDS


def test_compare_sets_each_conditions_threads_and_restores_them():
    seen = {"a": set(), "b": set()}
    before = torch.get_num_threads()
    bench.compare(lambda: seen["a"].add(torch.get_num_threads()), lambda: seen["b"].add(torch.get_num_threads()),
                  rounds=2, min_sample_s=0.0, threads=(1, 2))
    assert seen == {"a": {1}, "b": {2}} and torch.get_num_threads() == before


@pytest.mark.parametrize("interval, low, high, noise, floor, want", [
    ((1.2, 1.4), 1.0, None, None, 0.0, HOLDS),                  # wholly above the threshold
    ((0.7, 0.9), 1.0, None, None, 0.0, FAILS),                  # wholly below
    ((0.9, 1.2), 1.0, None, None, 0.0, INCONCLUSIVE),           # straddles it
    ((2.5, 3.5), 2.0, 4.0, None, 0.0, HOLDS),                   # inside a band
    ((4.2, 5.0), 2.0, 4.0, None, 0.0, FAILS),                   # above a band
    ((3.5, 4.5), 2.0, 4.0, None, 0.0, INCONCLUSIVE),            # across its top
    ((0.3, 0.4), None, 0.5, None, 0.0, HOLDS),                  # "at most"
    ((1.05, 1.2), 1.0, None, (0.9, 1.1), 0.0, INCONCLUSIVE),    # clears 1 only by less than the noise
    ((1.25, 1.4), 1.0, None, (0.9, 1.1), 0.0, HOLDS),           # clears it by more
    ((0.85, 0.95), 1.0, None, (0.9, 1.1), 0.0, INCONCLUSIVE),   # below 1 only within the noise
    ((1.02, 1.04), 1.0, None, None, 0.05, INCONCLUSIVE),        # the floor: 2% is not a speed-up
    ((1.1, 1.2), 1.0, None, None, 0.05, HOLDS),
    ((1.0, 1.0), 1.0, None, None, 0.0, HOLDS),                  # an exact figure on the threshold
])
def test_verdict_outcomes(interval, low, high, noise, floor, want):
    assert verdict(interval, low, high, noise, floor) == want


@pytest.mark.parametrize("call, error, name", [
    (lambda: bench.compare(42, lambda: None), TypeError, "a"),
    (lambda: bench.compare(lambda: None, "b"), TypeError, "b"),
    (lambda: bench.compare(lambda: None, lambda: None, rounds=1), ValueError, "rounds"),
    (lambda: bench.compare(lambda: None, lambda: None, warmup=-1), ValueError, "warmup"),
    (lambda: bench.compare(lambda: None, lambda: None, min_sample_s=-1.0), ValueError, "min_sample_s"),
    (lambda: bench.compare(lambda: None, lambda: None, names=("x",)), TypeError, "names"),
    (lambda: bench.compare(lambda: None, lambda: None, threads=3), TypeError, "threads"),
    (lambda: bench.compare(lambda: None, lambda: None, threads=(1, 0)), ValueError, "threads"),
    (lambda: verdict((1.2, 1.1)), ValueError, "interval"),
    (lambda: verdict((1.0, float("nan"))), ValueError, "interval"),
    (lambda: verdict((1.0, 1.1), low=3, high=2), ValueError, "low"),
    (lambda: verdict((1.0, 1.1), noise=(0.0, 1.1)), ValueError, "noise"),
    (lambda: verdict((1.0, 1.1), floor=1.0), ValueError, "floor"),
    (lambda: verdict((1.0, 1.1), kind="log"), ValueError, "kind"),
    (lambda: bench.median_interval([]), ValueError, "times"),
    (lambda: bench.ratio_interval([1.0], []), ValueError, "num and den"),
    (lambda: bench.time_fn(lambda: None, num_runs=0), ValueError, "num_runs"),
])
def test_bad_arguments_name_themselves(call, error, name):
    with pytest.raises(error, match=name):
        call()


def test_interval_helpers_on_known_samples():
    assert bench.median_interval([1.0, 2.0, 3.0, 4.0, 5.0]) == (1.0, 5.0)     # 5 runs: their range
    assert bench.median_interval([2.0]) == (2.0, 2.0)
    lo, hi = bench.ratio_interval([4.0, 4.1, 3.9], [2.0, 2.05, 1.95])
    assert lo <= 2.0 <= hi and hi - lo < 0.3
    assert bench.bootstrap_interval(lambda idx: 7.0, 5) == (7.0, 7.0)
