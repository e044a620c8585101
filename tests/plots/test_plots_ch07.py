"""plots.ch07: the timeline colours each request's state per step, the KV figure shows reserved
beside used, the serving figure draws intervals; every figure has a title, labelled axes and a
legend, and bad input is a clear error."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from nanoinfer_lib import plots


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_timeline_one_panel_per_system_with_the_states_it_shows():
    panels = {"static batching": ["pddxx", "pdddd", "wwwww"], "engine": ["pdd..", "pdddd", "wwpd!"]}
    fig = plots.plot_timeline(panels, device="cpu", dtype="float32")
    axes = fig.axes
    assert len(axes) == 2 and "cpu" in fig._suptitle.get_text() and "float32" in fig._suptitle.get_text()
    assert axes[0].get_title(loc="left") == "static batching: 5 steps" and axes[1].get_ylabel() == "request"
    assert "step" in axes[-1].get_xlabel()
    image = axes[1].get_images()[0].get_array()
    codes = list(plots.TIMELINE_STATES)
    assert image.shape == (3, 5) and image[2, 4] == codes.index("!") and image[0, 3] == codes.index(".")
    texts = _legend_texts(fig)
    assert len(texts) == 6 and any("padding" in t for t in texts) and any("preempted" in t for t in texts)
    plt.close(fig)
    fig = plots.plot_timeline({"engine": ["pd", "wp"]})
    assert not any("padding" in t for t in _legend_texts(fig))          # only the states drawn are explained
    plt.close(fig)


@pytest.mark.parametrize("panels, match", [({}, "panels"), ({"a": []}, "one length"), ({"a": ["pd", "p"]}, "one length"),
                                           ({"a": ["pz"]}, "unknown states")])
def test_timeline_rejects_bad_rows(panels, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_timeline(panels)


def test_kv_usage_bars_and_block_size_curve():
    schemes = {"static batching (contiguous)": (1000, 370), "engine (paged, 16-token blocks)": (500, 470)}
    fig = plots.plot_kv_usage(schemes, block_sizes=[1, 4, 16, 64], used_by_block_size=[1.0, 0.98, 0.94, 0.8],
                              device="cpu", dtype="float32")
    left, right = fig.axes
    assert left.get_xlabel() and right.get_xlabel() == "block size (tokens per block)" and "%" in right.get_ylabel()
    assert "cpu" in fig._suptitle.get_text() and "float32" in fig._suptitle.get_text()
    shares = [t.get_text() for t in left.texts]
    assert shares == [" 94% in use", " 37% in use"]                      # the first scheme drawn on top
    labels = [t.get_text() for t in right.get_legend().get_texts()]
    assert labels[0] == "paged cache (measured)" and labels[1:] == list(schemes)
    assert list(right.get_lines()[0].get_ydata()) == [100.0, 98.0, 94.0, 80.0]
    plt.close(fig)
    fig = plots.plot_kv_usage({"paged": (10, 9)})
    assert len(fig.axes) == 1 and fig.axes[0].get_legend() is not None
    plt.close(fig)


@pytest.mark.parametrize("kwargs, match", [
    ({"schemes": {}}, "schemes"),
    ({"schemes": {"a": (10, 11)}}, "used <= reserved"),
    ({"schemes": {"a": (0, 0)}}, "reserved > 0"),
    ({"schemes": {"a": (10, 5)}, "block_sizes": [1, 2]}, "together"),
    ({"schemes": {"a": (10, 5)}, "block_sizes": [1, 2], "used_by_block_size": [0.5]}, "together"),
])
def test_kv_usage_rejects_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        plots.plot_kv_usage(**kwargs)


def _summary(tps, ttft, tpot, with_interval=True):
    def one(v):
        return {"median": v, "interval": (0.9 * v, 1.1 * v)} if with_interval else {"median": v}
    return {"tokens_per_s": one(tps), "ttft_p50": one(ttft), "ttft_p99": one(2 * ttft), "tpot_p50": one(tpot),
            "tpot_p99": one(1.5 * tpot)}


def test_serving_three_panels_with_error_bars():
    systems = {"one at a time": _summary(1400, 1.4, 0.0006), "static batching": _summary(1000, 1.9, 0.0025),
               "engine": _summary(1800, 0.55, 0.0036)}
    fig = plots.plot_serving(systems, source="reference: AMD EPYC (serving_cpu.json)", interval_kind="95% interval")
    tput, ttft, tpot = fig.axes
    assert "reference: AMD EPYC" in fig._suptitle.get_text() and "cpu" in fig._suptitle.get_text()
    assert tput.get_ylabel() == "output tokens / s" and ttft.get_ylabel() == "ms" and tpot.get_title()
    assert [t.get_text() for t in tput.get_xticklabels()] == list(systems)
    assert [t.get_text() for t in ttft.get_legend().get_texts()] == ["p50", "p99"]
    heights = [p.get_height() for p in ttft.patches]
    assert np.allclose(heights, [1400, 1900, 550, 2800, 3800, 1100])     # seconds drawn as ms, p50 then p99
    assert tput.containers and any(c.has_yerr for c in tput.containers if hasattr(c, "has_yerr"))
    plt.close(fig)
    fig = plots.plot_serving({"engine": _summary(1800, 0.5, 0.003, with_interval=False)})
    plt.close(fig)


def test_serving_rejects_a_missing_figure():
    with pytest.raises(ValueError, match="systems"):
        plots.plot_serving({})
    broken = _summary(1000, 1.0, 0.001)
    del broken["tpot_p99"]
    with pytest.raises(ValueError, match="tpot_p99"):
        plots.plot_serving({"engine": broken})
