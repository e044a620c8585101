"""benchmark.hardware: where it ran, memory in use, the bandwidth roofs."""
import pytest
import torch

from nanoinfer_lib.benchmark import hardware as bench


def test_memory_helpers(tiny_model):
    mem = bench.process_memory()
    assert 0 < mem["rss_mb"] <= mem["vms_mb"]
    if not torch.cuda.is_available():
        assert bench.gpu_memory() == {"allocated_mb": None, "reserved_mb": None, "peak_allocated_mb": None}
    n = sum(p.numel() for p in tiny_model.parameters())                 # parameters() yields tied ones once
    assert bench.model_memory(tiny_model) == 4 * n
    assert bench.model_memory(tiny_model.to(torch.float16)) == 2 * n


def test_copy_bandwidth_is_positive_and_checks_size():
    assert bench.copy_bandwidth(nbytes=4 * 2**20, num_runs=2) > 0
    with pytest.raises(ValueError, match="nbytes"):
        bench.copy_bandwidth(nbytes=10)


def test_device_info_names_the_hardware():
    info = bench.device_info("cpu")
    assert info["device"] == "cpu" and info["threads"] == torch.get_num_threads()
    assert isinstance(info["device_name"], str) and info["device_name"]
    assert bench.cpu_name() == info["device_name"]
