"""checks.ch01: the forward-token count and greedy-with-stop self-checks accept right answers and
reject the usual wrong ones with a hint."""
import pytest
import torch

from nanoinfer_lib import checks, generate


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
