"""generate_batch: left padding, attention mask and per-row positions give, with greedy decoding,
exactly what each prompt alone gives; stop tokens, order, edge values, sampling seeds."""
import pytest
import torch

from nanoinfer_lib import generate, generate_batch
from _helpers import CharTokenizer


def alone(model, tok, prompt, n, **kw):
    """Reference: generate for one prompt, continuation cut after the first stop token, as text."""
    ids = torch.tensor([tok.encode(prompt)])
    row = generate(model, ids, max_new_tokens=n, temperature=0, **kw)[0, ids.shape[1]:].tolist()
    stops = set(kw.get("stop_tokens") or [])
    cut = next((i + 1 for i, t in enumerate(row) if t in stops), len(row))
    return tok.decode(row[:cut])


PROMPTS = ["abc", "hello", "z", "qrstuvwxy", "mm", "kitten"]   # lengths 1..9: every row padded differently


@pytest.mark.parametrize("batch_size", [1, 2, 4, 6, 10])
def test_greedy_batched_equals_alone_for_every_batch_size(tiny_model, batch_size):
    tok = CharTokenizer()
    got = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=5, batch_size=batch_size, temperature=0)
    assert got == [alone(tiny_model, tok, p, 5) for p in PROMPTS]      # same texts, same order


def test_greedy_batched_equals_alone_past_the_context_window(tiny_model):
    tok = CharTokenizer()        # block_size 16: the 9-token prompt + 12 new tokens runs past it
    got = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=12, batch_size=3, temperature=0)
    assert got == [alone(tiny_model, tok, p, 12) for p in PROMPTS]


def test_greedy_batched_equals_alone_uncached(tiny_model):
    tok = CharTokenizer()
    got = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=6, batch_size=4, temperature=0, use_cache=False)
    assert got == [alone(tiny_model, tok, p, 6) for p in PROMPTS]


def test_stop_tokens_end_each_row_on_its_own(tiny_model):
    tok = CharTokenizer()
    free = [alone(tiny_model, tok, p, 8) for p in PROMPTS]
    stop = tok.encode(free[1][2])[0]              # a token that the second prompt emits at step 3
    got = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=8, batch_size=3, temperature=0, stop_tokens=[stop])
    want = [alone(tiny_model, tok, p, 8, stop_tokens=[stop]) for p in PROMPTS]
    assert got == want
    assert got[1] == free[1][:free[1].index(free[1][2]) + 1]     # cut after the stop token, which is kept
    assert got != free                            # the stop token changed something


def test_bundled_model_real_prompts(bundled):
    model, tok = bundled
    prompts = ["ROMEO.\nBut soft, what light", "To be", "HAMLET.\n", "Now is the winter of our discontent"]
    got = generate_batch(model=model, prompts=prompts, tokenizer=tok, max_new_tokens=12, batch_size=4, temperature=0)
    for p, g in zip(prompts, got):
        ids = tok.encode(p, return_tensors="pt")
        assert g == tok.decode(generate(model, ids, max_new_tokens=12, temperature=0)[0, ids.shape[1]:])


def test_zero_new_tokens_and_seeded_sampling(tiny_model):
    tok = CharTokenizer()
    assert generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=0) == [""] * len(PROMPTS)
    a = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=6, batch_size=4, top_k=5, seed=3)
    b = generate_batch(tiny_model, PROMPTS, tok, max_new_tokens=6, batch_size=4, top_k=5, seed=3)
    assert a == b and all(len(t) == 6 for t in a)


def test_bad_arguments(tiny_model):
    tok = CharTokenizer()
    with pytest.raises(TypeError, match="prompts"):
        generate_batch(tiny_model, ["abc", 3], tok)
    with pytest.raises(ValueError, match="batch_size"):
        generate_batch(tiny_model, ["abc"], tok, batch_size=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch(tiny_model, ["abc"], tok, max_new_tokens=-1)
    with pytest.raises(ValueError, match="stop_tokens"):
        generate_batch(tiny_model, ["abc"], tok, stop_tokens=[999])
