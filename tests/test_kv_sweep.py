"""Chapter 02: cache memory formula, cached-vs-uncached sweep, kv-sweep command, plots and self-checks."""
import json
import math

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nanoinfer_lib import GPT, KVCache, benchmark as bm, checks, plots  # noqa: E402
from _helpers import tiny_config  # noqa: E402


# ---- memory -----------------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("B,T", [(1, 1), (2, 16), (3, 7)])
def test_kv_cache_bytes_matches_allocated_cache(dtype, B, T):
    cfg = tiny_config()
    cache = KVCache(cfg, batch_size=B, max_len=T, dtype=dtype)
    assert bm.kv_cache_bytes(cfg, B, T, dtype) == cache.nbytes
    assert bm.kv_cache_bytes(cfg, B, T, dtype) == 2 * cfg.n_layer * B * T * cfg.n_embd * dtype.itemsize


def test_kv_cache_bytes_rejects_bad_arguments():
    cfg = tiny_config()
    with pytest.raises(ValueError, match="batch_size"):
        bm.kv_cache_bytes(cfg, -1, 4)
    with pytest.raises(ValueError, match="seq_len"):
        bm.kv_cache_bytes(cfg, 1, 2.5)
    with pytest.raises(TypeError, match="dtype"):
        bm.kv_cache_bytes(cfg, 1, 4, "float16")


def test_count_parameters_without_allocating():
    cfg = tiny_config()
    assert bm.count_parameters(cfg) == GPT(cfg).num_params()
    assert bm.count_parameters(bm.GPT2_SMALL) == 124_439_808      # GPT-2 small, as Hugging Face counts it


# ---- sweep ------------------------------------------------------------------------------------
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
    assert all(r["seconds"] > 0 for r in recs)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())
    with pytest.raises(ValueError, match="positions"):
        bm.step_latency(tiny_model, [16])                            # no room for one more token


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


# ---- results file and command -----------------------------------------------------------------
def test_load_kv_sweep_missing_and_bad(tmp_path):
    assert bm.load_kv_sweep(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"records": []}))
    with pytest.raises(ValueError, match="kv-sweep"):
        bm.load_kv_sweep(bad)


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
    assert bm.main(["kv-sweep", "--quick", "--device", "cpu", "--out", str(out)]) == 0
    data = bm.load_kv_sweep(out)
    meta = data["meta"]
    assert meta["device"] == "cpu" and meta["dtype"] == "float32" and meta["torch"] == torch.__version__
    assert meta["date"].endswith("UTC") and str(tmp_path) not in meta["command"]
    (run,) = data["runs"]
    assert run["model"] == "bundled" and run["config"]["n_layer"] == 4
    assert {(r["mode"], r["new_tokens"]) for r in run["records"]} == {(m, n) for m in ("cached", "uncached") for n in (4, 8)}


def test_kv_sweep_command_rejects_bad_options(tmp_path):
    with pytest.raises(SystemExit):
        bm.main(["kv-sweep", "--out", str(tmp_path / "x.json"), "--dtype", "float64"])
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            bm.main(["kv-sweep", "--out", str(tmp_path / "x.json"), "--device", "cuda"])


# ---- plots ------------------------------------------------------------------------------------
def _fake_result(device_name, n=(16, 32, 64)):
    recs = [{"mode": m, "new_tokens": k, "seconds": (1e-4 * k * k if m == "uncached" else 1e-3 * k)}
            for k in n for m in ("cached", "uncached")]
    lat = [{"mode": m, "position": k, "seconds": 1e-3 * (k if m == "uncached" else 1)} for k in n for m in ("cached", "uncached")]
    return {"meta": {"device_name": device_name, "dtype": "float32", "date": "2026-01-01 00:00 UTC"},
            "runs": [{"model": "bundled", "records": recs, "latency": lat}]}


def test_plot_kv_sweep_draws_live_and_dashed_reference():
    fig = plots.plot_kv_sweep(_fake_result("cpu0"), _fake_result("GPU9"))
    ax1, ax2, ax3 = fig.axes
    labels = [l.get_label() for l in ax1.get_lines()]
    assert any("(reference)" in s and "GPU9" in s for s in labels) and any("cpu0" in s for s in labels)
    assert all(l.get_linestyle() == "--" for l in ax1.get_lines() if "(reference)" in l.get_label())
    assert ax1.get_xlabel() and ax1.get_ylabel() and ax2.get_ylabel() and ax3.get_ylabel()
    assert "cpu0" in fig._suptitle.get_text()
    plt.close(fig)
    fig = plots.plot_kv_sweep([_fake_result("cpu0"), _fake_result("cuda0")])    # two live devices, no reference
    assert "cuda0" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(TypeError, match="live"):
        plots.plot_kv_sweep({"records": []})


def test_other_chapter02_plots():
    fig = plots.plot_cache_memory({"tiny": (tiny_config(), 1000)}, max_len=16)
    assert fig.axes[0].get_xlabel() and fig.axes[0].get_ylabel() and fig.axes[0].get_legend()
    plt.close(fig)
    plt.close(plots.plot_attention_reuse(5))
    with pytest.raises(ValueError, match="T"):
        plots.plot_attention_reuse(1)
    with pytest.raises(ValueError, match="models"):
        plots.plot_cache_memory({})


# ---- self-checks ------------------------------------------------------------------------------
def _update(past, k, v):
    return (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))


def test_check_cache_update(capsys):
    assert checks.check_cache_update(_update)
    assert not checks.check_cache_update(lambda past, k, v: _update(past, k, v)[::-1])       # k and v swapped
    assert not checks.check_cache_update(
        lambda past, k, v: (k, v) if past is None else (torch.cat([past[0], k], 3), torch.cat([past[1], v], 3)))
    assert not checks.check_cache_update(
        lambda past, k, v: (k, v) if past is None else (torch.cat([k, past[0]], 2), torch.cat([v, past[1]], 2)))

    def todo(past, k, v):
        raise NotImplementedError
    assert not checks.check_cache_update(todo)
    assert "not written yet" in capsys.readouterr().out


def test_check_causal_mask():
    assert checks.check_causal_mask(lambda T, past: torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past))
    assert not checks.check_causal_mask(lambda T, past: torch.ones(T, T, dtype=torch.bool).tril())   # the square mask
    assert not checks.check_causal_mask(lambda T, past: torch.ones(T, past + T, dtype=torch.bool).tril())  # no offset


def test_check_cache_size(capsys):
    cfg = bm.GPT2_SMALL
    right = 2 * 12 * 4 * 1024 * 768 * 2
    assert checks.check_cache_size(right, cfg, 4, 1024, torch.float16)
    assert not checks.check_cache_size(right // 2, cfg, 4, 1024, torch.float16)
    assert "k AND v" in capsys.readouterr().out
    assert not checks.check_cache_size(..., cfg, 4, 1024, torch.float16)
    with pytest.raises(TypeError, match="answer_bytes"):
        checks.check_cache_size("150MB", cfg, 4, 1024, torch.float16)
