"""plots.ch02: the attention diagram, the cached-vs-uncached sweep (error bars, legend outside, labelled
log axes, the hardware in the title) and the cache-size figure."""
import matplotlib.pyplot as plt
import pytest
from matplotlib.ticker import NullFormatter

from nanoinfer_lib import plots
from nanoinfer_lib.plots._axes import log_axis

from _helpers import tiny_config

CPU = {"device": "cpu", "cpu": "Test CPU (x86_64)", "device_name": "Test CPU (x86_64)", "threads": 1,
       "dtype": "float32", "date": "2026-01-01 00:00 UTC"}


def _fake_result(meta, n=(16, 32, 64)):
    recs = [{"mode": m, "new_tokens": k, "seconds": s, "times": [0.95 * s, s, 1.1 * s]}
            for k in n for m, s in (("cached", 1e-3 * k), ("uncached", 1e-4 * k * k))]
    lat = [{"mode": m, "position": k, "seconds": s, "times": [s, 1.05 * s, 0.97 * s]}
           for k in n for m, s in (("cached", 1e-3), ("uncached", 1e-3 * k))]
    return {"meta": meta, "runs": [{"model": "bundled", "records": recs, "latency": lat}]}


def test_plot_kv_sweep_is_readable():
    gpu = {"device": "cuda", "device_name": "GPU9", "dtype": "float32", "date": "2026-01-01 00:00 UTC"}
    fig = plots.plot_kv_sweep(_fake_result(CPU), _fake_result(gpu))
    ax1, ax2, ax3 = fig.axes
    title = fig._suptitle.get_text()
    assert "CPU Test CPU (x86_64), 1 thread" in title and "reference file" in title
    assert all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1   # one legend, outside
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert any("(reference file)" in s and "GPU9" in s for s in labels) and any("tutorial" in s for s in labels)
    for ax in (ax1, ax2, ax3):
        assert ax.get_xlabel() and ax.get_ylabel() and ax.get_yscale() == "log"
        assert ax.containers, "error bars on every panel"
        assert not isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)        # minor ticks labelled
    plt.close(fig)
    fig = plots.plot_kv_sweep([_fake_result(CPU), _fake_result(gpu)])    # two live devices, no reference
    assert "GPU9" in fig._suptitle.get_text()
    plt.close(fig)
    with pytest.raises(TypeError, match="live"):
        plots.plot_kv_sweep({"records": []})


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
    with pytest.raises(ValueError, match="models"):
        plots.plot_cache_memory({})


def test_log_axis_labels_minor_ticks():
    fig, ax = plt.subplots()
    ax.plot([1, 100], [1, 100])
    log_axis(ax)
    log_axis(ax, "x", base=2)
    assert ax.get_yscale() == "log" and ax.get_xscale() == "log"
    assert not isinstance(ax.yaxis.get_minor_formatter(), NullFormatter)
    plt.close(fig)
