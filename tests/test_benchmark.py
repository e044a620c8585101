"""benchmark_model, the decode benchmark, memory and bandwidth helpers, int8 weights, the perf
command, and chapter 04's checks and plots (tiny random model unless stated)."""
import json
import math
import subprocess
import sys

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from nanoinfer_lib import KVCache, benchmark_model  # noqa: E402
from nanoinfer_lib import benchmark as bench  # noqa: E402
from nanoinfer_lib import checks, plots  # noqa: E402


def count_calls(model):
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_benchmark_model_keys_and_consistency(tiny_model):
    calls = count_calls(tiny_model)
    r = benchmark_model(model=tiny_model, input_shape=(3, 8), num_runs=4, warmup=2)
    assert len(calls) == 6                                               # warm-up + timed runs
    assert r["min_latency_ms"] <= r["median_latency_ms"] <= r["max_latency_ms"]
    assert r["min_latency_ms"] <= r["avg_latency_ms"] <= r["max_latency_ms"]
    assert math.isclose(r["tokens_per_second"], 3 * 8 / (r["median_latency_ms"] / 1e3))
    assert (r["batch_size"], r["seq_len"], r["num_runs"]) == (3, 8, 4)
    assert r["device"] == "cpu" and r["dtype"] == "float32" and r["threads"] == torch.get_num_threads()
    assert r["peak_gpu_memory_mb"] is None and r["rss_mb"] > 0 and r["torch"] == torch.__version__


def test_benchmark_model_reports_the_models_dtype(tiny_model):
    assert benchmark_model(model=tiny_model.to(torch.bfloat16), input_shape=(1, 4), num_runs=1)["dtype"] == "bfloat16"


@pytest.mark.parametrize("kw, err, match", [
    (dict(input_shape=(0, 4)), ValueError, "batch size"),
    (dict(input_shape=(1, 17)), ValueError, "block_size"),
    (dict(input_shape=(1, 2, 3)), ValueError, "input_shape"),
    (dict(input_shape=(1, 2.5)), TypeError, "sequence length"),
    (dict(num_runs=0), ValueError, "num_runs"),
    (dict(warmup=-1), ValueError, "warmup"),
])
def test_benchmark_model_bad_arguments(tiny_model, kw, err, match):
    with pytest.raises(err, match=match):
        benchmark_model(model=tiny_model, **{"input_shape": (1, 4), "num_runs": 1, **kw})


def test_benchmark_model_needs_a_module():
    with pytest.raises(TypeError, match="model"):
        benchmark_model(model="gpt", input_shape=(1, 4))


def test_benchmark_decode_counts_steps(tiny_model):
    calls = count_calls(tiny_model)
    r = bench.benchmark_decode(tiny_model, batch_size=2, prompt_len=3, new_tokens=5, num_runs=2, warmup=1)
    assert len(calls) == 3 * 5                                           # one forward per new token
    assert math.isclose(r["tokens_per_second"], 2 * 5 / (r["median_latency_ms"] / 1e3))
    assert math.isclose(r["ms_per_step"], r["median_latency_ms"] / 5)
    with pytest.raises(ValueError, match="new_tokens"):
        bench.benchmark_decode(tiny_model, new_tokens=0)


def test_latency_stats_known_values():
    s = bench.latency_stats([0.001, 0.003, 0.002])
    assert s == pytest.approx({"median_latency_ms": 2.0, "avg_latency_ms": 2.0, "std_latency_ms": 1.0,
                               "min_latency_ms": 1.0, "max_latency_ms": 3.0})


def test_unsynced_timer_runs_num_runs_times():
    calls = []
    assert len(bench.time_fn_unsynced(lambda: calls.append(1), 3)) == 3 and len(calls) == 3


