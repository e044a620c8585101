"""benchmark.hardware: where it ran, memory in use and at its peak, the bandwidth roofs."""
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


def test_roofs_are_plausible_and_check_their_arguments():
    """Not asserted: which roof is higher (that depends on the machine). Asserted: both are real rates."""
    read = bench.read_bandwidth(nbytes=16 * 2**20, num_runs=2)
    copy = bench.copy_bandwidth(nbytes=4 * 2**20, num_runs=2)
    assert 0.1 < read < 1e4 and 0.1 < copy < 1e4                        # GB/s: anything real lies in here
    for fn in (bench.read_bandwidth, bench.copy_bandwidth):
        with pytest.raises(ValueError, match="nbytes"):
            fn(nbytes=10)
        with pytest.raises(ValueError, match="num_runs"):
            fn(nbytes=2**20, num_runs=0)
        with pytest.raises(TypeError, match="nbytes"):
            fn(nbytes=2.5e6)


def test_read_roof_buffer_outgrows_the_last_level_cache():
    llc = bench.last_level_cache_bytes()
    size = bench._roof_buffer_bytes(torch.device("cpu"))
    assert size >= 256 * 2**20 and (llc is None or size >= 8 * llc)


def test_fraction_of_roof_refuses_impossible_figures():
    assert bench.fraction_of_roof(5.0, 20.0) == pytest.approx(0.25)
    assert bench.fraction_of_roof(20.0, 20.0) == 1.0
    assert bench.fraction_of_roof(25.0, 20.0) is None                  # above the roof: a measurement error
    with pytest.raises(ValueError, match="roof_GBps"):
        bench.fraction_of_roof(1.0, 0.0)
    with pytest.raises(ValueError, match="achieved_GBps"):
        bench.fraction_of_roof(-1.0, 10.0)


def test_peak_memory_counts_new_tensors_only():
    outside = torch.ones(1_000_000)                                      # allocated before: not counted

    def work():
        a = torch.ones(1_000_000)                                       # 4 MB
        b = a * 2                                                        # 8 MB alive
        a.t_()                                                           # in place: nothing new
        v = b.view(-1)                                                   # a view: nothing new
        del a
        c = b + outside                                                  # 8 MB again (b, c)
        del b, v, c
        w = outside[:10]                                                 # a view of an outside tensor
        return w

    got = bench.peak_memory(work)
    assert got["peak_bytes"] == 8_000_000 and "operator" in got["method"]
    assert bench.peak_memory(lambda: None)["peak_bytes"] == 0


def test_peak_memory_rejects_bad_arguments():
    with pytest.raises(TypeError, match="fn"):
        bench.peak_memory(42)
    with pytest.raises(ValueError, match="device"):
        bench.peak_memory(lambda: None, device="meta")


def test_other_load_is_a_share_or_unknown():
    with bench.OtherLoad() as load:
        sum(range(100_000))
    assert load.fraction is None or 0.0 <= load.fraction <= 1.0


def test_device_info_and_describe_name_the_hardware():
    info = bench.device_info("cpu")
    assert info["device"] == "cpu" and info["threads"] == torch.get_num_threads()
    assert isinstance(info["device_name"], str) and info["device_name"]
    assert bench.cpu_name() == info["device_name"] and isinstance(info["cpu_features"], list)
    assert set(info["cpu_features"]) <= set(bench.CPU_FEATURES.values())
    fake = {"cpu": "Some CPU (x86_64)", "cpu_count": 2, "cpu_features": ["AVX2"], "threads": 1}
    assert bench.describe(fake) == "Some CPU (x86_64), 2 cores, AVX2, 1 thread"
    assert bench.describe(dict(fake, threads=2), features=False) == "CPU Some CPU (x86_64), 2 threads"
    assert bench.describe({"gpu": "Card", "driver": "1.0", "torch_cuda": "13.0"}) == "Card (driver 1.0, CUDA 13.0)"
    with pytest.raises(TypeError, match="info"):
        bench.describe("cpu")
