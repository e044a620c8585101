"""plots.ch01: the next-token bar chart and the naive-cost figure: titles, labelled axes, error bars,
and bad input a clear error."""
import matplotlib
import pytest

from nanoinfer_lib import plots

from _helpers import legend_covers_data


def test_plot_next_token_probs_labels():
    fig = plots.plot_next_token_probs([" the", "\n", ","], [0.5, 0.3, 0.1], context="O Romeo", device="cpu",
                                      dtype="float32")
    ax = fig.axes[0]
    assert "cpu" in ax.get_title() and "float32" in ax.get_title() and "Romeo" in ax.get_title()
    assert ax.get_xlabel() and ax.get_ylabel()
    by_height = dict(zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels())))
    assert [by_height[y] for y in sorted(by_height, reverse=True)] == ["' the'", "'\\n'", "','"]  # top first
    assert ax.get_legend() is not None
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("tokens, probs", [([], []), (["a"], [0.1, 0.2]), (["a"], [1.5]), (["a"], [-0.1])])
def test_plot_next_token_probs_rejects_bad_input(tokens, probs):
    with pytest.raises(ValueError, match="probs"):
        plots.plot_next_token_probs(tokens, probs)


def test_plot_naive_cost_two_panels():
    flops = {"MLP": [1e9, 2e9, 3e9], "attention scores": [0.0, 1e8, 4e8]}
    fig = plots.plot_naive_cost([1, 2, 3], {"cpu": [1.0, 2.0, 3.0], "cuda": [1.0, 1.0, 1.0]}, flops, dtype="float32")
    ax_t, ax_f = fig.axes
    assert "float32" in ax_t.get_title()
    for ax in (ax_t, ax_f):
        assert ax.get_title() and "tokens" in ax.get_xlabel() and ax.get_ylabel() and ax.get_legend() is not None
    assert "ms" in ax_t.get_ylabel() and "FLOP" in ax_f.get_ylabel()
    assert [t.get_text() for t in ax_t.get_legend().get_texts()] == ["measured here: cpu", "measured here: cuda"]
    assert [t.get_text() for t in ax_f.get_legend().get_texts()] == list(flops)
    assert "formula" in ax_f.get_title()
    matplotlib.pyplot.close(fig)


def test_plot_naive_cost_error_bars_and_a_dashed_reference():
    flops = {"MLP": [1e9, 2e9, 3e9]}
    fig = plots.plot_naive_cost([1, 2, 3], {"cpu": [1.0, 2.0, 3.0]}, flops, ms_range={"cpu": [(0.9, 1.2), (1.8, 2.5), (2.9, 3.1)]},
                                reference={"reference: GPU9 (file.json)": ([16, 32], [0.5, 0.5])}, runs=7,
                                checked="torch's FLOP counter at T = 100", fit={"fit: a + b FLOPs": [1.1, 2.0, 2.9]})
    ax_t, ax_f = fig.axes
    labels = [t.get_text() for t in ax_t.get_legend().get_texts()]
    assert "reference: GPU9 (file.json)" in labels and "measured here: cpu" in labels and "fit: a + b FLOPs" in labels
    fit = next(l for l in ax_t.get_lines() if l.get_label() == "fit: a + b FLOPs")
    assert fit.get_linestyle() == ":" and list(fit.get_ydata()) == [1.1, 2.0, 2.9]
    ref = next(l for l in ax_t.get_lines() if l.get_label() == "reference: GPU9 (file.json)")
    assert ref.get_linestyle() == "--" and list(ref.get_xdata()) == [16, 32]
    assert ax_t.collections, "error bars are drawn"
    assert "7 runs" in ax_t.get_title() and "T = 100" in ax_f.get_title()
    assert not legend_covers_data(fig)
    matplotlib.pyplot.close(fig)


def test_plot_naive_cost_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="positions"):
        plots.plot_naive_cost([], {"cpu": []}, {"MLP": []})
    with pytest.raises(ValueError, match="flops_per_step"):
        plots.plot_naive_cost([1, 2], {"cpu": [1.0, 2.0]}, {"MLP": [1.0]})
    with pytest.raises(ValueError, match="ms_per_step"):
        plots.plot_naive_cost([1, 2], {"cpu": [1.0]}, {"MLP": [1.0, 2.0]})
    with pytest.raises(ValueError, match="ms_per_step"):
        plots.plot_naive_cost([1, 2], {}, {"MLP": [1.0, 2.0]})
    with pytest.raises(ValueError, match="ms_range"):
        plots.plot_naive_cost([1, 2], {"cpu": [1.0, 2.0]}, {"MLP": [1.0, 2.0]}, ms_range={"gpu": [(0, 1), (0, 1)]})
    with pytest.raises(ValueError, match="reference"):
        plots.plot_naive_cost([1, 2], {"cpu": [1.0, 2.0]}, {"MLP": [1.0, 2.0]}, reference={"r": ([1], [1.0, 2.0])})
    with pytest.raises(ValueError, match="fit"):
        plots.plot_naive_cost([1, 2], {"cpu": [1.0, 2.0]}, {"MLP": [1.0, 2.0]}, fit={"line": [1.0]})
