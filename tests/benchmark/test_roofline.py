"""benchmark.roofline: the three roofs, which one bounds a step, and where decode turns compute-bound."""
import pytest
import torch

from nanoinfer_lib.benchmark import roofline as rl

ROOFS = {"compute_GFLOPs": 100.0, "cache_GBps": 100.0, "dram_GBps": 20.0, "llc_bytes": 32 * 2**20}


def test_roofs_are_real_rates_and_the_cache_buffer_fits_the_cache():
    r = rl.roofline_roofs(quick=True)
    assert all(0.01 < r[k] < 1e5 for k in ("compute_GFLOPs", "cache_GBps", "dram_GBps"))
    assert r["threads"] == torch.get_num_threads() and r["device"] == "cpu"
    if r["llc_bytes"] is not None:                          # sized from the machine's own cache
        assert r["cache_buffer_bytes"] <= r["llc_bytes"] < r["dram_buffer_bytes"] or r["dram_buffer_bytes"] == 16 << 20
    with pytest.raises(ValueError, match="n"):
        rl.compute_roof(n=8)


def test_memory_roof_follows_the_working_set():
    assert rl.memory_roof(ROOFS, 15 * 2**20) == ("cache", 100.0)        # the bundled model's weights fit
    assert rl.memory_roof(ROOFS, 500 * 2**20) == ("DRAM", 20.0)         # GPT-2's do not
    assert rl.memory_roof(dict(ROOFS, llc_bytes=None), 1) == ("DRAM", 20.0)   # cache size unknown: no cache roof


def test_place_on_roofline_names_the_bound_and_refuses_figures_above_it():
    p = rl.place_on_roofline(flops=2e6, nbytes=4_000_000, seconds=1e-4, roofs=ROOFS)
    assert p["memory"] == "cache" and p["bound"] == "cache" and p["intensity"] == pytest.approx(0.5)
    assert p["attainable_GFLOPs"] == pytest.approx(50.0) and p["achieved_GFLOPs"] == pytest.approx(20.0)
    assert p["fraction"] == pytest.approx(0.4) and p["ridge"] == pytest.approx(1.0)
    p = rl.place_on_roofline(flops=2e6, nbytes=4_000_000, seconds=1e-4, roofs=ROOFS, working_set_bytes=500 * 2**20)
    assert p["memory"] == "DRAM" and p["fraction"] is None               # 20 GFLOP/s above 10 attainable: an error
    p = rl.place_on_roofline(flops=1e9, nbytes=1_000_000, seconds=0.02, roofs=ROOFS)
    assert p["bound"] == "compute" and p["fraction"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="seconds"):
        rl.place_on_roofline(1.0, 1, 0.0, ROOFS)


def test_compute_bound_batch_is_where_the_intensity_reaches_the_ridge():
    # 1 GB of weights, 2.5e8 FLOPs per row, no cache bytes: intensity B / 4; DRAM ridge 100 / 20 = 5
    assert rl.compute_bound_batch(2.5e8, 10**9, 0, ROOFS) == 20
    # every row also reads 1e8 bytes of cache: the intensity levels off at 2.5 < 5, never compute-bound
    assert rl.compute_bound_batch(2.5e8, 10**9, 10**8, ROOFS, max_batch=512) is None
