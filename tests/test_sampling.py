"""sampling: each processor by hand, edge values, the order, seeded sampling, the tutorial's top-p bug."""
from pathlib import Path
import dataclasses
import math

import numpy as np

import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import checks
from nanoinfer_lib.sampling import MAX_SEED, check_seed, check_seed_and_generator, make_generator
from nanoinfer_lib.sampling import SamplingSettings, apply_repetition_penalty, apply_temperature, min_p_filter, process_logits, sample_next_token, top_k_filter, top_p_filter


NEG = float("-inf")


def probs_logits(*p):
    return torch.tensor([math.log(x) for x in p])


def kept(logits):
    return (logits > NEG).nonzero().flatten().tolist()


def test_temperature_scales_and_zero_is_greedy():
    x = torch.tensor([1.0, 3.0, 2.0])
    assert torch.allclose(apply_temperature(x, 2.0), x / 2)
    assert kept(apply_temperature(x, 0)) == [1]
    assert sample_next_token(x, temperature=0).item() == 1
    assert torch.equal(apply_temperature(x, 1.0), x)


@pytest.mark.parametrize("bad", [-0.1, float("nan"), float("inf")])
def test_temperature_rejects_bad_values(bad):
    with pytest.raises(ValueError, match="temperature"):
        apply_temperature(torch.zeros(3), bad)


def test_temperature_rejects_bad_type():
    with pytest.raises(TypeError, match="temperature"):
        apply_temperature(torch.zeros(3), "hot")


def test_top_k_keeps_k_and_ties():
    x = torch.tensor([5.0, 1.0, 3.0, 3.0, 0.0])
    assert kept(top_k_filter(x, 1)) == [0]
    assert kept(top_k_filter(x, 2)) == [0, 2, 3]          # the tie with the 2nd logit is kept
    for off in (None, 0, 5, 100):                         # disabled, or k >= vocab: no-op
        assert torch.equal(top_k_filter(x, off), x)


@pytest.mark.parametrize("bad,exc", [(-1, ValueError), (2.5, TypeError), ("3", TypeError)])
def test_top_k_rejects(bad, exc):
    with pytest.raises(exc, match="top_k"):
        top_k_filter(torch.zeros(4), bad)


def test_top_p_keeps_the_crossing_token():
    x = probs_logits(0.5, 0.3, 0.15, 0.05)
    assert kept(top_p_filter(x, 0.5)) == [0]
    assert kept(top_p_filter(x, 0.6)) == [0, 1]            # 0.5 < 0.6: the token that crosses is kept
    assert kept(top_p_filter(x, 0.75)) == [0, 1]           # 0.5 + 0.3 = 0.8 >= 0.75: enough
    assert kept(top_p_filter(x, 0.85)) == [0, 1, 2]
    assert kept(top_p_filter(x, 0.9)) == [0, 1, 2]
    assert kept(top_p_filter(x, 0.0)) == [0]                # at least one token survives
    assert kept(top_p_filter(x, 1e-9)) == [0]
    assert torch.equal(top_p_filter(x, 1.0), x) and torch.equal(top_p_filter(x, None), x)


def test_top_p_works_on_unsorted_logits_and_batches():
    x = torch.stack([probs_logits(0.05, 0.15, 0.5, 0.3), probs_logits(0.3, 0.5, 0.05, 0.15)])
    out = top_p_filter(x, 0.7)
    assert kept(out[0]) == [2, 3] and kept(out[1]) == [0, 1]


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_top_p_rejects(bad):
    with pytest.raises(ValueError, match="top_p"):
        top_p_filter(torch.zeros(4), bad)


def test_min_p_relative_to_top():
    x = probs_logits(0.5, 0.3, 0.15, 0.05)
    assert kept(min_p_filter(x, 0.3)) == [0, 1, 2]         # threshold 0.15
    assert kept(min_p_filter(x, 0.5)) == [0, 1]             # threshold 0.25
    assert kept(min_p_filter(x, 1.0)) == [0]
    assert torch.equal(min_p_filter(x, 0), x) and torch.equal(min_p_filter(x, None), x)
    with pytest.raises(ValueError, match="min_p"):
        min_p_filter(x, 1.5)


def test_repetition_penalty_divides_positive_multiplies_negative():
    x = torch.tensor([[2.0, -2.0, 2.0, -1.0]])
    out = apply_repetition_penalty(x, torch.tensor([[0, 1, 1]]), 2.0)
    assert torch.equal(out, torch.tensor([[1.0, -4.0, 2.0, -1.0]]))
    assert torch.equal(apply_repetition_penalty(x, torch.tensor([[0]]), 1.0), x)
    assert torch.equal(apply_repetition_penalty(x, torch.tensor([[0]]), None), x)
    for bad in (0, -1.0):
        with pytest.raises(ValueError, match="repetition_penalty"):
            apply_repetition_penalty(x, torch.tensor([[0]]), bad)


def test_logits_must_be_a_float_tensor():
    with pytest.raises(TypeError, match="logits"):
        top_k_filter([1.0, 2.0], 1)
    with pytest.raises(TypeError, match="logits"):
        sample_next_token(torch.tensor([1, 2]))


def test_order_matches_the_design():
    x = probs_logits(0.4, 0.3, 0.2, 0.1)
    step = min_p_filter(top_p_filter(top_k_filter(apply_temperature(x, 0.7), 3), 0.8), 0.1)
    assert torch.equal(process_logits(x, 0.7, 3, 0.8, 0.1), step)


