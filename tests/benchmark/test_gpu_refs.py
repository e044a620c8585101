"""benchmark.gpu_refs: the one command that re-measures the GPU reference files."""
from pathlib import Path

import pytest
import torch

from nanoinfer_lib.benchmark import gpu_refs


def test_commands_rebuild_both_files_as_they_were_made():
    cmds = gpu_refs.commands(Path("out"))
    assert [c for c, _ in cmds] == ["perf", "kv-sweep", "kv-sweep"]
    perf, kv1, kv16 = (args for _, args in cmds)
    assert perf[:2] == ["--device", "cuda"] and perf[-1].endswith("perf_gpu.json") and "--quick" not in perf
    assert {"bundled", "gpt2-random"} <= set(kv1) and "--runs" in kv1 and kv1[-1].endswith("kv_sweep_gpu.json")
    assert "16" in kv16 and "--append" in kv16 and kv16[-1] == kv1[-1]
    assert all("--device" in a and "cpu" in a for _, a in gpu_refs.commands(Path("out"), quick=True))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error a machine without a GPU gives")
def test_without_a_gpu_it_says_so(tmp_path, capsys):
    with pytest.raises(SystemExit):
        gpu_refs.main(["--out-dir", str(tmp_path)])
    assert "no CUDA device" in capsys.readouterr().err
