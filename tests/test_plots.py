"""plots: every figure has a title and labelled axes, and bad input is a clear error."""
import matplotlib
import pytest
import torch

from nanoinfer_lib import plots



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
    assert [t.get_text() for t in ax_t.get_legend().get_texts()] == ["measured on cpu", "measured on cuda"]
    assert [t.get_text() for t in ax_f.get_legend().get_texts()] == list(flops)
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


def test_plots_have_titles_labels_and_reject_bad_input():
    figs = [
        plots.plot_distribution(["a", "b", "\n"], [0.5, 0.3, 0.1], kept=[True, True, False]),
        plots.plot_temperature_grid(["a", "b"], {0.5: [0.9, 0.1], 1.0: [0.6, 0.4]}),
        plots.plot_entropy_vs_temperature([0.5, 1.0], {"x": [1.0, 2.0]}, vocab_size=8),
        plots.plot_top_p_survivors([0.5, 0.9], {"median": [3, 10]}, top_ks=(5,), n_positions=4),
        plots.plot_kept_by_rank(torch.tensor([0.5, 0.3, 0.2]), {"top-k": [True, True, False]}),
        plots.plot_quality_vs_diversity(["greedy", "T=1"], [0.1, 0.9], [5.0, 50.0], [0.9, 0.0]),
    ]
    for fig in figs:
        ax = fig.axes[0]
        assert (ax.get_title() or fig._suptitle.get_text()) and ax.get_xlabel() and ax.get_ylabel()
        matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="kept"):
        plots.plot_distribution(["a"], [0.5], kept=[True, False])
    with pytest.raises(ValueError):
        plots.plot_kept_by_rank(torch.tensor([0.5, 0.5]), {"m": [True]})
    with pytest.raises(ValueError):
        plots.plot_quality_vs_diversity(["a"], [0.1, 0.2], [1.0])
