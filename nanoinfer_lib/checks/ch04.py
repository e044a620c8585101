"""Exercises of chapter 04 (performance). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import time

from ..benchmark.speed import decode_bytes_per_step
from ._common import Verdict, call_learner, require_callable, self_check


@self_check
def check_timer(fn) -> Verdict:
    """Exercise (chapter 04): ``fn(work, num_runs) -> float`` times ``work()`` honestly and returns the
    typical time of one call in seconds. Checked with a function whose first call is slow (a cold
    start of 0.2 s) and whose later calls take about 10 ms, with one 0.1 s hiccup among the seven
    timed ones: a median (or a minimum) of warm calls gives about 10 ms, their mean about 23 ms."""
    require_callable(fn, "fn")
    calls = []

    def work():
        calls.append(None)
        time.sleep(0.2 if len(calls) == 1 else 0.1 if len(calls) == 4 else 0.01)

    ok, got = call_learner(fn, (work, 7), "your timer", "fill in my_timer and return the typical seconds per call")
    if not ok:
        return False
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        print(f"✗ the timer must return a number of seconds, got {type(got).__name__}")
        return False
    if len(calls) < 8:
        print(f"✗ work() ran {len(calls)} times for num_runs=7: run it once untimed first (warm-up), then 7 timed runs")
        return False
    if 0.018 <= got < 0.04:
        print(f"✗ got {got * 1e3:.1f} ms: that is the mean, which the one 0.1 s hiccup pulls up; a typical call "
              "takes about 10 ms (take the median of the runs)")
        return False
    if not 0.009 <= got < 0.015:
        hint = ("that is about the total of the 7 runs: return the time per call" if 0.12 <= got < 0.2 else
                "the cold first call is in it: warm up first" if got >= 0.04 else "is it in seconds, per call?")
        print(f"✗ got {got * 1e3:.1f} ms, but a typical call takes about 10 ms ({hint})")
        return False
    print(f"✓ {got * 1e3:.1f} ms per call: the warm-up kept the 0.2 s cold start out, and your statistic was "
          "not moved by the 0.1 s hiccup (a mean of the same runs would say about 23 ms)")
    return True


@self_check
def check_decode_bytes(fn, model) -> Verdict:
    """Exercise (chapter 04): ``fn(model, batch_size, context_len) -> int``, the bytes one decode step
    reads: every weight once (tied embedding once, position table left out) plus the KV cache."""
    require_callable(fn, "fn")
    for B, S in ((1, 1), (1, 300), (8, 64)):
        want = decode_bytes_per_step(model, B, S)
        ok, got = call_learner(fn, (model, B, S), f"batch_size={B}, context_len={S}:",
                               "return the bytes one decode step reads")
        if not ok:
            return False
        if got != want["total"]:
            print(f"✗ batch_size={B}, context_len={S}: got {got!r} bytes, expected {want['total']:,} "
                  f"(weights {want['weights']:,} + KV cache {want['kv_cache']:,})")
            return False
    print("✓ bytes per decode step match for 3 cases (weights + KV cache)")
    return True
