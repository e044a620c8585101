"""plots.ch03: the distribution's legend says "kept" only when something was filtered; the diversity
plot labels every point once, with no label on another label or on any marker, also in its zoom panel."""
import matplotlib.pyplot as plt
from matplotlib.text import Text
from matplotlib.transforms import Bbox
import pytest
import torch

from nanoinfer_lib import plots

# the shape of chapter 03's table: two points far left, one far up, nine in a tight cluster
NAMES = ["greedy", "T=0.1", "T=0.7", "T=1.0", "T=2.0", "top-k=10", "top-k=50", "top-p=0.9", "top-p=0.95",
         "min-p=0.1", "T=0.7 top-p=0.9"]
D2 = [0.509, 0.582, 0.914, 0.967, 1.0, 0.899, 0.949, 0.954, 0.955, 0.908, 0.884]
PPL = [6.0, 6.0, 15.3, 45.8, 1894, 11.8, 22.5, 31.1, 34.2, 12.4, 11.7]
HUMAN = (0.920, 46.4)
ZOOM = ((0.84, 0.99), (8.8, 60.0))


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_distribution_legend_says_kept_only_when_filtered():
    fig = plots.plot_distribution(["a", "b"], [0.6, 0.3])
    assert "kept" not in " ".join(_legend_texts(fig.axes[0]))
    fig2 = plots.plot_distribution(["a", "b"], [0.6, 0.3], kept=[True, False])
    assert {"kept", "removed"} <= set(_legend_texts(fig2.axes[0]))
    plt.close("all")


def _labels_are_clear(ax):
    fig = ax.figure
    fig.canvas.draw()
    r = fig.canvas.get_renderer()
    px = fig.dpi / 72
    boxes = [Text.get_window_extent(t, r) for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "labels overlap"
    inside = ax.get_window_extent()
    assert all(inside.x0 <= b.x0 and b.x1 <= inside.x1 and inside.y0 <= b.y0 and b.y1 <= inside.y1 for b in boxes)
    for line in ax.get_lines():
        if line.get_linestyle() not in ("None", "") or line.get_marker() in ("None", "", "|", "_"):
            continue                                                  # only the points' own markers
        half = 0.5 * line.get_markersize() * px
        for x, y in ax.transData.transform(line.get_xydata()):
            if inside.contains(x, y):
                marker = Bbox.from_bounds(x - half, y - half, 2 * half, 2 * half)
                assert not any(b.overlaps(marker) for b in boxes), "a label covers a marker"


def test_diversity_plot_labels_cover_no_marker_and_no_label():
    fig = plots.plot_diversity_vs_perplexity(NAMES, D2, PPL, human=HUMAN,
                                             diversity_interval=[(d - 0.03, d + 0.02) for d in D2],
                                             perplexity_interval=[(p / 1.2, p * 1.2) for p in PPL])
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(NAMES + ["human text"])
    _labels_are_clear(ax)
    plt.close(fig)


def test_diversity_plot_zoom_panel_labels_the_cluster_and_the_overview_the_rest():
    fig = plots.plot_diversity_vs_perplexity(NAMES, D2, PPL, human=HUMAN, zoom=ZOOM,
                                             diversity_interval=[(d - 0.03, d + 0.02) for d in D2],
                                             perplexity_interval=[(p / 1.2, p * 1.2) for p in PPL])
    overview, zoomed = fig.axes[:2]
    outside = [n for n, d, p in zip(NAMES, D2, PPL) if not (ZOOM[0][0] <= d <= ZOOM[0][1] and ZOOM[1][0] <= p <= ZOOM[1][1])]
    assert sorted(t.get_text() for t in overview.texts) == sorted(outside) == ["T=0.1", "T=2.0", "greedy"]
    assert sorted(t.get_text() for t in zoomed.texts) == sorted(set(NAMES) - set(outside) | {"human text"})
    assert zoomed.get_xlim() == ZOOM[0] and zoomed.get_ylim() == ZOOM[1]
    assert "not a quality score" in fig._suptitle.get_text() and overview.get_yscale() == "log"
    for ax in (overview, zoomed):
        _labels_are_clear(ax)
    assert len(fig.legends) == 1
    plt.close(fig)


def test_diversity_plot_rejects_a_bad_zoom():
    with pytest.raises(ValueError, match="zoom"):
        plots.plot_diversity_vs_perplexity(["a"], [0.1], [1.0], zoom=((0.5, 0.4), (1.0, 2.0)))
    with pytest.raises(ValueError, match="zoom"):
        plots.plot_diversity_vs_perplexity(["a"], [0.1], [1.0], zoom=((0.1, 0.4), (0.0, 2.0)))


def test_kept_by_rank_counts_tokens_in_words():
    fig = plots.plot_kept_by_rank(torch.tensor([0.7, 0.2, 0.1]), {"top-p": [True, False, False]})
    texts = _legend_texts(fig.axes[0])
    assert texts[0].startswith("kept: 1 token,") and texts[1] == "removed: 2 tokens"
    plt.close(fig)