def test_memory_helpers(tiny_model):
    mem = bench.process_memory()
    assert 0 < mem["rss_mb"] <= mem["vms_mb"]
    if not torch.cuda.is_available():
        assert bench.gpu_memory() == {"allocated_mb": None, "reserved_mb": None, "peak_allocated_mb": None}
    n = sum(p.numel() for p in tiny_model.parameters())                 # parameters() yields tied ones once
    assert bench.model_memory(tiny_model) == 4 * n
    assert bench.model_memory(tiny_model.to(torch.float16)) == 2 * n


def test_decode_bytes_match_the_cache_and_the_weights(tiny_model):
    cfg = tiny_model.config
    b = bench.decode_bytes_per_step(tiny_model, batch_size=3, context_len=cfg.block_size)
    assert b["kv_cache"] == KVCache(cfg, 3, cfg.block_size).nbytes
    assert b["weights"] == bench.model_memory(tiny_model) - tiny_model.transformer.wpe.weight.nbytes
    assert b["total"] == b["weights"] + b["kv_cache"]


def test_copy_bandwidth_is_positive_and_checks_size():
    assert bench.copy_bandwidth(nbytes=4 * 2**20, num_runs=2) > 0
    with pytest.raises(ValueError, match="nbytes"):
        bench.copy_bandwidth(nbytes=10)


def test_int8_linear_equals_dequantized_reference():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    q = bench.Int8Linear(lin)
    w = lin.weight.detach()
    assert q.weight.dtype == torch.int8 and q.scale.shape == (96,)
    deq = q.weight.float() * q.scale[:, None]                           # (out, in)
    assert ((deq - w).abs() <= q.scale[:, None] / 2 + 1e-6).all()       # rounding error <= half a step
    x = torch.randn(2, 5, 64)
    assert torch.allclose(q(x), F.linear(x, deq, lin.bias), atol=1e-4)
    assert torch.allclose(q(x), lin(x), atol=0.05)


def test_quantize_int8_copies_and_stays_close(tiny_model):
    q = bench.quantize_int8(tiny_model)
    assert not any(isinstance(m, torch.nn.Linear) for m in q.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in tiny_model.modules())   # the original is untouched
    ids = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert (q(ids) - tiny_model(ids)).abs().max() < 0.05
    assert bench.model_memory(q) < bench.model_memory(tiny_model)


def test_heldout_loss_equals_cross_entropy_over_windows(tiny_model):
    ids = torch.randint(0, 50, (1, 40), generator=torch.Generator().manual_seed(0))
    bs, losses = tiny_model.config.block_size, []
    with torch.no_grad():
        for s in range(0, 39, bs):
            x = ids[:, s:s + bs + 1]
            losses.append(F.cross_entropy(tiny_model(x[:, :-1])[0], x[0, 1:], reduction="none"))
    assert bench.heldout_loss(tiny_model, ids) == pytest.approx(torch.cat(losses).mean().item(), rel=1e-5)


def test_cuda_graph_needs_a_gpu_model(tiny_model):
    with pytest.raises(ValueError, match="CUDA"):
        bench.cuda_graph_step_ms(tiny_model)


