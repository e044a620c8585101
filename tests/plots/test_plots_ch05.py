"""plots.ch05: the context curve (bands, plain tick labels, bins named on the axis) and the decoding
sweep (one panel per metric on its own scale, error bars where given, no lines across settings)."""
import matplotlib.pyplot as plt
import pytest

from nanoinfer_lib import plots

BINS = [(1, 1), (2, 3), (4, 7), (8, 15), (16, 31), (32, 63), (64, 127), (128, 255), (256, 512)]


def test_context_curve_draws_bands_and_names_the_bins():
    ppl = {"held-out": [100.0, 60.0, 50.0, 52.0, 50, 47, 48, 49, 52], "shuffled": [330.0, 310.0, 300.0] + [296.0] * 6}
    iv = {"held-out": [(90, 110), (55, 66), (45, 55)] + [(40, 60)] * 6}
    fig = plots.plot_context_curve(BINS, ppl, uniform=2048, intervals=iv, interval_label="95% block bootstrap")
    ax = fig.axes[0]
    assert len(ax.collections) == 1                                   # one band: only held-out has intervals
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "held-out: 95% block bootstrap" in labels and any("uniform" in s for s in labels)
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["1", "2-3", "4-7"]
    fig.canvas.draw()
    ticks = [t.get_text() for t in ax.get_yticklabels(which="both") if t.get_text()]
    assert "100" in ticks and "1000" in ticks and not any("^" in t for t in ticks)   # plain numbers, not 10^x
    boxes = [t.get_window_extent() for t in ax.get_xticklabels()]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:]), "bin labels collide"
    assert "cpu" in ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close(fig)
    with pytest.raises(ValueError, match="intervals"):
        plots.plot_context_curve(BINS, ppl, intervals={"other": [(1, 2)] * len(BINS)})
    with pytest.raises(ValueError, match="perplexities"):
        plots.plot_context_curve(BINS, {"x": [1.0]})


def test_decoding_sweep_gives_each_metric_its_own_scale():
    scores = {"BLEU-2": [0.038, 0.028, 0.012], "ROUGE-L F": [0.125, 0.105, 0.081], "distinct-2": [0.34, 0.81, 0.92]}
    errs = {name: [0.01, 0.01, 0.01] for name in scores}
    fig = plots.plot_decoding_sweep(["greedy", "T=0.5", "T=0.8"], scores, [10.9, 19.1, 44.1], n_examples=50,
                                    score_errors=errs, perplexity_range=[(10.9, 10.9), (18, 20), (40, 48)],
                                    n_seeds=3, error_label="95% (jackknife)")
    *score_axes, ax_p = fig.axes
    assert [ax.get_title() for ax in score_axes] == list(scores)
    assert "jackknife" in fig._suptitle.get_text()
    for ax, values in zip(score_axes, scores.values()):
        lo, hi = ax.get_ylim()
        assert hi - lo < 0.5 * (max(values) - min(values) + 0.02) + 0.5   # zoomed to its data, not 0-1
        assert ax.containers and ax.containers[0].has_yerr
        assert all(line.get_linestyle() == "None" for line in ax.get_lines() if len(line.get_xdata()) == 3)
    lo, hi = score_axes[1].get_ylim()
    assert hi - lo < 0.2                                              # ROUGE-L's differences are visible
    assert ax_p.get_yscale() == "log" and "seed" in ax_p.get_title()
    assert "50 prompts" in fig._suptitle.get_text() and "3 seeds" in fig._suptitle.get_text()
    plt.close(fig)
    fig = plots.plot_decoding_sweep(["a", "b"], {"BLEU-2": [0.01, 0.99]}, [5.0, 6.0], n_examples=9,
                                    score_errors={"BLEU-2": [0.05, 0.05]})
    (bars,) = [c for c in fig.axes[0].collections if len(c.get_segments()) == 2]
    lows, highs = zip(*[(seg[0][1], seg[1][1]) for seg in bars.get_segments()])
    assert min(lows) == pytest.approx(0.0) and max(highs) == pytest.approx(1.0)      # clipped to [0, 1]
    plt.close(fig)
    with pytest.raises(ValueError, match="score_errors"):
        plots.plot_decoding_sweep(["a"], {"x": [0.1]}, [1.0], n_examples=1, score_errors={"y": [0.1]})
