"""benchmark.kv_sweep: chapter 02's cached vs uncached sweep, step latencies and its command line."""
import json
import math

import pytest
import torch

from nanoinfer_lib.benchmark import kv_sweep as bm

from _helpers import tiny_config


def test_kv_sweep_records(tiny_model):
    recs = bm.kv_sweep(tiny_model, [2, 5], prompt_len=3, batch_size=2, num_runs=2, model_name="tiny")
    assert [(r["mode"], r["new_tokens"]) for r in recs] == [("cached", 2), ("uncached", 2), ("cached", 5), ("uncached", 5)]
    for r in recs:
        assert r["model"] == "tiny" and r["device"] == "cpu" and r["dtype"] == "float32"
        assert r["runs"] == 2 and r["seconds"] >= r["seconds_min"] > 0
        assert math.isclose(r["tokens_per_s"], 2 * r["new_tokens"] / r["seconds"])
        assert r["peak_memory_bytes"] is None                        # CPU: not measured
        want = bm.kv_cache_bytes(tiny_model.config, 2, 3 + r["new_tokens"]) if r["mode"] == "cached" else 0
        assert r["kv_cache_bytes"] == want
    assert set(bm.speedups(recs)) == {2, 5}


def test_kv_sweep_rejects_bad_arguments(tiny_model):
    with pytest.raises(ValueError, match="block_size"):
        bm.kv_sweep(tiny_model, [20], prompt_len=3)                  # 3 + 20 > block_size 16
    with pytest.raises(ValueError, match="new_tokens"):
        bm.kv_sweep(tiny_model, [])
    with pytest.raises(ValueError, match="modes"):
        bm.kv_sweep(tiny_model, [2], prompt_len=2, modes=("fast",))


def test_step_latency_records_and_leaves_the_model_alone(tiny_model):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    recs = bm.step_latency(tiny_model, [1, 8, 15], num_runs=2, model_name="tiny")
    assert [(r["mode"], r["position"]) for r in recs] == [(m, p) for p in (1, 8, 15) for m in ("uncached", "cached")]
    assert all(len(r["times"]) == r["runs"] == 2 for r in recs)
    assert all(r["seconds"] > 0 for r in recs)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    with pytest.raises(ValueError, match="positions"):
        bm.step_latency(tiny_model, [16])                            # no room for one more token


def test_step_latency_times_each_step_after_steps_of_its_own_kind(tiny_model):
    seen = []
    hook = tiny_model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        bm.step_latency(tiny_model, [8], num_runs=3, warm_s=0.0)
    finally:
        hook.remove()
    # the cache's prefill (8); uncached: 2 warm-up calls and 3 timed; cached: 2 warm-up calls and 3 timed
    assert seen == [8] * 5 + [8] + [1] * 5
    with pytest.raises(ValueError, match="warm_s"):
        bm.step_latency(tiny_model, [8], warm_s=-1.0)


def test_speedups_and_growth_exponent_on_known_curves():
    ns = [64, 128, 256, 512]
    recs = [{"mode": "uncached", "new_tokens": n, "seconds": 1e-6 * n * n} for n in ns]
    recs += [{"mode": "cached", "new_tokens": n, "seconds": 1e-4 * n} for n in ns]
    assert bm.growth_exponent(recs, "uncached") == pytest.approx(2.0)
    assert bm.growth_exponent(recs, "cached") == pytest.approx(1.0)
    assert bm.speedups(recs) == pytest.approx({n: 1e-2 * n for n in ns})
    with pytest.raises(ValueError, match="at least two"):
        bm.growth_exponent(recs, "cached", min_tokens=1000)


def test_cache_append_times():
    t = bm.cache_append_times(tiny_config(), 8, batch_size=2, num_runs=1)
    assert set(t) == {"concat", "prealloc"} and all(v > 0 for v in t.values())


