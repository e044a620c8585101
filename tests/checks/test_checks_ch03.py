"""checks.ch03: typical_p_reference against a plain loop and hand-computed cases; check_typical_p
accepts correct versions (float32 or float64, log_softmax or log(softmax)) and names the usual mistakes."""
import math

import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import checks
from nanoinfer_lib.sampling import top_p_filter


def typical_by_loop(logits, p):
    """The rule written out over Python lists: one row of logits -> the set of kept token ids."""
    probs = F.softmax(logits.double(), -1).tolist()
    entropy = -sum(q * math.log(q) for q in probs if q > 0)
    ranked = sorted(range(len(probs)), key=lambda i: abs(-math.log(probs[i]) - entropy))
    kept, mass = [], 0.0
    for i in ranked:
        if kept and mass >= p:
            break
        kept.append(i)
        mass += probs[i]
    return set(kept)


def kept_ids(logits):
    return set(torch.isfinite(logits).nonzero().flatten().tolist())


def test_reference_on_a_hand_computed_case_drops_the_most_likely_token():
    # p = [0.5, 0.2, 0.15, 0.1, 0.05]: H = 1.333 nats; |-log p - H| = 0.64, 0.28, 0.56, 0.97, 1.66
    logits = torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]).log()
    assert kept_ids(checks.typical_p_reference(logits, 0.3)) == {1, 2}      # 0.2 + 0.15 >= 0.3: no 0.5
    assert kept_ids(checks.typical_p_reference(logits, 0.0)) == {1}         # the most typical always stays
    assert kept_ids(checks.typical_p_reference(logits, 0.6)) == {0, 1, 2}
    assert kept_ids(checks.typical_p_reference(logits, 1.0)) == {0, 1, 2, 3, 4}


def test_reference_equals_the_rule_written_as_a_loop():
    g = torch.Generator().manual_seed(1)
    for trial in range(200):
        V = int(torch.randint(2, 200, (1,), generator=g))
        x, p = torch.randn(V, generator=g) * 3, float(torch.rand(1, generator=g))
        assert kept_ids(checks.typical_p_reference(x, p)) == typical_by_loop(x, p)


def test_reference_works_on_batches_and_leaves_its_input_alone():
    x = torch.randn(3, 40, generator=torch.Generator().manual_seed(2))
    before = x.clone()
    out = checks.typical_p_reference(x, 0.7)
    assert torch.equal(x, before) and out.shape == x.shape
    for row in range(3):
        assert torch.equal(out[row], checks.typical_p_reference(x[row], 0.7))


def test_reference_rejects_bad_arguments():
    with pytest.raises(ValueError, match="typical_p"):
        checks.typical_p_reference(torch.zeros(4), 1.5)
    with pytest.raises(TypeError, match="logits"):
        checks.typical_p_reference([0.0, 1.0], 0.5)


def typical(logits, p, dtype=torch.float32, via_softmax=False):
    x = logits.to(dtype)
    logp = F.softmax(x, -1).log() if via_softmax else F.log_softmax(x, -1)
    entropy = -(logp.exp() * logp).nansum(-1, keepdim=True)
    order = (-logp - entropy).abs().argsort(-1)
    probs = logp.exp().gather(-1, order)
    remove = probs.cumsum(-1) - probs >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


@pytest.mark.parametrize("fn", [
    checks.typical_p_reference,
    typical,
    lambda x, p: typical(x, p, via_softmax=True),
    lambda x, p: typical(x, p, dtype=torch.float64),
])
def test_check_typical_p_accepts_correct_versions(fn, capsys):
    assert checks.check_typical_p(fn).ok is True
    assert "✓" in capsys.readouterr().out


def wrong_order(logits, p, score):
    logp = F.log_softmax(logits, -1)
    entropy = -(logp.exp() * logp).sum(-1, keepdim=True)
    order = score(logp, entropy).argsort(-1)
    probs = logp.exp().gather(-1, order)
    remove = probs.cumsum(-1) - probs >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def drops_crossing(logits, p):
    logp = F.log_softmax(logits, -1)
    entropy = -(logp.exp() * logp).sum(-1, keepdim=True)
    order = (-logp - entropy).abs().argsort(-1)
    remove = logp.exp().gather(-1, order).cumsum(-1) >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def no_scatter(logits, p):
    logp = F.log_softmax(logits, -1)
    entropy = -(logp.exp() * logp).sum(-1, keepdim=True)
    order = (-logp - entropy).abs().argsort(-1)
    probs = logp.exp().gather(-1, order)
    remove = probs.cumsum(-1) - probs >= p
    remove[..., 0] = False
    return logits.masked_fill(remove, float("-inf"))


def raw_logits(logits, p):                          # the logits used as if they were log-probabilities
    entropy = -(logits.exp() * logits).sum(-1, keepdim=True)
    order = (-logits - entropy).abs().argsort(-1)
    probs = F.softmax(logits, -1).gather(-1, order)
    remove = probs.cumsum(-1) - probs >= p
    remove[..., 0] = False
    return logits.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


def in_place(logits, p):
    logits[~torch.isfinite(checks.typical_p_reference(logits, p))] = float("-inf")
    return logits


@pytest.mark.parametrize("wrong, hint", [
    (lambda x, p: None, "not written yet"),
    (top_p_filter, "top-p"),
    (lambda x, p: wrong_order(x, p, lambda logp, h: -logp - h), "top-p"),          # no absolute value
    (lambda x, p: wrong_order(x, p, lambda logp, h: -(-logp - h).abs()), "ascending"),
    (raw_logits, "log_softmax"),
    (drops_crossing, "crosses"),
    (no_scatter, "scatter"),
    (lambda x, p: checks.typical_p_reference(x, p) * 2, "unchanged"),
    (in_place, "in place"),
    (lambda x, p: x[..., :-1], "same shape"),
    (lambda x, p: 1 / 0, "ZeroDivisionError"),
])
def test_check_typical_p_names_the_usual_mistakes(wrong, hint, capsys):
    assert checks.check_typical_p(wrong).ok is False
    assert hint in capsys.readouterr().out


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
