"""plots, every chapter: each figure has a title and labelled axes, legends cover no data, bad input
is a clear error; the shared helpers (error_bars, tail_words)."""
import matplotlib
import pytest
import torch

from nanoinfer_lib import plots
from nanoinfer_lib.plots._axes import error_bars

from _helpers import legend_covers_data, legend_fonts_readable


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
        legend_fonts_readable(fig)
        assert not legend_covers_data(fig)
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


def test_error_bars_are_distances_to_the_interval_never_negative():
    assert error_bars([1.0], None) is None
    assert error_bars([2.0, 5.0], [(1.0, 4.0), (5.5, 6.0)]).tolist() == [[1.0, 0.0], [2.0, 1.0]]
    with pytest.raises(ValueError, match="ms_range must give one"):
        error_bars([1.0, 2.0], [(0.0, 1.0)], "ms_range")
