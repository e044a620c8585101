"""plots.ch04: timings with their intervals, legends that cover nothing, bad input a clear error."""
import matplotlib.pyplot as plt
import pytest


from nanoinfer_lib import plots


def test_run_times_on_a_linear_axis_with_intervals_labelled_by_what_they_are():
    fig = plots.plot_run_times({"cold": [14.0], "warm": [11.0, 11.5, 12.0, 10.9], "many": [1.0 + i / 10 for i in range(10)]},
                               title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "ms" in ax.get_xlabel() and ax.containers    # error bar of the median
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels == ["median, one run: no spread", "median, range of 4 runs (covers the median 88% of the time)",
                      "median, 95% interval of the median (10 runs)"]
    plt.close(fig)
    with pytest.raises(ValueError, match="runs"):
        plots.plot_run_times({"a": []}, title="t")


def test_bar_panels_with_error_bars_and_no_legend():
    fig = plots.plot_bar_panels({"tokens/s": {"fp32": 100.0, "fp16": 50.0}, "MB": {"fp32": 4.0, "fp16": 2.0}},
                                title="t", intervals={"tokens/s": {"fp32": (90.0, 110.0), "fp16": (45.0, 52.0)}})
    speed, size = fig.axes
    assert all(ax.get_legend() is None for ax in fig.axes)
    fig2 = plots.plot_bar_panels({"tokens/s": {"bf16": 13613.0, "fp32": 0.031}}, title="t", baseline=1.0)
    assert [t.get_text() for t in fig2.axes[0].texts] == ["13,613", "0.031"]            # no e-notation
    tall, short = fig2.axes[0].texts
    assert tall.get_color() == "white" and tall.get_position()[1] < 13613.0     # inside its bar
    assert short.get_color() != "white" and short.get_position()[1] > 0.031     # above its bar, readable
    assert any(line.get_linestyle() == "--" for line in fig2.axes[0].lines)             # the baseline
    plt.close(fig2)
    assert speed.containers and "95%" in speed.get_title() and "95%" not in size.get_title()
    plt.close(fig)
    with pytest.raises(ValueError, match="panels"):
        plots.plot_bar_panels({}, title="t")
    with pytest.raises(ValueError, match="panels"):
        plots.plot_bar_panels({"x": {}}, title="t")


def test_batching_panels():
    curve = {"batch_size": [1, 2, 4], "value": [10.0, 19.0, 30.0], "interval": [(9, 11), (18, 20), (28, 33)]}
    fig = plots.plot_batching({"decode (tokens/s)": {"this CPU": curve},
                               "whole run (tokens/s)": {"this CPU": curve, "H100 reference file": dict(curve, interval=None)}},
                              title="same workload")
    assert len(fig.axes) == 2 and all(ax.get_legend() is None for ax in fig.axes) and len(fig.legends) == 1
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["this CPU", "H100 reference file"]
    assert all(ax.get_xscale() == "log" and ax.get_yscale() == "linear" and ax.containers for ax in fig.axes)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "4"]               # batch sizes, not 1.0
    assert ax.get_ylim()[0] == 0 and ax.get_yticks()[-1] >= 33                           # labels reach past the data
    plt.close(fig)
    with pytest.raises(ValueError, match="equal"):
        plots.plot_batching({"x": {"c": {"batch_size": [1], "value": [1.0, 2.0]}}})
    with pytest.raises(ValueError, match="intervals"):
        plots.plot_batching({"x": {"c": dict(curve, interval=[(1, 2)])}})
    with pytest.raises(ValueError, match="panels"):
        plots.plot_batching({})


def test_roofline_names_each_points_bound_and_draws_three_roofs():
    roofs = {"compute_GFLOPs": 120.0, "cache_GBps": 110.0, "dram_GBps": 40.0}
    points = [{"label": "bundled, batch 1", "intensity": 0.5, "achieved_GFLOPs": 3.0, "interval": (2.8, 3.1),
               "bound": "cache"},
              {"label": "GPT-2, batch 1", "intensity": 0.5, "achieved_GFLOPs": 12.0, "interval": None, "bound": "DRAM"}]
    fig = plots.plot_roofline(roofs, points, title="t", batch_marks={"GPT-2": {1: 0.5, 8: 3.9}})
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("compute roof" in t for t in labels) and any("cache read roof" in t for t in labels)
    assert any("DRAM read roof" in t for t in labels) and "bundled, batch 1 (bound: cache)" in labels
    assert ax.get_xscale() == ax.get_yscale() == "log" and "FLOPs per byte" in ax.get_xlabel()
    assert [t.get_text() for t in ax.texts] == ["B=1", "B=8"] and "GPT-2 decode at batch B (ticks)" in labels
    plt.close(fig)
    with pytest.raises(ValueError, match="dram_GBps"):
        plots.plot_roofline({"compute_GFLOPs": 1.0, "cache_GBps": 1.0}, points)
    with pytest.raises(ValueError, match="points"):
        plots.plot_roofline(roofs, [])