def test_perf_command_writes_a_results_file(tmp_path):
    out = tmp_path / "perf.json"
    proc = subprocess.run([sys.executable, "-m", "nanoinfer_lib.benchmark", "perf", "--quick", "--no-compile",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert res["info"]["device"] == "cpu" and res["info"]["torch"] == torch.__version__
    assert res["date"][:2] == "20" and len(res["checkpoint_sha256"]) == 64
    assert set(res["precision"]) == {"float32", "bfloat16", "float16"}
    assert res["precision"]["float16"]["weights_mb"] == pytest.approx(res["precision"]["float32"]["weights_mb"] / 2)
    assert {"batching", "threads", "int8", "bandwidth", "kv_cache"} <= set(res)
    assert str(tmp_path) not in res["command"]


def test_gpu_reference_file_when_present():
    ref = bench.load_results(bench.GPU_RESULTS)
    if ref is None:
        pytest.skip("no GPU results file installed")
    assert ref["info"]["device"].startswith("cuda")
    for key in ("device_name", "torch"):
        assert ref["info"][key]
    assert {"precision", "batching", "cuda_graph", "bandwidth", "sync"} <= set(ref)


def test_check_timer_accepts_a_good_timer_and_rejects_a_cold_one(capsys):
    import statistics
    import time

    def good(work, n):
        work()
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            work()
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts)

    def cold(work, n):                           # no warm-up, mean: the cold call and the hiccup count
        t0 = time.perf_counter()
        for _ in range(n):
            work()
        return (time.perf_counter() - t0) / n

    assert checks.check_timer(good) is True
    assert checks.check_timer(cold) is False
    assert "✗" in capsys.readouterr().out


def test_check_decode_bytes(tiny_model):
    right = lambda m, b, s: bench.decode_bytes_per_step(m, b, s)["total"]       # noqa: E731
    wrong = lambda m, b, s: bench.decode_bytes_per_step(m, b, s)["weights"]     # noqa: E731  forgets the cache
    assert checks.check_decode_bytes(right, tiny_model) is True
    assert checks.check_decode_bytes(wrong, tiny_model) is False


def test_plots_return_figures_and_check_inputs():
    import matplotlib.pyplot as plt
    figs = [plots.plot_run_times({"a": [1.0, 2.0], "b": [3.0]}, title="t"),
            plots.plot_bar_panels({"MB": {"x": 1.0, "y": 2.0}}, title="t"),
            plots.plot_batching({"cpu": {"batch_size": [1, 2], "tokens_per_second": [1.0, 2.0], "latency_ms": [1.0, 1.0]}})]
    assert all(isinstance(f, matplotlib.figure.Figure) for f in figs)
    plt.close("all")
    with pytest.raises(ValueError):
        plots.plot_run_times({"a": []}, title="t")
    with pytest.raises(ValueError):
        plots.plot_bar_panels({}, title="t")
    with pytest.raises(ValueError):
        plots.plot_batching({"cpu": {"batch_size": [1], "tokens_per_second": [1.0, 2.0], "latency_ms": [1.0]}})


def test_notebook_04_is_committed_executed_and_clean():
    from pathlib import Path
    nb = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / "04_performance_optimization.ipynb").read_text())
    cells = nb["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))     # top to bottom, once
    assert "IN_COLAB" in "".join(code[0]["source"]) and "setup(seed=0)" in "".join(code[1]["source"])
    assert "性能优化" in "".join(cells[0]["source"]) and "Running time" in "".join(cells[0]["source"])
    for c in code:
        for o in c["outputs"]:
            assert o["output_type"] != "error"
            text = "".join(o.get("text", "")) + "".join(o.get("data", {}).get("text/plain", ""))
            assert not any(p in text for p in ("/work", "/tmp/", "/root", "Warning")), text[:200]
    src = "".join("".join(c["source"]) for c in code)
    for name in ("benchmark_model(", "generate_batch(", "torch.compile", "set_num_threads", "quantize_int8",
                 "copy_bandwidth", "cuda_graph_step_ms", "check_timer", "check_decode_bytes"):
        assert name in src, name


def test_notebook_04_names_optimisations_that_exist():
    """Section 10 of the notebook names these parts of the library; they must exist."""
    from nanoinfer_lib import model as model_module
    assert hasattr(model_module.Linear, "fast_cpu_decode") and issubclass(model_module.Linear, torch.nn.Linear)
    assert callable(bench.graphed_greedy) and issubclass(bench.StaticKVCache, KVCache)


def test_device_info_names_the_hardware():
    info = bench.device_info("cpu")
    assert info["device"] == "cpu" and info["threads"] == torch.get_num_threads()
    assert isinstance(info["device_name"], str) and info["device_name"]
    assert bench.cpu_name() == info["device_name"]