def test_cache_append_fns_fill_the_same_cache_both_ways():
    fns = bm.cache_append_fns(tiny_config(), 5, batch_size=2)
    assert set(fns) == {"concat", "prealloc"}
    for fn in fns.values():
        assert fn() is None
        assert fn() is None                                         # callable again: a timer repeats it
    for kwargs, name in (({"n_tokens": 0}, "n_tokens"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=name):
            bm.cache_append_fns(tiny_config(), **{"n_tokens": 5, **kwargs})


def test_load_kv_sweep_missing_and_bad(tmp_path):
    assert bm.load_kv_sweep(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="bad.json is not a NanoInfer results file"):
        bm.load_kv_sweep(bad)
    other = tmp_path / "perf.json"
    other.write_text(json.dumps({"schema": "nanoinfer-results/2", "benchmark": "perf", "data": {}}))
    with pytest.raises(ValueError, match="not kv-sweep"):
        bm.load_kv_sweep(other)


def test_committed_reference_file_is_labelled():
    ref = bm.load_kv_sweep()
    if ref is None:
        pytest.skip("no reference GPU file committed")
    for key in ("device_name", "dtype", "torch", "date"):
        assert ref["meta"][key]
    assert "/" not in ref["meta"]["command"].split("--out")[-1].split()[0]   # no machine paths in the file
    for run in ref["runs"]:
        modes = {r["mode"] for r in run["records"]}
        assert modes == {"cached", "uncached"} and run["latency"]


def test_kv_sweep_command_writes_a_results_file(tmp_path):
    out = tmp_path / "sweep.json"
    assert bm.main(["--quick", "--device", "cpu", "--out", str(out)]) == 0
    data = bm.load_kv_sweep(out)
    meta = data["meta"]
    assert meta["device"] == "cpu" and meta["torch"] == torch.__version__
    assert meta["date"].startswith("20") and meta["date"].endswith("+00:00") and str(tmp_path) not in meta["command"]
    assert meta["cpu"] and isinstance(meta["cpu_features"], list) and meta["cpu_count"] >= 1
    (run,) = data["runs"]
    assert run["model"] == "bundled" and run["config"]["n_layer"] == 4
    assert {(r["mode"], r["new_tokens"]) for r in run["records"]} == {(m, n) for m in ("cached", "uncached") for n in (4, 8)}


def test_kv_sweep_command_rejects_bad_options(tmp_path):
    with pytest.raises(SystemExit):
        bm.main(["--out", str(tmp_path / "x.json"), "--dtype", "float64"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bm.main(["--out", str(tmp_path / "x.json"), "--device", "cuda"])




def _update(past, k, v):
    return (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))


def test_decode_step_fn_repeats_one_step(tiny_model):
    calls = []
    hook = tiny_model.register_forward_pre_hook(lambda module, args: calls.append(args[0].shape))
    try:
        step = bm.decode_step_fn(tiny_model, batch_size=2, position=5)
        step()
        step()
    finally:
        hook.remove()
    assert [tuple(s) for s in calls] == [(2, 5), (2, 1), (2, 1)]         # the prefill, then the same step twice
    for kwargs, name in (({"position": 16}, "position"), ({"position": 0}, "position"), ({"batch_size": 0}, "batch_size")):
        with pytest.raises(ValueError, match=name):
            bm.decode_step_fn(tiny_model, **kwargs)


def test_predicted_speedups_sum_the_step_latencies():
    lat = [{"mode": "uncached", "position": p, "seconds": 1e-3 * (2 + 0.1 * p)} for p in (10, 100)]
    lat += [{"mode": "cached", "position": p, "seconds": 2e-3} for p in (10, 100)]
    un = sum(2 + 0.1 * L for L in range(10, 20))
    ca = (2 + 0.1 * 10) + 2 * 9
    assert bm.predicted_speedups(lat, prompt_len=10, new_tokens=[10]) == pytest.approx({10: un / ca})
    assert bm.predicted_times(lat, 10, [10])[10] == pytest.approx({"uncached": 1e-3 * un, "cached": 1e-3 * ca})
    with pytest.raises(ValueError, match="both modes"):
        bm.predicted_speedups(lat[:2], 10, [5])
    with pytest.raises(ValueError, match="prompt_len"):
        bm.predicted_speedups(lat, 0, [5])


def test_generation_peak_memory(tiny_model):
    mem = bm.generation_peak_memory(tiny_model, new_tokens=6, prompt_len=4, batch_size=2)
    w = bm.model_memory(tiny_model)
    assert mem["cached"]["kv_cache_bytes"] == bm.kv_cache_bytes(tiny_model.config, 2, 10) and mem["uncached"]["kv_cache_bytes"] == 0
    for m in mem.values():
        assert m["weights_bytes"] == w and m["peak_bytes"] > w and "operator" in m["method"]
    assert mem["cached"]["peak_bytes"] >= w + mem["cached"]["kv_cache_bytes"]   # the cache is alive at the peak
    with pytest.raises(ValueError, match="new_tokens"):
        bm.generation_peak_memory(tiny_model, new_tokens=0)


def test_speedup_intervals_bracket_the_speedup():
    recs = [{"mode": "uncached", "new_tokens": 8, "seconds": 0.2, "times": [0.19, 0.2, 0.22]},
            {"mode": "cached", "new_tokens": 8, "seconds": 0.1, "times": [0.1, 0.1, 0.11]}]
    lo, hi = bm.speedup_intervals(recs)[8]
    assert lo <= bm.speedups(recs)[8] <= hi
