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
    assert {"batching", "threads", "int8", "bandwidth", "kv_cache"} <= set(res)
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
