"""plots.ch04: timings with their intervals, legends that cover nothing, bad input a clear error."""
import matplotlib.pyplot as plt
import pytest


from nanoinfer_lib import plots


def test_run_times_on_a_linear_axis_with_intervals():
    fig = plots.plot_run_times({"cold": [14.0], "warm": [11.0, 11.5, 12.0, 10.9]}, title="t")
    ax = fig.axes[0]
    assert ax.get_xscale() == "linear" and "ms" in ax.get_xlabel() and ax.containers    # error bar of the median
    assert ax.get_legend() is not None
    plt.close(fig)
    with pytest.raises(ValueError, match="runs"):
        plots.plot_run_times({"a": []}, title="t")


def test_bar_panels_with_error_bars_and_no_legend():
    fig = plots.plot_bar_panels({"tokens/s": {"fp32": 100.0, "fp16": 50.0}, "MB": {"fp32": 4.0, "fp16": 2.0}},
                                title="t", intervals={"tokens/s": {"fp32": (90.0, 110.0), "fp16": (45.0, 52.0)}})
    speed, size = fig.axes
    assert all(ax.get_legend() is None for ax in fig.axes)
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
    assert all(ax.get_xscale() == "log" and ax.containers for ax in fig.axes)
    plt.close(fig)
    with pytest.raises(ValueError, match="equal"):
        plots.plot_batching({"x": {"c": {"batch_size": [1], "value": [1.0, 2.0]}}})
    with pytest.raises(ValueError, match="intervals"):
        plots.plot_batching({"x": {"c": dict(curve, interval=[(1, 2)])}})
    with pytest.raises(ValueError, match="panels"):
        plots.plot_batching({})
