"""plots.ch08: the memory timeline stacks weights, KV cache and temporaries with the process on its
own axis, the quality-vs-bytes plot draws intervals, a zero line, verdicts and names that never
overlap (measured with the renderer's text boxes), the bytes-by-format bars split formats into
parts; each has a title, labelled axes and a legend, and bad input is a clear error."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from nanoinfer_lib import memory, plots


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_memory_timeline_from_a_real_timeline(tiny_model):
    rows = memory.memory_timeline(tiny_model, [[1, 2, 3]], 4)
    fig = plots.plot_memory_timeline(rows, device="cpu", dtype="float32")
    ax, right = fig.axes
    assert "cpu" in ax.get_title() and "float32" in ax.get_title()
    assert ax.get_xlabel().startswith("step") and "KiB" in ax.get_ylabel() and "MiB" in right.get_ylabel()
    heights = np.array([p.get_height() for p in ax.patches]).reshape(3, 4)          # 3 parts x 4 steps
    assert np.allclose(heights[0], rows[0]["weights_bytes"] / 1024)
    assert np.allclose(heights.sum(0), [(r["weights_bytes"] + r["kv_cache_bytes"] + r["other_bytes"]) / 1024
                                        for r in rows])
    texts = _legend_texts(ax)
    assert {"weights", "KV cache (allocated)", "activations and temporaries (peak of the step)",
            "weights + the cache's filled positions"} <= set(texts)
    assert "process RSS (psutil)" in texts and not any("CUDA" in t for t in texts)   # no reserve on CPU
    assert np.allclose(right.get_lines()[0].get_ydata(), [r["rss_bytes"] / 2**20 for r in rows])
    plt.close(fig)


def test_memory_timeline_with_a_cuda_reserve():
    rows = [{"step": i, "weights_bytes": 2**30, "kv_cache_bytes": 2**28, "other_bytes": 2**20, "kv_used_bytes": i * 2**20,
             "reserved_bytes": 2**31, "rss_bytes": 2**31} for i in range(3)]
    fig = plots.plot_memory_timeline(rows, device="cuda", dtype="bfloat16")
    assert "CUDA allocator reserved" in _legend_texts(fig.axes[0]) and "GiB" in fig.axes[0].get_ylabel()
    plt.close(fig)


@pytest.mark.parametrize("rows, match", [([], "at least one step"), ([{"step": 0, "weights_bytes": 1}], "lacks")])
def test_memory_timeline_rejects_bad_rows(rows, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_memory_timeline(rows)


POINTS = {"float32": {"bytes": 4 * 2**20, "delta": 0.0, "interval": (0.0, 0.0), "verdict": "reference"},
          "bfloat16": {"bytes": 2 * 2**20, "delta": 0.1, "interval": (-0.2, 0.4), "verdict": "inconclusive"},
          "int4 g32": {"bytes": 0.6 * 2**20, "delta": 3.0, "interval": (2.1, 3.9), "verdict": "measurable loss"}}


def test_quality_vs_bytes_points_error_bars_and_zero_line():
    fig = plots.plot_quality_vs_bytes(POINTS, x_label="weight bytes", interval_kind="95% paired bootstrap")
    ax = fig.axes[0]
    assert "95% paired bootstrap" in ax.get_title() and "cpu" in ax.get_title()
    assert ax.get_xlabel() == "weight bytes (MiB)" and "perplexity" in ax.get_ylabel() and ax.get_xscale() == "log"
    texts = _legend_texts(ax)
    assert texts[0] == "no change" and "int4 g32: measurable loss" in texts and "bfloat16: inconclusive" in texts
    zero = [ln for ln in ax.get_lines() if list(ln.get_ydata()) == [0, 0]]
    assert zero, "a line at zero"
    bars = [c for c in ax.containers if getattr(c, "has_yerr", False)]
    assert len(bars) == 3
    segs = bars[2].lines[2][0].get_segments()[0]                               # int4's error bar
    assert np.allclose([segs[0][1], segs[1][1]], [2.1, 3.9])
    plt.close(fig)


@pytest.mark.parametrize("points, match", [
    ({}, "at least one format"),
    ({"a": {"bytes": 1, "delta": 0.0}}, "lacks"),
    ({"a": {"bytes": 0, "delta": 0.0, "interval": (0, 0), "verdict": ""}}, "positive"),
    ({"a": {"bytes": 1, "delta": 2.0, "interval": (0, 1), "verdict": ""}}, "must hold delta"),
])
def test_quality_vs_bytes_rejects_bad_points(points, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_quality_vs_bytes(points)


def test_bytes_by_format_stacks_parts_and_labels_ratios():
    formats = {"float32": 4000, "int4 g64": {"int4 values": 500, "fp16 scales": 31.25 * 2, "unquantized": 200}}
    fig = plots.plot_bytes_by_format(formats)
    ax = fig.axes[0]
    assert _legend_texts(ax) == ["weights", "int4 values", "fp16 scales", "unquantized"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["float32", "int4 g64"]
    labels = [t.get_text() for t in ax.texts]
    assert labels[0].endswith("1x") and labels[1].endswith(f"{762.5 / 4000:.3g}x")
    assert "KiB" in ax.get_ylabel() and "float32" in ax.get_title()
    plt.close(fig)
    fig = plots.plot_bytes_by_format({"float32": 10.0})
    assert fig.axes[0].get_legend() is None                                  # one part: nothing to tell apart
    plt.close(fig)


@pytest.mark.parametrize("formats, match", [({}, "at least one"), ({"a": {}}, "at least one part"),
                                             ({"a": {"x": -1}}, ">= 0"), ({"a": 0}, "positive")])
def test_bytes_by_format_rejects_bad_input(formats, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_bytes_by_format(formats)


def _overlap(a, b):
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


NEAR = {"float32": {"bytes": 4 * 2**20, "delta": 0.0, "interval": (0.0, 0.0), "verdict": "reference"},
        "int4 g64 weights": {"bytes": 0.59 * 2**20, "delta": 1.40, "interval": (0.82, 1.91), "verdict": "inconclusive"},
        "int4 g32 weights": {"bytes": 0.60 * 2**20, "delta": 1.41, "interval": (0.86, 1.97), "verdict": "inconclusive"}}
PILE = {f"format {i}": {"bytes": 2**20, "delta": 1.0, "interval": (0.5, 1.5), "verdict": "inconclusive"} for i in range(6)}


@pytest.mark.parametrize("points", [NEAR, PILE, {**NEAR, **PILE}], ids=["two near", "six on one spot", "both"])
def test_quality_vs_bytes_labels_never_overlap(points):
    """Points at (nearly) the same place: the renderer's boxes of their names share no area, and
    each name stays beside its own point (within a few lines of it)."""
    fig = plots.plot_quality_vs_bytes(points)
    fig.canvas.draw()
    ax = fig.axes[0]
    boxes = {t.get_text().strip(): t.get_window_extent() for t in ax.texts}
    assert sorted(boxes) == sorted(points)
    names = list(boxes)
    for i, a in enumerate(names):
        for b in names[i + 1:]:
            assert not _overlap(boxes[a], boxes[b]), f"the labels {a!r} and {b!r} overlap"
    line = max(b.height for b in boxes.values())
    for name, p in points.items():
        x, y = ax.transData.transform((p["bytes"] / 2**20, p["delta"]))
        box = boxes[name]
        assert box.y0 - (2 * len(points) + 2) * line <= y <= box.y1 + (2 * len(points) + 2) * line
        assert min(abs(box.x0 - x), abs(box.x1 - x)) < 20 * fig.dpi / 72      # starts or ends beside its point
    plt.close(fig)
