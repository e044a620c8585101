"""metrics.perplexity: per-token NLL with its sliding window, perplexity, bits per byte, held-out loss."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from _helpers import tiny_config
from nanoinfer_lib import GPT
from nanoinfer_lib import metrics as bench
from nanoinfer_lib.metrics import bits_per_byte, continuation_nll, perplexity, token_nll


def _uniform_model(**kw) -> GPT:
    """Zero embeddings (tied to lm_head) -> every logit is 0 -> probability 1/V for every token."""
    torch.manual_seed(0)
    model = GPT(tiny_config(**kw)).eval()
    with torch.no_grad():
        model.transformer.wte.weight.zero_()
    return model


def test_heldout_loss_equals_cross_entropy_over_windows(tiny_model):
    """40 tokens, block_size 16: windows 0-15 and 16-31 score their 16 next tokens; the tail window is
    the last 16 inputs (23-38) and scores only the 7 tokens not scored yet (33-39)."""
    ids = torch.randint(0, 50, (1, 40), generator=torch.Generator().manual_seed(0))
    losses = []
    with torch.no_grad():
        for begin, end, new in ((0, 16, 16), (16, 32, 16), (23, 39, 7)):
            nll = F.cross_entropy(tiny_model(ids[:, begin:end])[0], ids[0, begin + 1:end + 1], reduction="none")
            losses.append(nll[-new:])
    assert bench.heldout_loss(tiny_model, ids) == pytest.approx(torch.cat(losses).mean().item(), rel=1e-5)
    assert bench.heldout_loss(tiny_model, ids, max_tokens=17) == pytest.approx(losses[0].mean().item(), rel=1e-5)


@pytest.mark.parametrize("stride", [None, 1, 5, 16])
def test_uniform_model_perplexity_is_vocab_size(stride):
    model = _uniform_model()
    ids = torch.randint(0, 50, (40,), generator=torch.Generator().manual_seed(0))
    assert perplexity(model, ids, stride=stride) == pytest.approx(50.0, rel=1e-5)


def test_perplexity_matches_one_forward_within_context(tiny_model):
    ids = torch.randint(0, 50, (1, 16), generator=torch.Generator().manual_seed(1))
    loss = F.cross_entropy(tiny_model(ids)[0, :-1], ids[0, 1:])
    assert perplexity(tiny_model, ids) == pytest.approx(math.exp(loss.item()), rel=1e-5)
    assert perplexity(tiny_model, ids[0].tolist()) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_stride_block_size_equals_disjoint_windows(tiny_model):
    """stride=block_size scores every token once in disjoint windows, like nanoGPT's evaluation."""
    data = torch.from_numpy(np.random.default_rng(2).integers(0, 50, size=16 * 4 + 1))
    with torch.no_grad():
        windows = [F.cross_entropy(tiny_model(data[None, s:s + 16])[0], data[s + 1:s + 17], reduction="none")
                   for s in range(0, 64, 16)]
    expected = torch.cat(windows).mean().item()
    nll = token_nll(tiny_model, data, stride=16)
    assert nll.shape == (64,)
    assert nll.mean().item() == pytest.approx(expected, rel=1e-5)


def test_stride_one_gives_each_token_the_full_window(tiny_model):
    """With stride 1, token p is predicted from the min(p, block_size) tokens before it."""
    ids = torch.randint(0, 50, (40,), generator=torch.Generator().manual_seed(3))
    nll = token_nll(tiny_model, ids, stride=1)
    with torch.no_grad():
        for p in range(1, 40):
            ctx = ids[max(0, p - 16):p]
            expected = F.cross_entropy(tiny_model(ctx[None])[0, -1], ids[p])
            assert nll[p - 1].item() == pytest.approx(expected.item(), rel=1e-4, abs=1e-5)


def test_default_stride_context_bounds(tiny_model):
    """Default stride = block_size // 2: every token after the first window sees 8..16 tokens."""
    ids = torch.randint(0, 50, (45,), generator=torch.Generator().manual_seed(4))
    nll = token_nll(tiny_model, ids)
    full = token_nll(tiny_model, ids, stride=1)
    assert torch.allclose(nll[:16], full[:16], atol=1e-5)          # first window: identical
    assert not torch.allclose(nll, full, atol=1e-4)                # later: less context, other values
    with torch.no_grad():                                          # token 17 is in the window ids[8:24]
        expected = F.cross_entropy(tiny_model(ids[None, 8:17])[0, -1], ids[17])
    assert nll[16].item() == pytest.approx(expected.item(), rel=1e-4)


def test_bits_per_byte_of_uniform_model(bundled):
    _, tokenizer = bundled
    model = _uniform_model(vocab_size=tokenizer.vocab_size, block_size=32)
    text = "Is this a dagger which I see before me,\nThe handle toward my hand?"
    ids = tokenizer.encode(text)
    n_bytes = len(text.encode()) - len(tokenizer.token_bytes(ids[:1])[0])
    expected = (len(ids) - 1) * math.log2(tokenizer.vocab_size) / n_bytes
    assert bits_per_byte(model, tokenizer, text) == pytest.approx(expected, rel=1e-5)
    assert perplexity(model, text, tokenizer=tokenizer) == pytest.approx(tokenizer.vocab_size, rel=1e-5)


def test_perplexity_errors(tiny_model):
    with pytest.raises(ValueError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=0)
    with pytest.raises(ValueError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=17)
    with pytest.raises(TypeError, match="stride"):
        perplexity(tiny_model, [1, 2, 3], stride=2.5)
    with pytest.raises(ValueError, match="at least 2 tokens"):
        perplexity(tiny_model, [1])
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        perplexity(tiny_model, [1, 50])
    with pytest.raises(ValueError, match="one sequence"):
        perplexity(tiny_model, torch.zeros(2, 5, dtype=torch.long))
    with pytest.raises(TypeError, match="tokenizer"):
        perplexity(tiny_model, "some text")
    with pytest.raises(TypeError, match="input_ids"):
        perplexity(tiny_model, torch.zeros(5))


def test_continuation_nll_batched_equals_single(tiny_model):
    g = torch.Generator().manual_seed(5)
    ctxs = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (3, 9, 1, 14)]
    conts = [torch.randint(0, 50, (n,), generator=g).tolist() for n in (4, 2, 6, 5)]
    batched = continuation_nll(tiny_model, ctxs, conts, batch_size=3)
    for c, x, b in zip(ctxs, conts, batched):
        ids = torch.tensor((c + x)[-16:])
        single = token_nll(tiny_model, ids)[-len(x):]
        assert torch.allclose(b, single, atol=1e-5)