def test_seeded_sampling_is_reproducible_and_follows_probabilities():
    x = probs_logits(0.6, 0.3, 0.1).expand(20000, 3)
    a = sample_next_token(x, generator=torch.Generator().manual_seed(0))
    b = sample_next_token(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    freq = torch.bincount(a, minlength=3).float() / len(a)
    assert torch.allclose(freq, torch.tensor([0.6, 0.3, 0.1]), atol=0.02)
    only = sample_next_token(x, top_k=1, generator=torch.Generator().manual_seed(1))
    assert (only == 0).all()


NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "03_sampling_strategies.ipynb"


def finite_ids(logits):
    return torch.isfinite(logits).nonzero().flatten().tolist()


def test_top_p_hand_case_from_the_chapter():
    logits = torch.tensor([0.4, 0.3, 0.2, 0.1]).log()
    assert finite_ids(top_p_filter(logits, 0.6)) == [0, 1]
    shuffled = torch.tensor([0.1, 0.3, 0.4, 0.2]).log()             # unsorted vocabulary order
    assert finite_ids(top_p_filter(shuffled, 0.6)) == [1, 2]
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
    assert finite_ids(top_p_filter(logits, 0.7)) == [3, 4]
    assert tutorial_top_p_mask(logits, 0.7).nonzero().flatten().tolist() == [0, 1]
    assert checks.check_top_p(lambda x, p: x.masked_fill(~tutorial_top_p_mask(x, p), float("-inf"))).ok is False


def test_top_p_after_top_k_uses_the_renormalised_survivors():
    logits = torch.tensor([math.log(p) for p in checks.SURVIVOR_PROBS.values()])
    assert finite_ids(process_logits(logits, top_k=3, top_p=0.75)) == [0, 1]   # 0.35/0.75 + 0.25/0.75 > 0.75
    assert finite_ids(process_logits(logits, top_p=0.75)) == [0, 1, 2]          # without top-k: 0.35+0.25 < 0.75


@pytest.mark.parametrize("case", ["finite", "nan", "dead_row", "posinf"])
def test_check_finite_one_pass_agrees_with_the_elementwise_rule(case):
    """check_finite decides from one reduction (amax): the same verdicts as testing every entry."""
    from nanoinfer_lib.sampling import check_finite
    logits = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    logits[0, :10] = NEG
    if case == "nan":
        logits[1, 7] = float("nan")
    elif case == "dead_row":
        logits[2] = NEG
    elif case == "posinf":
        logits[1, [4, 9]] = float("inf")
    if case in ("nan", "dead_row"):
        with pytest.raises(ValueError, match="NaN" if case == "nan" else "no finite entry"):
            check_finite(logits)
        return
    out = check_finite(logits)
    if case == "posinf":
        assert finite_ids(out[1]) == [4, 9] and torch.equal(out[[0, 2]], logits[[0, 2]])
    else:
        assert torch.equal(out, logits)


def test_sampling_checks_every_argument_whatever_the_temperature():
    s = SamplingSettings(np.float32(0.5), np.int64(3), 0.9, None, 1.2)
    assert (s.temperature, s.top_k, s.top_p, s.min_p, s.repetition_penalty) == (0.5, 3, pytest.approx(0.9), None, 1.2)
    assert type(s.top_k) is int and type(s.temperature) is float
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.temperature = 2.0
    for temperature in (0, 0.0, 1.0):
        for kw, exc, name in [(dict(top_k=-1), ValueError, "top_k"), (dict(top_k=2.0), TypeError, "top_k"),
                              (dict(top_p=1.01), ValueError, "top_p"), (dict(min_p=-0.1), ValueError, "min_p"),
                              (dict(min_p=math.nan), ValueError, "min_p"),
                              (dict(repetition_penalty=0.0), ValueError, "repetition_penalty")]:
            with pytest.raises(exc, match=rf"^{name} must be None or "):
                SamplingSettings(temperature, **kw)
    with pytest.raises(ValueError, match=r"^temperature must be a finite number >= 0.0, got -1.0$"):
        SamplingSettings(-1.0)
    with pytest.raises(TypeError, match="^temperature must be a finite number >= 0.0, got NoneType"):
        SamplingSettings(None)


# ---- seeds and generators -----------------------------------------------------------------------

def test_seed_bounds():
    assert check_seed("seed", None) is None
    assert check_seed("seed", 0) == 0 and check_seed("seed", 2**64 - 1) == 2**64 - 1
    assert check_seed("seed", np.uint64(2**64 - 1)) == 2**64 - 1
    for bad in (-1, 2**64, 2**70):
        with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 18446744073709551615\], got"):
            check_seed("seed", bad)
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError, match="seed must be None or an int"):
            check_seed("seed", bad)


def test_seed_and_generator_rule():
    g = torch.Generator()
    assert check_seed_and_generator(None, None) == (None, None)
    assert check_seed_and_generator(3, None) == (3, None)
    assert check_seed_and_generator(None, g) == (None, g)
    with pytest.raises(ValueError, match="give seed or generator, not both"):
        check_seed_and_generator(3, g)
    with pytest.raises(TypeError, match="generator must be None or a torch.Generator, got int 3"):
        check_seed_and_generator(None, 3)
    with pytest.raises(ValueError, match="seed must be"):
        check_seed_and_generator(-1, None)


def test_make_generator():
    g = torch.Generator()
    assert make_generator(None, g, "cpu") is g
    assert make_generator(None, None, "cpu") is None
    a, b = make_generator(2**64 - 1, None, "cpu"), make_generator(2**64 - 1, None, "cpu")
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))
