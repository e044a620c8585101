"""checks.ch04: check_timer tells a median from a mean; check_decode_bytes; stubs say "not written yet"."""
import statistics
import time

import pytest

from nanoinfer_lib import checks
from nanoinfer_lib.benchmark import speed as bench


def _timer(stat, warmup=True):
    def timer(work, n):
        if warmup:
            work()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            work()
            ts.append(time.perf_counter() - t0)
        return stat(ts)
    return timer


def test_check_timer_accepts_a_median_and_a_minimum(capsys):
    assert checks.check_timer(_timer(statistics.median)).ok is True
    assert "✓" in capsys.readouterr().out
    assert checks.check_timer(_timer(min)).ok is True


@pytest.mark.parametrize("timer, hint", [
    (_timer(statistics.fmean), "mean"),                     # warmed up, but the hiccup pulls the mean up
    (_timer(statistics.median, warmup=False), "warm-up"),   # the cold call is one of the timed ones
    (_timer(sum), "per call"),                               # total, not per call
    (lambda work, n: None, "not written yet"),               # the stub
    (lambda work, n: 1 / 0, "ZeroDivisionError"),
    (lambda work, n: "fast", "number"),
])
def test_check_timer_rejects_wrong_timers(capsys, timer, hint):
    assert checks.check_timer(timer).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_check_timer_needs_a_function():
    with pytest.raises(TypeError, match="fn"):
        checks.check_timer(3)


def test_check_decode_bytes(tiny_model, capsys):
    right = lambda m, b, s: bench.decode_bytes_per_step(m, b, s)["total"]       # noqa: E731
    wrong = lambda m, b, s: bench.decode_bytes_per_step(m, b, s)["weights"]     # noqa: E731  forgets the cache
    assert checks.check_decode_bytes(right, tiny_model).ok is True
    assert checks.check_decode_bytes(wrong, tiny_model).ok is False
    assert checks.check_decode_bytes(lambda m, b, s: None, tiny_model).ok is False
    assert "not written yet" in capsys.readouterr().out
