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
    assert not _legend_covers_data(fig)
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


def test_plots_have_titles_labels_and_reject_bad_input():
    figs = [
        plots.plot_distribution(["a", "b", "\n"], [0.5, 0.3, 0.1], kept=[True, True, False]),
        plots.plot_temperature_grid(["a", "b"], {0.5: [0.9, 0.1], 1.0: [0.6, 0.4]}),
        plots.plot_entropy_vs_temperature([0.5, 1.0], {"x": [1.0, 2.0]}, vocab_size=8),
        plots.plot_top_p_survivors([0.5, 0.9], {"median": [3, 10]}, top_ks=(5,), n_positions=4),
        plots.plot_kept_by_rank(torch.tensor([0.5, 0.3, 0.2]), {"top-k": [True, True, False]}),
        plots.plot_diversity_vs_perplexity(["greedy", "T=1"], [0.1, 0.9], [5.0, 50.0]),
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
        plots.plot_diversity_vs_perplexity(["a"], [0.1, 0.2], [1.0])
    with pytest.raises(ValueError, match="perplexity_interval"):
        plots.plot_diversity_vs_perplexity(["a"], [0.1], [1.0], perplexity_interval=[])


def _legend_covers_data(fig) -> bool:
    """True when a legend drawn inside its axes covers a plotted point of those axes."""
    fig.canvas.draw()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent()
        if not box.overlaps(ax.get_window_extent()):
            continue                                           # outside the axes: covers nothing
        for line in ax.get_lines():
            xy = ax.transData.transform(line.get_xydata())
            if any(box.contains(x, y) for x, y in xy):
                return True
    return False


def _fonts_and_titles(fig):
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert all(t.get_fontsize() >= 8 for t in legend.get_texts())
    for legend in fig.legends:
        assert all(t.get_fontsize() >= 8 for t in legend.get_texts())


def test_chapter_figures_legends_are_readable_and_cover_no_data():
    probs = [0.5, 0.2, 0.1, 0.08, 0.05, 0.04, 0.03]
    figs = [
        plots.plot_next_token_probs(["a", "b", "c"], [0.5, 0.3, 0.1], context="x" * 10),
        plots.plot_distribution(list("abcdefg"), probs, kept=[True] * 4 + [False] * 3),
        plots.plot_entropy_vs_temperature([0.5, 1.0, 2.0], {"x": [1.0, 5.0, 10.0], "y": [0.0, 1.0, 9.0]}, vocab_size=2048),
        plots.plot_top_p_survivors([0.1, 0.5, 0.9], {"median": [1, 10, 300]}, top_ks=(10, 50)),
        plots.plot_kept_by_rank(torch.tensor(probs), {"top-k": [True] * 3 + [False] * 4}),
        plots.plot_diversity_vs_perplexity(["greedy", "T=0.1", "T=1"], [0.5, 0.55, 0.95], [6.0, 6.2, 45.0],
                                           diversity_interval=[(0.4, 0.6), (0.5, 0.6), (0.9, 1.0)],
                                           perplexity_interval=[(5, 7), (5, 7), (40, 50)], human=(0.92, 46.0)),
        plots.plot_context_curve([(1, 1), (2, 3), (4, 7)], {"held-out": [100.0, 60.0, 50.0]}, uniform=2048),
        plots.plot_decoding_sweep(["greedy", "T=1"], {"BLEU-2": [0.04, 0.01], "ROUGE-L F": [0.12, 0.08]}, [10.0, 70.0],
                                  n_examples=50, score_errors={"ROUGE-L F": [0.02, 0.02]},
                                  perplexity_range=[(10.0, 10.0), (60.0, 80.0)], n_seeds=3),
    ]
    for fig in figs:
        _fonts_and_titles(fig)
        assert not _legend_covers_data(fig)
        matplotlib.pyplot.close(fig)


def test_diversity_plot_marks_the_human_text_and_labels_every_point():
    fig = plots.plot_diversity_vs_perplexity(["greedy", "T=0.1", "T=1"], [0.5, 0.51, 0.95], [6.0, 6.1, 45.0],
                                             human=(0.92, 46.0))
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert set(texts) == {"greedy", "T=0.1", "T=1", "human text"}
    fig.canvas.draw()
    boxes = [t.get_window_extent() for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "labels overlap"
    assert "not a quality score" in fig._suptitle.get_text() and ax.get_yscale() == "log"
    matplotlib.pyplot.close(fig)


@pytest.mark.parametrize("text, n, want", [
    ("JULIET.\nO Romeo, Romeo, wherefore art thou", 30, "…Romeo, wherefore art thou"),
    ("short", 30, "short"),
    ("a verylongwordthatdoesnotfit", 10, "…verylongwordthatdoesnotfit"),
])
def test_tail_words_keeps_whole_words(text, n, want):
    assert plots.tail_words(text, n) == want
    assert plots.tail_words(text, n).lstrip("…") in text
