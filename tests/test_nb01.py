"""Chapter 01: its plots, its exercise checks (they must accept right answers and reject wrong
ones), and the committed notebook's structure."""
import json
import re
from pathlib import Path

import matplotlib
import pytest
import torch

matplotlib.use("Agg")

from nanoinfer_lib import checks, generate, plots  # noqa: E402
from nanoinfer_lib.course import COLAB_INSTALL  # noqa: E402

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_autoregressive_generation.ipynb"


# ---------------------------------------------------------------- plots
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


# ---------------------------------------------------------------- exercise 2: forward tokens
@pytest.mark.parametrize("P, n", [(1, 1), (3, 5), (10, 10), (16, 3), (20, 4), (1, 0)])
def test_naive_forward_tokens_matches_what_generate_processes(tiny_model, P, n):
    """The reference count equals the tokens generate(use_cache=False) really feeds the model (block 16)."""
    seen = []
    hook = tiny_model.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape[1]))
    try:
        ids = torch.randint(0, 50, (1, P), generator=torch.Generator().manual_seed(P))
        generate(tiny_model, ids, max_new_tokens=n, temperature=0, use_cache=False)
    finally:
        hook.remove()
    assert sum(seen) == checks.naive_forward_tokens(P, n, tiny_model.config.block_size)
    assert len(seen) == n


def test_check_forward_tokens_accepts_the_right_answer(capsys):
    assert checks.check_forward_tokens(lambda P, n, bs: sum(min(P + i, bs) for i in range(n))) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda P, n, bs: None, "returned None"),
    (lambda P, n, bs: sum(P + i for i in range(n)), "block_size"),            # forgets the crop
    (lambda P, n, bs: sum(min(P + i + 1, bs) for i in range(n)), "not i + 1"),  # off by one
    (lambda P, n, bs: P * n, "you said"),
    (lambda P, n, bs: 1 / 0, "ZeroDivisionError"),
])
def test_check_forward_tokens_rejects_wrong_answers(capsys, wrong, hint):
    assert checks.check_forward_tokens(wrong) is False
    out = capsys.readouterr().out
    assert "✗" in out and hint in out


def test_checks_reject_non_callables():
    with pytest.raises(TypeError, match="fn"):
        checks.check_forward_tokens(42)
    with pytest.raises(TypeError, match="fn"):
        checks.check_greedy_with_stop("not a function", model=None)


# ---------------------------------------------------------------- exercise 1: greedy with stop
def greedy_with_stop(model, ids, stop_token, max_new_tokens, crop=True, keep_stop=True, stop=True):
    for _ in range(max_new_tokens):
        with torch.no_grad():
            logits = model(ids[:, -model.config.block_size:] if crop else ids)
        next_id = logits[:, -1, :].argmax(dim=-1, keepdim=True)
        if stop and not keep_stop and next_id.item() == stop_token:
            break
        ids = torch.cat([ids, next_id], dim=1)
        if stop and next_id.item() == stop_token:
            break
    return ids


def test_check_greedy_with_stop_accepts_the_right_answer(tiny_model, capsys):
    assert checks.check_greedy_with_stop(greedy_with_stop, tiny_model) is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda m, ids, s, n: None, "returned None"),
    (lambda m, ids, s, n: greedy_with_stop(m, ids, s, n, keep_stop=False), "keep the stop token"),
    (lambda m, ids, s, n: greedy_with_stop(m, ids, s, n, stop=False), "stop right after"),
    (lambda m, ids, s, n: greedy_with_stop(m, ids, s, n, crop=False), "crop"),
    (lambda m, ids, s, n: greedy_with_stop(m, ids, s, n)[:, ids.shape[1]:], "prompt"),
    (lambda m, ids, s, n: greedy_with_stop(m, ids, s, n)[0], "2-D"),
    (lambda m, ids, s, n: generate(m, ids, max_new_tokens=n, temperature=1.0, seed=1, stop_tokens=[s]),
     "expected"),                                                     # sampling instead of greedy
])
def test_check_greedy_with_stop_rejects_wrong_answers(tiny_model, capsys, wrong, hint):
    assert checks.check_greedy_with_stop(wrong, tiny_model) is False
    out = capsys.readouterr().out
    assert "✗" in out and hint in out


# ---------------------------------------------------------------- the committed notebook
@pytest.fixture(scope="module")
def notebook():
    if not NOTEBOOK.exists():
        pytest.skip("notebook not present")
    return json.loads(NOTEBOOK.read_text())


def test_notebook_first_cells(notebook):
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    install, setup = "".join(code[0]["source"]), "".join(code[1]["source"])
    assert "if IN_COLAB:" in install and f'%pip install -q "{COLAB_INSTALL}"' in install
    assert setup.startswith("# NBVAL_IGNORE_OUTPUT") and "setup(seed=0)" in setup


def test_notebook_is_executed_in_order_without_errors_or_paths(notebook):
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    for c in code:
        for out in c["outputs"]:
            assert out["output_type"] != "error"
            assert out.get("name") != "stderr", "".join(c["source"])[:80]
            text = json.dumps(out.get("text", "")) + json.dumps(out.get("data", {}).get("text/plain", ""))
            assert not re.search(r"/(work|tmp|root|home)/", text), "".join(c["source"])[:80]


def test_notebook_ignores_output_only_in_volatile_cells(notebook):
    volatile = ("setup(seed=0)", "perf_counter", "time_fn", "timings", 'Tokenizer("gpt2")')
    ignored = [c for c in notebook["cells"] if c["cell_type"] == "code"
               and "NBVAL_IGNORE_OUTPUT" in "".join(c["source"])]
    assert ignored
    for c in ignored:
        assert any(v in "".join(c["source"]) for v in volatile), "".join(c["source"])[:80]
