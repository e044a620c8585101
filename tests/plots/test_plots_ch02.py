"""plots.ch02: the attention diagram, the cached-vs-uncached sweep (error bars, legend outside, labelled
log axes, the hardware in the title) and the cache-size figure."""
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.ticker import NullFormatter

from nanoinfer_lib import plots
from nanoinfer_lib.plots._axes import log_axis

from nanoinfer_lib.kv_cache import kv_cache_bytes
from nanoinfer_lib.model import GPT2_SMALL

from _helpers import tiny_config

CPU = {"device": "cpu", "cpu": "Test CPU (x86_64)", "device_name": "Test CPU (x86_64)", "threads": 1,
       "dtype": "float32", "date": "2026-01-01 00:00 UTC"}


def _fake_result(meta, n=(16, 32, 64)):
    recs = [{"mode": m, "new_tokens": k, "seconds": s, "times": [0.95 * s, s, 1.1 * s]}
            for k in n for m, s in (("cached", 1e-3 * k), ("uncached", 1e-4 * k * k))]
    lat = [{"mode": m, "position": k, "seconds": s, "times": [s, 1.05 * s, 0.97 * s]}
           for k in n for m, s in (("cached", 1e-3), ("uncached", 1e-3 * k))]
    return {"meta": meta, "runs": [{"model": "bundled", "records": recs, "latency": lat}]}


def _texts(fig):
    return [t.get_text() for sf in fig.subfigs for leg in sf.legends for t in leg.get_texts()]


def test_plot_kv_sweep_gives_the_reference_its_own_row():
    gpu = {"device": "cuda", "device_name": "GPU9", "dtype": "float32", "date": "2026-01-01 00:00 UTC",
           "library_commit": "abc1234"}
    fig = plots.plot_kv_sweep(_fake_result(CPU), _fake_result(gpu))
    live_row, ref_row = fig.subfigs
    assert len(live_row.axes) == 3 and len(ref_row.axes) == 3
    live_title, ref_title = live_row._suptitle.get_text(), ref_row._suptitle.get_text()
    assert "CPU Test CPU (x86_64), 1 thread" in live_title and "GPU9" not in live_title
    assert "bars: range of 3 runs (covers the median 75% of the time); speedup" in live_title
    assert "t interval over 3 interleaved rounds" in live_title
    assert "95%" not in live_title.split("speedup")[0]                 # the bars of 3 runs are no 95% interval
    assert "Reference file, not measured here: GPU9" in ref_title and "abc1234" in ref_title
    assert all(len(sf.legends) == 1 and all(ax.get_legend() is None for ax in sf.axes) for sf in fig.subfigs)
    live_labels = [t.get_text() for t in live_row.legends[0].get_texts()]
    assert "predicted from one-step latencies" in live_labels and "tutorial's claim: 2-4x" in live_labels
    assert {"uncached", "cached"} <= {t.get_text() for t in ref_row.legends[0].get_texts()}
    for ax in fig.axes:
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
        assert ax.containers, "lines with (possible) error bars on every panel"
    ax1, ax2, ax3 = live_row.axes
    assert all(c.has_yerr for c in ax1.containers + ax2.containers + ax3.containers)   # live: bars everywhere
    assert all(c.has_yerr for ax in ref_row.axes for c in ax.containers)      # the reference kept its repeats
    plt.close(fig)
    legacy = _fake_result(gpu)                                 # a file that kept one median per point
    for rec in legacy["runs"][0]["records"] + legacy["runs"][0]["latency"]:
        del rec["times"]
    fig = plots.plot_kv_sweep(_fake_result(CPU), legacy)
    assert "one median per point, no bars" in fig.subfigs[1]._suptitle.get_text()
    assert not any(c.has_yerr for ax in fig.subfigs[1].axes for c in ax.containers)
    plt.close(fig)
    fig = plots.plot_kv_sweep([_fake_result(CPU), _fake_result(gpu)])    # two live devices, no reference
    assert len(fig.subfigs) == 2 and "Live on GPU9" in fig.subfigs[1]._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(TypeError, match="live"):
        plots.plot_kv_sweep({"records": []})


def test_plot_kv_sweep_ticks_are_plain_numbers():
    fig = plots.plot_kv_sweep(_fake_result(CPU))
    fig.canvas.draw()
    for ax in fig.axes:
        labels = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
        assert labels and all(lab.replace(".", "").replace("−", "").isdigit() for lab in labels), labels
        assert len(set(labels)) == len(labels), f"two ticks print the same: {labels}"
    plt.close(fig)


def test_attention_diagram_marks_cached_columns():
    fig = plots.plot_attention_reuse(5)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("K, V of old positions" in s for s in labels) and any("not computed" in s for s in labels)
    assert "K/V columns" in fig._suptitle.get_text()
    plt.close(fig)
    for bad in (1, 17, 3.0, True):
        with pytest.raises(ValueError, match="T"):
            plots.plot_attention_reuse(bad)


def test_cache_memory_legend_is_outside():
    fig = plots.plot_cache_memory({"tiny": (tiny_config(), 1000)}, max_len=16)
    ax = fig.axes[0]
    assert ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    assert ax.get_legend().get_bbox_to_anchor().x0 > ax.get_window_extent().x1 - 1     # right of the axes
    plt.close(fig)
    fig = plots.plot_cache_memory({"GPT-2": (GPT2_SMALL, 124_439_808)}, max_len=1024)
    fig.canvas.draw()
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels(which="both") if t.get_text()]
    assert {"0.1", "0.2", "0.5", "1", "1000"} <= set(labels) and "0" not in labels   # ticks below 1 keep their digits
    plt.close(fig)
    with pytest.raises(ValueError, match="models"):
        plots.plot_cache_memory({})
    with pytest.raises(ValueError, match="dtype_bytes"):
        plots.plot_cache_memory({"tiny": (tiny_config(), 1000)}, dtype_bytes=3)


def test_cache_memory_lines_are_kv_cache_bytes():
    config = tiny_config()
    fig = plots.plot_cache_memory({"tiny": (config, 1000)}, max_len=8, dtype_bytes=2, batch_sizes=(3,))
    T, mib = fig.axes[0].get_lines()[0].get_data()
    want = [kv_cache_bytes(config, 3, int(t), torch.float16) / 2**20 for t in T]
    assert list(T) == list(range(1, 9)) and np.allclose(mib, want)
    plt.close(fig)


def test_log_axis_labels_minor_ticks():
    fig, ax = plt.subplots()
    ax.plot([1, 100], [1, 100])
    log_axis(ax)
    log_axis(ax, "x", base=2)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert not isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)
    plt.close(fig)
