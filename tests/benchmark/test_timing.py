"""benchmark.timing: timers, latency statistics, compare and verdict."""
import pytest

from nanoinfer_lib.benchmark import timing as bench


def test_latency_stats_known_values():
    s = bench.latency_stats([0.001, 0.003, 0.002])
    assert s == pytest.approx({"median_latency_ms": 2.0, "avg_latency_ms": 2.0, "std_latency_ms": 1.0,
                               "min_latency_ms": 1.0, "max_latency_ms": 3.0})


def test_unsynced_timer_runs_num_runs_times():
    calls = []
    assert len(bench.time_fn_unsynced(lambda: calls.append(1), 3)) == 3 and len(calls) == 3
