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


# ---- bad input: one table per public function (issue 15) -----------------------------------------

import functools
import itertools

import numpy as np
from hypothesis import given, settings, strategies as st

from nanoinfer_lib import GPT, generation

from _helpers import tiny_config

OK_IDS = torch.tensor([[1, 2]])
GENERATE_BAD = [   # (input_ids, kwargs) -> exception, regex naming the argument (and the allowed range)
    (OK_IDS, dict(max_new_tokens=-1), ValueError, r"max_new_tokens must be an int >= 0, got -1"),
    (OK_IDS, dict(max_new_tokens=2.0), TypeError, r"max_new_tokens must be an int >= 0, got float 2.0"),
    (OK_IDS, dict(max_new_tokens=True), TypeError, r"max_new_tokens must be an int >= 0, got bool"),
    (OK_IDS, dict(max_new_tokens=None), TypeError, r"max_new_tokens must be an int"),
    (OK_IDS, dict(temperature=-0.5), ValueError, r"temperature must be a finite number >= 0.0"),
    (OK_IDS, dict(temperature=float("nan")), ValueError, r"temperature must be a finite number"),
    (OK_IDS, dict(temperature=float("inf")), ValueError, r"temperature must be a finite number"),
    (OK_IDS, dict(temperature="hot"), TypeError, r"temperature must be a finite number"),
    (OK_IDS, dict(top_k=-1), ValueError, r"top_k must be None or an int >= 0"),
    (OK_IDS, dict(top_k=2.5), TypeError, r"top_k must be None or an int >= 0"),
    (OK_IDS, dict(top_p=1.5), ValueError, r"top_p must be None or a finite number in \[0.0, 1.0\]"),
    (OK_IDS, dict(top_p="0.9"), TypeError, r"top_p must be None or a finite number"),
    (OK_IDS, dict(min_p=-0.1), ValueError, r"min_p must be None or a finite number in \[0.0, 1.0\]"),
    (OK_IDS, dict(repetition_penalty=0), ValueError, r"repetition_penalty must be None or a finite number > 0.0"),
    (OK_IDS, dict(repetition_penalty=float("inf")), ValueError, r"repetition_penalty must be None or a finite number > 0.0"),
    (OK_IDS, dict(stop_tokens=[50]), ValueError, r"stop_tokens .* in \[0, 50\), got min 50"),
    (OK_IDS, dict(stop_tokens=[1.5]), TypeError, r"stop_tokens .* got float 1.5"),
    (OK_IDS, dict(stop_tokens="x"), TypeError, r"stop_tokens must be None, a token id or a list of token ids"),
    (OK_IDS, dict(use_cache=1), TypeError, r"use_cache must be True or False"),
    (OK_IDS, dict(seed=-1), ValueError, r"seed must be None or an int in \[0, 18446744073709551615\]"),
    (OK_IDS, dict(seed=2**64), ValueError, r"seed must be None or an int in \[0, 18446744073709551615\]"),
    (OK_IDS, dict(seed=1.0), TypeError, r"seed must be None or an int"),
    (OK_IDS, dict(seed=1, generator=torch.Generator()), ValueError, r"give seed or generator, not both"),
    (OK_IDS, dict(generator=0), TypeError, r"generator must be None or a torch.Generator"),
    ([[1.5, 2.0]], {}, TypeError, r"input_ids must be token ids \(ints or an integer tensor\) in \[0, 50\), got float 1.5"),
    ([[True, False]], {}, TypeError, r"input_ids .* got bool True"),
    (torch.tensor([[1.0, 2.0]]), {}, TypeError, r"input_ids .* got a tensor of dtype torch.float32"),
    (torch.tensor([[True]]), {}, TypeError, r"input_ids .* got a tensor of dtype torch.bool"),
    ([[1, 2], [3]], {}, ValueError, r"input_ids must be a rectangular list of token ids"),
    ([[1, 50]], {}, ValueError, r"input_ids .* in \[0, 50\), got min 1 and max 50"),
    ([[-1, 2]], {}, ValueError, r"input_ids .* got min -1"),
    ([], {}, ValueError, r"input_ids must be a non-empty prompt of shape \(B, T\)"),
    (torch.zeros(0, 3, dtype=torch.long), {}, ValueError, r"input_ids must be a non-empty prompt"),
    (torch.ones(1, 1, 1, dtype=torch.long), {}, ValueError, r"input_ids must have at most 2 dimensions"),
    ("hello", {}, TypeError, r"input_ids .* got str 'hello'"),
]


