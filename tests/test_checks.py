"""checks: every exercise self-check accepts right answers and rejects the usual wrong ones with a hint."""
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import checks, generate
from nanoinfer_lib.sampling import top_p_filter


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "01_autoregressive_generation.ipynb"


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
    assert checks.check_forward_tokens(lambda P, n, bs: sum(min(P + i, bs) for i in range(n))).ok is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda P, n, bs: None, "returned None"),
    (lambda P, n, bs: sum(P + i for i in range(n)), "block_size"),            # forgets the crop
    (lambda P, n, bs: sum(min(P + i + 1, bs) for i in range(n)), "not i + 1"),  # off by one
    (lambda P, n, bs: P * n, "you said"),
    (lambda P, n, bs: 1 / 0, "ZeroDivisionError"),
])
def test_check_forward_tokens_rejects_wrong_answers(capsys, wrong, hint):
    assert checks.check_forward_tokens(wrong).ok is False
    out = capsys.readouterr().out
    assert "✗" in out and hint in out


def test_checks_reject_non_callables():
    with pytest.raises(TypeError, match="fn"):
        checks.check_forward_tokens(42)
    with pytest.raises(TypeError, match="fn"):
        checks.check_greedy_with_stop("not a function", model=None)


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
    assert checks.check_greedy_with_stop(greedy_with_stop, tiny_model).ok is True
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
    assert checks.check_greedy_with_stop(wrong, tiny_model).ok is False
    out = capsys.readouterr().out
    assert "✗" in out and hint in out


@pytest.mark.parametrize("setting, words", [
    ("top_k=2", {"the", "a"}), ("top_p=0.7", {"the", "a", "my"}), ("min_p=0.3", {"the", "a", "my", "thy"}),
    ("top_k=3, top_p=0.75", {"the", "a"}), ("temperature=2.0, top_p=0.7", {"the", "a", "my", "thy"}),
    ("temperature=0", {"the"}),
])
def test_survivor_exercise_answers_by_hand(setting, words):
    assert checks.survivors(setting) == words


def test_check_survivors(capsys):
    right = {s: checks.survivors(s) for s in checks.SURVIVOR_SETTINGS}
    assert checks.check_survivors(right).ok is True
    assert checks.check_survivors({**right, "top_p=0.7": {"the", "a"}}).ok is False
    assert "hint" in capsys.readouterr().out
    assert checks.check_survivors({s: ... for s in checks.SURVIVOR_SETTINGS}).ok is False
    assert checks.check_survivors({**right, "top_k=2": {"the", "zebra"}}).ok is False
    with pytest.raises(TypeError, match="answers"):
        checks.check_survivors([])


def test_check_top_p_accepts_the_library_and_rejects_common_bugs(capsys):
    assert checks.check_top_p(top_p_filter).ok is True

    def drops_crossing(x, p):
        s, i = torch.sort(x, descending=True)
        remove = F.softmax(s, -1).cumsum(-1) > p
        remove[..., 0] = False
        return x.masked_fill(remove.scatter(-1, i, remove), float("-inf"))

    def in_place(x, p):
        x[~torch.isfinite(top_p_filter(x, p))] = float("-inf")
        return x

    assert checks.check_top_p(drops_crossing).ok is False
    assert "crosses" in capsys.readouterr().out
    assert checks.check_top_p(in_place).ok is False
    assert "in place" in capsys.readouterr().out
    assert checks.check_top_p(lambda x, p: None).ok is False
    with pytest.raises(TypeError, match="fn"):
        checks.check_top_p(3)


def test_check_distinct_n():
    def right(samples, n):
        grams = [tuple(s[i:i + n]) for s in samples for i in range(len(s) - n + 1)]
        return len(set(grams)) / len(grams) if grams else 0.0

    def crosses_samples(samples, n):
        flat = [t for s in samples for t in s]
        return right([flat], n)

    assert checks.check_distinct_n(right).ok is True
    assert checks.check_distinct_n(crosses_samples).ok is False


def test_a_verdict_is_truthy_and_shows_nothing_more_in_a_notebook(capsys):
    ok, bad = checks.Verdict(True), checks.Verdict(False)
    assert ok and not bad and ok.ok is True and bad.ok is False
    assert ok._ipython_display_() is None and repr(bad) == "Verdict(ok=False)"


def test_top_k_mass_is_the_kept_share_of_the_next_token_probability(bundled):
    model, tok = bundled
    ids = tok.encode("The", return_tensors="pt")
    with torch.no_grad():
        probs = torch.softmax(model(ids)[0, -1], -1)
    assert abs(checks.top_k_mass(model, tok, "The", 10) - probs.topk(10).values.sum().item()) < 1e-5
    assert abs(checks.top_k_mass(model, tok, "The", model.config.vocab_size) - 1.0) < 1e-5


def test_check_top_k_mass(bundled, capsys):
    model, tok = bundled
    confident, uncertain = "ROMEO.\nGood morrow, gentle Juliet. What news?\n\nJULIET.", "The"
    assert checks.check_top_k_mass(10, confident, uncertain, model, tok).ok is True
    assert "✓" in capsys.readouterr().out
    assert checks.check_top_k_mass(10, uncertain, confident, model, tok).ok is False       # swapped
    assert "hint" in capsys.readouterr().out
    assert checks.check_top_k_mass(..., ..., ..., model, tok).ok is False
    assert "not answered yet" in capsys.readouterr().out
    assert checks.check_top_k_mass(model.config.vocab_size, confident, uncertain, model, tok).ok is False


@pytest.mark.parametrize("args, error, name", [
    (("10", "a", "b"), TypeError, "k"), ((0, "a", "b"), ValueError, "k"), ((10, 3, "b"), TypeError, "confident_prompt"),
    ((10, "a", ""), ValueError, "uncertain_prompt"),
])
def test_check_top_k_mass_rejects_bad_input(bundled, args, error, name):
    with pytest.raises(error, match=name):
        checks.check_top_k_mass(*args, *bundled)
