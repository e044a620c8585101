"""plots.ch06: every figure has a title, labelled axes and a legend; predictions are dashed and
labelled; measured values carry error bars; bad input is a clear error."""
import matplotlib.pyplot as plt
import numpy as np
import pytest

from nanoinfer_lib import plots


def _legend_texts(fig):
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    return [t.get_text() for leg in legends for t in leg.get_texts()]


def test_verify_cost_draws_each_curve_with_error_bars_beside_v_equals_1():
    curves = {"bundled, this CPU": {"k": [1, 2, 4], "value": [1.5, 1.9, 2.4], "interval": [(1.4, 1.6)] * 3},
              "GPT-2 shape, this CPU": {"k": [1, 2, 4], "value": [1.1, 1.0, 1.2]}}
    fig = plots.plot_verify_cost(curves, dtype="float32")
    ax = fig.axes[0]
    assert "float32" in ax.get_title() and "k + 1" in ax.get_xlabel() and "v_k" in ax.get_ylabel()
    texts = _legend_texts(fig)
    assert texts[:2] == list(curves) and any("v_k = 1" in t for t in texts)
    assert ax.containers and list(ax.get_xticks()) == [1, 2, 4]
    plt.close(fig)
    with pytest.raises(ValueError, match="curves"):
        plots.plot_verify_cost({})
    with pytest.raises(ValueError, match="equal"):
        plots.plot_verify_cost({"a": {"k": [1, 2], "value": [1.0]}})
    with pytest.raises(ValueError, match="intervals"):
        plots.plot_verify_cost({"a": {"k": [1, 2], "value": [1.0, 1.1], "interval": [(1, 2)]}})


def test_token_distribution_one_panel_per_position():
    exact = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    fig = plots.plot_token_distribution(exact, exact + 0.01, draft=[[0.2, 0.6, 0.2]],
                                        panel_titles=["first", "second"], n=1000)
    assert len(fig.axes) == 2 and [ax.get_title() for ax in fig.axes] == ["first", "second"]
    assert all(ax.get_xlabel() == "token id" for ax in fig.axes) and fig.axes[0].get_ylabel()
    assert "1,000" in fig._suptitle.get_text()
    assert _legend_texts(fig) == ["model p (exact)", "speculative sampling (measured)", "draft q (proposals)"]
    plt.close(fig)
    with pytest.raises(ValueError, match="shape"):
        plots.plot_token_distribution(exact, exact[:1])
    with pytest.raises(ValueError, match="draft"):
        plots.plot_token_distribution(exact, exact, draft=np.ones((3, 3)) / 3)
    with pytest.raises(ValueError, match="panel_titles"):
        plots.plot_token_distribution(exact, exact, panel_titles=["one"])


def test_acceptance_shows_the_formula_beside_the_measurement():
    fig = plots.plot_acceptance([1, 2, 3], [0.7, 0.68, 0.69], [1.6, 2.0, 2.3], [1.7, 2.1, 2.4], device="cpu")
    ax_a, ax_t = fig.axes
    assert "cpu" in fig._suptitle.get_text()
    assert all(ax.get_xlabel() and ax.get_ylabel() and ax.get_title() and ax.get_legend() for ax in fig.axes)
    labels = [t.get_text() for t in ax_t.get_legend().get_texts()]
    assert any("formula" in t for t in labels) and "measured" in labels and any("ceiling" in t for t in labels)
    plt.close(fig)
    with pytest.raises(ValueError, match="predicted"):
        plots.plot_acceptance([1, 2], [0.5, 0.5], [1.5, 1.7], [1.5])


def test_speedup_measured_with_intervals_and_dashed_predictions():
    fig = plots.plot_speedup([1, 2, 4], [0.9, 0.85, 0.75], [(0.88, 0.92)] * 3,
                             {"prediction, v_k = 1": [1.3, 1.4, 1.4], "prediction, measured v_k": [0.95, 0.9, 0.8]},
                             device="cpu", dtype="float32")
    ax = fig.axes[0]
    assert "cpu" in ax.get_title() and "float32" in ax.get_title() and ax.get_xlabel() and "speedup" in ax.get_ylabel()
    assert ax.containers                                                       # the measured error bars
    dashed = [line.get_label() for line in ax.get_lines() if line.get_linestyle() == "--"]
    assert dashed == ["prediction, v_k = 1", "prediction, measured v_k"]
    assert any("break-even" in t for t in _legend_texts(fig))
    plt.close(fig)
    with pytest.raises(ValueError, match="measured"):
        plots.plot_speedup([1, 2], [1.0], None, {})
    with pytest.raises(ValueError, match="prediction"):
        plots.plot_speedup([1, 2], [1.0, 1.1], None, {"p": [1.0]})