@pytest.mark.parametrize("ids,kwargs,exc,msg", GENERATE_BAD)
def test_generate_bad_input_table(tiny_model, ids, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        generate(tiny_model, ids, **{"max_new_tokens": 3, **kwargs})


@pytest.mark.parametrize("ids,kwargs,exc,msg", GENERATE_BAD)
def test_generate_stream_fails_before_the_first_token(tiny_model, ids, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):            # raised by the call itself, not by the first next()
        generate(tiny_model, ids, **{"max_new_tokens": 3, **kwargs}, stream=True)


def test_generate_needs_a_model_and_a_flag_for_stream(tiny_model):
    with pytest.raises(TypeError, match="model must be a nanoinfer_lib GPT, got NoneType"):
        generate(None, OK_IDS)
    with pytest.raises(TypeError, match="stream must be True or False"):
        generate(tiny_model, OK_IDS, stream="yes")


class ToyTokenizer(CharTokenizer):
    def __init__(self, ids=None, eot=0):
        self.ids, self.eot_token = ids, eot

    def encode(self, text):
        return self.ids if self.ids is not None else super().encode(text)


GENERATE_BATCH_BAD = [   # (prompts, tokenizer, kwargs) -> exception, regex
    ("abc", CharTokenizer(), {}, TypeError, r"prompts must be a list of strings, got str"),
    (["abc", 3], CharTokenizer(), {}, TypeError, r"prompts\[1\] must be a str, got int"),
    (["abc", ""], CharTokenizer(), {}, ValueError, r"prompts\[1\] is empty"),
    (["abc"], None, {}, TypeError, r"tokenizer must be a tokenizer with encode, decode and eot_token"),
    (["abc"], "gpt2", {}, TypeError, r"tokenizer must be a tokenizer"),
    (["abc"], ToyTokenizer(eot=1.5), {}, TypeError, r"tokenizer.eot_token must be an int >= 0"),
    (["abc"], ToyTokenizer(ids=[1.5]), {}, TypeError, r"the token ids of prompts\[0\] must be a list of int token ids"),
    (["abc"], ToyTokenizer(ids=[-1]), {}, ValueError, r"prompts\[0\] encodes to ids from -1 to -1, outside the model's vocabulary \[0, 50\)"),
    (["abc"], ToyTokenizer(ids=[3, 99]), {}, ValueError, r"prompts\[0\] encodes to ids from 3 to 99.*use the model's own tokenizer"),
    (["abc"], CharTokenizer(), dict(batch_size=0), ValueError, r"batch_size must be an int >= 1, got 0"),
    (["abc"], CharTokenizer(), dict(batch_size=2.0), TypeError, r"batch_size must be an int >= 1"),
    (["abc"], CharTokenizer(), dict(max_new_tokens=-1), ValueError, r"max_new_tokens must be an int >= 0"),
    (["abc"], CharTokenizer(), dict(temperature=-2), ValueError, r"temperature must be a finite number >= 0.0"),
    (["abc"], CharTokenizer(), dict(top_p=2), ValueError, r"top_p must be None or a finite number in \[0.0, 1.0\]"),
    (["abc"], CharTokenizer(), dict(stop_tokens=[999]), ValueError, r"stop_tokens .* in \[0, 50\)"),
    (["abc"], CharTokenizer(), dict(stop_tokens=["a"]), TypeError, r"stop_tokens .* got str 'a'"),
    (["abc"], CharTokenizer(), dict(seed=2**70), ValueError, r"seed must be None or an int in \[0, 18446744073709551615\]"),
    (["abc"], CharTokenizer(), dict(use_cache="no"), TypeError, r"use_cache must be True or False"),
]


@pytest.mark.parametrize("prompts,tok,kwargs,exc,msg", GENERATE_BATCH_BAD)
def test_generate_batch_bad_input_table(tiny_model, prompts, tok, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        generate_batch(tiny_model, prompts, tok, **{"max_new_tokens": 2, **kwargs})


# ---- regressions: each class of issue 15 ----------------------------------------------------------

def test_float_ids_are_refused_not_truncated(tiny_model):
    with pytest.raises(TypeError, match="got float 1.5"):          # used to generate from [[1, 2]]
        generate(tiny_model, [[1.5, 2.0]], max_new_tokens=1)
    with pytest.raises(TypeError, match="got float 2.0"):
        generate(tiny_model, [[1, 2.0]], max_new_tokens=1)        # even a float that is whole


def test_bool_ids_are_refused(tiny_model):
    with pytest.raises(TypeError, match="bool"):
        generate(tiny_model, [[True, False]], max_new_tokens=1)
    with pytest.raises(TypeError, match="bool"):
        generate(tiny_model, torch.tensor([[True, False]]), max_new_tokens=1)


@pytest.mark.parametrize("stops,given", [([1.5], "float 1.5"), (["3"], "str '3'"), ([True], "bool True"),
                                         (["a"], "str 'a'")])
def test_stop_tokens_are_not_passed_through_int(tiny_model, stops, given):
    with pytest.raises(TypeError, match=rf"stop_tokens must be token ids .* got {given}"):
        generate(tiny_model, OK_IDS, max_new_tokens=1, stop_tokens=stops)


def test_numpy_integers_are_ints(tiny_model):
    want = generate(tiny_model, OK_IDS, max_new_tokens=3, temperature=0)
    for n in (np.int64(3), np.int32(3), np.uint8(3)):         # used to fail inside KVCache
        assert torch.equal(generate(tiny_model, OK_IDS, max_new_tokens=n, temperature=0), want)
    assert torch.equal(generate(tiny_model, np.array([[1, 2]]), max_new_tokens=3, temperature=0), want)
    assert generate(tiny_model, OK_IDS, max_new_tokens=2, top_k=np.int64(5), stop_tokens=np.int64(3),
                    seed=np.uint64(2**64 - 1)).shape[0] == 1


def test_huge_seed_is_a_clear_error_and_the_largest_seed_works(tiny_model):
    with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 18446744073709551615\], got 1180591620717411303424"):
        generate(tiny_model, OK_IDS, max_new_tokens=1, seed=2**70)   # used to say "Overflow when unpacking long long"
    a = generate(tiny_model, OK_IDS, max_new_tokens=4, seed=2**64 - 1)
    assert torch.equal(a, generate(tiny_model, OK_IDS, max_new_tokens=4, seed=2**64 - 1))


def test_seed_and_generator_together_are_refused_and_a_generator_alone_reproduces(tiny_model):
    with pytest.raises(ValueError, match="give seed or generator, not both"):
        generate(tiny_model, OK_IDS, max_new_tokens=2, seed=0, generator=torch.Generator())
    a = generate(tiny_model, OK_IDS, max_new_tokens=6, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, generate(tiny_model, OK_IDS, max_new_tokens=6, seed=5))    # seed s = a generator seeded s


def test_generate_batch_without_a_tokenizer_is_a_type_error(tiny_model):
    with pytest.raises(TypeError, match="tokenizer must be a tokenizer"):    # used to be an AttributeError
        generate_batch(tiny_model, ["abc"], None)


class RecordingBuffer(generation.TokenBuffer):
    made: list = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        RecordingBuffer.made.append(self)


def test_huge_stream_allocates_a_small_buffer(tiny_model, monkeypatch):
    RecordingBuffer.made = []
    monkeypatch.setattr(generation, "TokenBuffer", RecordingBuffer)
    stream = generate(tiny_model, OK_IDS, max_new_tokens=10**11, stream=True)   # used to try 800 GB up front
    tokens = list(itertools.islice(stream, 5))
    assert len(tokens) == 5 and all(t.shape == (1,) for t in tokens)
    (buf,) = RecordingBuffer.made
    assert buf.length == 2 + 5 and buf.data.numel() <= 2 + 1024       # room for at most 1024 new tokens
    assert buf.data.element_size() * buf.data.numel() < 10_000        # bytes


def test_token_buffer_grows_by_doubling_and_keeps_its_tokens():
    buf = generation.TokenBuffer(torch.tensor([[7, 8]]), extra=10**11, fill=-1)
    assert buf.data.shape == (1, 2 + 1024)
    for i in range(1500):
        buf.append(torch.tensor([i]))
    assert buf.data.shape == (1, 2 * (2 + 1024)) and buf.length == 1502
    assert buf.view()[0, :2].tolist() == [7, 8] and buf.view()[0, 2:].tolist() == list(range(1500))
    small = generation.TokenBuffer(torch.tensor([[1]]), extra=0)
    assert small.data.shape == (1, 2)                                  # at least one free column


# ---- property: batched (left padding) equals each prompt alone -----------------------------------

@functools.lru_cache(maxsize=None)
def shared_tiny_model() -> GPT:
    torch.manual_seed(0)
    return GPT(tiny_config()).eval()


@settings(max_examples=15, deadline=None)
@given(prompts=st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=9), min_size=1, max_size=5),
       batch_size=st.integers(1, 5), n=st.integers(0, 9), use_cache=st.booleans())
def test_property_batched_greedy_equals_single_prompts(prompts, batch_size, n, use_cache):
    model, tok = shared_tiny_model(), CharTokenizer()
    got = generate_batch(model, prompts, tok, max_new_tokens=n, batch_size=batch_size, temperature=0,
                         use_cache=use_cache)
    assert got == [alone(model, tok, p, n) for p in prompts]
