"""Chapter 03 beyond the core tests: hand-computed sampling cases, the exercise checks, the plots,
and the notebook's structure (Colab cell, execution order, which cells ignore their output)."""
import json
import math
from pathlib import Path

import matplotlib
import pytest
import torch
import torch.nn.functional as F

matplotlib.use("Agg")

from nanoinfer_lib import checks, plots  # noqa: E402
from nanoinfer_lib.course import COLAB_INSTALL  # noqa: E402
from nanoinfer_lib.sampling import process_logits, sample_next_token, top_p_filter  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_sampling_strategies.ipynb"


def kept(logits):
    return torch.isfinite(logits).nonzero().flatten().tolist()


def test_top_p_hand_case_from_the_chapter():
    logits = torch.tensor([0.4, 0.3, 0.2, 0.1]).log()
    assert kept(top_p_filter(logits, 0.6)) == [0, 1]
    shuffled = torch.tensor([0.1, 0.3, 0.4, 0.2]).log()             # unsorted vocabulary order
    assert kept(top_p_filter(shuffled, 0.6)) == [1, 2]
    g = torch.Generator().manual_seed(0)
    draws = sample_next_token(shuffled.expand(2000, -1), top_p=0.6, generator=g)
    assert set(draws.tolist()) == {1, 2}
    assert abs((draws == 2).float().mean().item() - 0.4 / 0.7) < 0.04   # renormalised over the two


def tutorial_top_p_mask(logits, p):
    """The original tutorial's top-p masking, returned as the kept mask (it mutates its argument)."""
    logits = logits.clone()
    sorted_logits, sorted_indices = torch.sort(logits, descending=True)
    cumulative_probs = torch.cumsum(F.softmax(sorted_logits, dim=-1), dim=-1)
    remove = cumulative_probs > p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    logits[remove] = float("-inf")
    return torch.isfinite(logits)


def test_tutorial_snippet_keeps_the_lowest_ids_not_the_nucleus():
    logits = torch.tensor([0.05, 0.05, 0.1, 0.5, 0.3]).log()       # nucleus(0.7): ids 3 and 4
    assert kept(top_p_filter(logits, 0.7)) == [3, 4]
    assert tutorial_top_p_mask(logits, 0.7).nonzero().flatten().tolist() == [0, 1]
    assert checks.check_top_p(lambda x, p: x.masked_fill(~tutorial_top_p_mask(x, p), float("-inf"))) is False


@pytest.mark.parametrize("setting, words", [
    ("top_k=2", {"the", "a"}), ("top_p=0.7", {"the", "a", "my"}), ("min_p=0.3", {"the", "a", "my", "thy"}),
    ("top_k=3, top_p=0.75", {"the", "a"}), ("temperature=2.0, top_p=0.7", {"the", "a", "my", "thy"}),
    ("temperature=0", {"the"}),
])
def test_survivor_exercise_answers_by_hand(setting, words):
    assert checks.survivors(setting) == words


def test_top_p_after_top_k_uses_the_renormalised_survivors():
    logits = torch.tensor([math.log(p) for p in checks.SURVIVOR_PROBS.values()])
    assert kept(process_logits(logits, top_k=3, top_p=0.75)) == [0, 1]   # 0.35/0.75 + 0.25/0.75 > 0.75
    assert kept(process_logits(logits, top_p=0.75)) == [0, 1, 2]          # without top-k: 0.35+0.25 < 0.75


def test_check_survivors(capsys):
    right = {s: checks.survivors(s) for s in checks.SURVIVOR_SETTINGS}
    assert checks.check_survivors(right) is True
    assert checks.check_survivors({**right, "top_p=0.7": {"the", "a"}}) is False
    assert "hint" in capsys.readouterr().out
    assert checks.check_survivors({s: ... for s in checks.SURVIVOR_SETTINGS}) is False
    assert checks.check_survivors({**right, "top_k=2": {"the", "zebra"}}) is False
    with pytest.raises(TypeError, match="answers"):
        checks.check_survivors([])


def test_check_top_p_accepts_the_library_and_rejects_common_bugs(capsys):
    assert checks.check_top_p(top_p_filter) is True

    def drops_crossing(x, p):
        s, i = torch.sort(x, descending=True)
        remove = F.softmax(s, -1).cumsum(-1) > p
        remove[..., 0] = False
        return x.masked_fill(remove.scatter(-1, i, remove), float("-inf"))

    def in_place(x, p):
        x[~torch.isfinite(top_p_filter(x, p))] = float("-inf")
        return x

    assert checks.check_top_p(drops_crossing) is False
    assert "crosses" in capsys.readouterr().out
    assert checks.check_top_p(in_place) is False
    assert "in place" in capsys.readouterr().out
    assert checks.check_top_p(lambda x, p: None) is False
    with pytest.raises(TypeError, match="fn"):
        checks.check_top_p(3)


def test_check_distinct_n():
    def right(samples, n):
        grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    def crosses_samples(samples, n):
        flat = [t for s in samples for t in s]
        return right([flat], n)

    assert checks.check_distinct_n(right) is True
    assert checks.check_distinct_n(crosses_samples) is False


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


@pytest.mark.skipif(not NOTEBOOK.exists(), reason="notebook not present")
def test_notebook_structure():
    nb = json.loads(NOTEBOOK.read_text())
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert COLAB_INSTALL in "".join(code[0]["source"]) and "google.colab" in "".join(code[0]["source"])
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))    # executed top to bottom
    ignored = ["".join(c["source"]) for c in code if "NBVAL_IGNORE_OUTPUT" in "".join(c["source"])]
    for src in ignored:       # only setup (versions), the widgets and the timing ignore their output
        assert "setup(" in src or "SamplingExplorer(" in src or "interact_sampling(" in src or "perf_counter" in src
    for c in code:
        for out in c["outputs"]:
            assert out["output_type"] != "error"
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert "/work" not in text and "/tmp" not in text and "Warning" not in text
