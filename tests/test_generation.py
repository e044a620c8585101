"""generation: generate (full, stream, stop tokens, the crop rule) and generate_batch (equal to single prompts)."""
import pytest
import torch

from nanoinfer_lib import generate, generate_batch

from _helpers import CharTokenizer


def naive_greedy(model, ids, n):
    """Reference: the uncached loop written out, cropping to the last block_size tokens."""
    for _ in range(n):
        ctx = ids[:, -model.config.block_size:]
        ids = torch.cat([ids, model(ctx)[:, -1].argmax(-1, keepdim=True)], dim=1)
    return ids


def test_greedy_matches_naive_loop_cached_and_uncached(tiny_model):
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    ref = naive_greedy(tiny_model, ids, 8)
    assert torch.equal(generate(tiny_model, ids, max_new_tokens=8, temperature=0), ref)
    assert torch.equal(generate(tiny_model, ids, max_new_tokens=8, temperature=0, use_cache=False), ref)


@pytest.mark.parametrize("prompt_len", [3, 16, 20])
def test_crop_rule_past_the_context_window_in_both_modes(tiny_model, prompt_len):
    ids = torch.randint(0, 50, (1, prompt_len), generator=torch.Generator().manual_seed(1))
    ref = naive_greedy(tiny_model, ids, 25)                       # runs well past block_size=16
    cached = generate(tiny_model, ids, max_new_tokens=25, temperature=0)
    uncached = generate(tiny_model, ids, max_new_tokens=25, temperature=0, use_cache=False)
    assert torch.equal(cached, ref) and torch.equal(uncached, ref)


def test_sampled_cached_equals_uncached_with_same_seed(tiny_model):
    ids = torch.tensor([[1, 2, 3]])
    kw = dict(max_new_tokens=30, temperature=0.9, top_k=20, top_p=0.9, min_p=0.01, repetition_penalty=1.2, seed=7)
    a = generate(tiny_model, ids, **kw)
    assert torch.equal(a, generate(tiny_model, ids, use_cache=False, **kw))
    assert torch.equal(a, generate(tiny_model, ids, **kw))
    assert not torch.equal(a, generate(tiny_model, ids, **{**kw, "seed": 8}))


def test_stream_yields_the_same_columns(tiny_model):
    ids = torch.tensor([[4, 5], [6, 7]])
    full = generate(tiny_model, ids, max_new_tokens=10, temperature=0)
    cols = list(generate(tiny_model, ids, max_new_tokens=10, temperature=0, stream=True))
    assert len(cols) == 10 and all(c.shape == (2,) for c in cols)
    assert torch.equal(torch.stack(cols, dim=1), full[:, 2:])


def test_zero_new_tokens_returns_the_prompt(tiny_model):
    ids = torch.tensor([[1, 2, 3]])
    assert torch.equal(generate(tiny_model, ids, max_new_tokens=0), ids)
    assert list(generate(tiny_model, ids, max_new_tokens=0, stream=True)) == []


def test_list_prompt_is_accepted(tiny_model):
    assert generate(tiny_model, [1, 2, 3], max_new_tokens=2, temperature=0).shape == (1, 5)


def test_stop_tokens_keep_the_stop_token_and_end_when_all_rows_stop(tiny_model):
    ids = torch.tensor([[1, 2, 3]])
    free = generate(tiny_model, ids, max_new_tokens=12, temperature=0)[0, 3:].tolist()
    stop = free[4]
    first = free.index(stop)
    out = generate(tiny_model, ids, max_new_tokens=12, temperature=0, stop_tokens=[stop])[0, 3:].tolist()
    assert out == free[:first + 1]
    assert generate(tiny_model, ids, max_new_tokens=12, temperature=0, stop_tokens=stop).shape[1] == 3 + first + 1


