"""benchmark.perf: chapter 04's measurements as a command, and the GPU reference file it wrote."""
import json
import subprocess
import sys

import pytest
import torch

from nanoinfer_lib.benchmark import perf as bench


def test_perf_command_writes_a_results_file(tmp_path):
    out = tmp_path / "perf.json"
    proc = subprocess.run([sys.executable, "-m", "nanoinfer_lib.benchmark", "perf", "--quick", "--no-compile",
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    full = json.loads(out.read_text())
    assert full["schema"] == "nanoinfer-results/2" and full["benchmark"] == "perf" and full["complete"]
    res = bench.load_perf(out)
    assert res["info"]["device"] == "cpu" and res["info"]["torch"] == torch.__version__
    assert res["date"][:2] == "20" and len(res["checkpoint_sha256"]) == 64
    assert set(res["precision"]) == {"float32", "bfloat16", "float16"}
    assert res["precision"]["float16"]["weights_mb"] == pytest.approx(res["precision"]["float32"]["weights_mb"] / 2)
    assert {"batching", "threads", "int8", "bandwidth", "kv_cache", "roofline"} <= set(res)
    assert list(full["data"])[:4] == ["checkpoint_sha256", "settings", "precision", "kv_cache"]
    assert str(tmp_path) not in res["command"]


def test_gpu_reference_file_when_present():
    ref = bench.load_perf()
    if ref is None:
        pytest.skip("no GPU results file installed")
    assert ref["info"]["device"].startswith("cuda")
    for key in ("device_name", "torch"):
        assert ref["info"][key]
    assert {"precision", "batching", "cuda_graph", "bandwidth", "sync"} <= set(ref)
    assert ref["library_commit"], "a reference file names the commit that measured it"


def test_batching_sweep_times_prefill_apart(tiny_model):
    from _helpers import CharTokenizer
    rows = bench.batching_sweep(tiny_model, CharTokenizer(), ["abc", "de", "fghi", "j"], batch_sizes=[1, 4],
                                new_tokens=3, rounds=2)
    assert [r["batch_size"] for r in rows] == [1, 4]
    for r in rows:
        assert r["prompts"] == 4 and r["new_tokens"] == 3 and len(r["times_s"]["whole"]) == 2
        for key in ("tokens_per_second", "decode_tokens_per_second", "prefill_tokens_per_second", "latency_ms_per_batch"):
            lo, hi = r[key + "_interval"]
            assert 0 < lo <= r[key] <= hi
    with pytest.raises(ValueError, match="new_tokens"):
        bench.batching_sweep(tiny_model, CharTokenizer(), ["ab"], new_tokens=1)


def test_top_ops_names_where_the_time_goes():
    x = torch.randn(256, 256)
    ops = bench.top_ops(lambda: [x @ x for _ in range(5)], n=3)
    assert ops[0]["op"] in ("aten::mm", "aten::matmul") and ops[0]["calls"] == 5
    assert 0 < sum(o["share"] for o in ops) <= 1.0 + 1e-9 and len(ops) <= 3
    with pytest.raises(TypeError, match="fn"):
        bench.top_ops("x")


def test_legacy_file_leaves_out_the_cudnn_bf16_batching():
    ref = bench.load_perf()
    if ref is None:
        pytest.skip("no GPU results file installed")
    assert "bfloat16" not in ref["batching"] and "float32" in ref["batching"]
    assert "cuDNN" in ref["excluded"]["batching/bfloat16"]