def test_stopped_rows_are_padded_while_others_continue(tiny_model):
    ids = torch.randint(0, 50, (2, 4), generator=torch.Generator().manual_seed(3))
    free = generate(tiny_model, ids, max_new_tokens=12, temperature=0)[:, 4:]
    stop = free[0, 1].item()
    out = generate(tiny_model, ids, max_new_tokens=12, temperature=0, stop_tokens=[stop])[:, 4:]
    row0 = out[0].tolist()
    k = free[0].tolist().index(stop)
    assert row0[:k + 1] == free[0].tolist()[:k + 1]
    assert all(t == stop for t in row0[k + 1:])             # filled with the (smallest) stop id
    if stop not in free[1].tolist():
        assert torch.equal(out[1], free[1])


@pytest.mark.parametrize("kwargs,exc,word", [
    (dict(max_new_tokens=-1), ValueError, "max_new_tokens"),
    (dict(max_new_tokens=2.0), TypeError, "max_new_tokens"),
    (dict(temperature=-1.0), ValueError, "temperature"),
    (dict(top_k=-3), ValueError, "top_k"),
    (dict(top_p=1.1), ValueError, "top_p"),
    (dict(min_p=-0.5), ValueError, "min_p"),
    (dict(repetition_penalty=0.0), ValueError, "repetition_penalty"),
    (dict(stop_tokens=[50]), ValueError, "stop_tokens"),
    (dict(stop_tokens="x"), TypeError, "stop_tokens"),
    (dict(seed="1"), TypeError, "seed"),
])
def test_bad_arguments(tiny_model, kwargs, exc, word):
    with pytest.raises(exc, match=word):
        generate(tiny_model, torch.tensor([[1, 2]]), **kwargs)


def test_bad_arguments_fail_before_streaming_starts(tiny_model):
    with pytest.raises(ValueError, match="temperature"):
        generate(tiny_model, torch.tensor([[1]]), temperature=-1, stream=True)


@pytest.mark.parametrize("ids,exc", [
    (torch.zeros(1, 0, dtype=torch.long), ValueError),
    ([], ValueError),
    (torch.tensor([[0.5, 1.0]]), TypeError),
    (torch.tensor([[1, 50]]), ValueError),
    (torch.tensor([[-1, 2]]), ValueError),
    ("hello", TypeError),
])
def test_bad_prompts(tiny_model, ids, exc):
    with pytest.raises(exc, match="input_ids"):
        generate(tiny_model, ids, max_new_tokens=1)


def test_model_must_be_a_gpt():
    with pytest.raises(TypeError, match="model"):
        generate(torch.nn.Linear(2, 2), torch.tensor([[1]]))


def test_generate_batch_greedy_equals_single_prompts(tiny_model):
    prompts = ["abc", "hello", "z", "qrstuvw", "mm"]
    tok = CharTokenizer()
    batched = generate_batch(tiny_model, prompts, tok, max_new_tokens=14, batch_size=3, temperature=0)
    for p, got in zip(prompts, batched):
        single = generate(tiny_model, torch.tensor([tok.encode(p)]), max_new_tokens=14, temperature=0)
        assert got == tok.decode(single[0, len(p):].tolist()), p


def test_generate_batch_checks_arguments(tiny_model):
    tok = CharTokenizer()
    with pytest.raises(TypeError, match="prompts"):
        generate_batch(tiny_model, "abc", tok)
    with pytest.raises(ValueError, match="batch_size"):
        generate_batch(tiny_model, ["abc"], tok, batch_size=0)
    with pytest.raises(ValueError, match="empty"):
        generate_batch(tiny_model, ["abc", ""], tok)
    with pytest.raises(ValueError, match="temperature"):
        generate_batch(tiny_model, ["abc"], tok, temperature=-2)


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


def test_generate_batch_bad_arguments(tiny_model):
    tok = CharTokenizer()
    with pytest.raises(TypeError, match="prompts"):
        generate_batch(tiny_model, ["abc", 3], tok)
    with pytest.raises(ValueError, match="batch_size"):
        generate_batch(tiny_model, ["abc"], tok, batch_size=-1)
    with pytest.raises(ValueError, match="max_new_tokens"):
        generate_batch(tiny_model, ["abc"], tok, max_new_tokens=-1)
    with pytest.raises(ValueError, match="stop_tokens"):
        generate_batch(tiny_model, ["abc"], tok, stop_tokens=[999])
