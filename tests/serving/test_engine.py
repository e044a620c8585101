"""serving.engine: greedy outputs equal ``generate`` for any mix of requests and engine settings
(a property test), seeded sampling independent of the batch, stops, aborts, bad input that
disturbs nothing, every block back in the pool at the end, and calls from another thread."""
import threading

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nanoinfer_lib import GPT, generate
from nanoinfer_lib.serving import Engine, RequestOutput, SamplingParams
from nanoinfer_lib.serving.engine import _held_back

from _helpers import CharTokenizer, tiny_config

WINDOW = 16


def spread_model() -> GPT:
    """The tiny test GPT with an output layer of its own, scaled up, so its logits are spread wide
    and float rounding (another batch, another padding) never flips a greedy choice, while what it
    predicts still depends on every position of its context."""
    torch.manual_seed(0)
    model = GPT(tiny_config()).eval()
    model.lm_head.weight = torch.nn.Parameter(model.transformer.wte.weight.detach() * 30)
    return model


MODEL, TOK = spread_model(), CharTokenizer()
_reference: dict[tuple, list[int]] = {}


def greedy(prompt: list[int], n: int) -> list[int]:
    """``generate``'s greedy continuation of ``prompt`` alone, n tokens (cached per prompt)."""
    key = tuple(prompt)
    if key not in _reference:
        out = generate(MODEL, torch.tensor([prompt]), max_new_tokens=WINDOW - len(prompt), temperature=0)
        _reference[key] = out[0, len(prompt):].tolist()
    return _reference[key][:n]


def assert_pool_empty(engine: Engine):
    bm = engine.block_manager
    assert bm.num_free == bm.num_blocks and all(b.ref_count == 0 for b in bm.blocks)
    assert not engine.has_unfinished_requests() and engine.requests == {}


def drive(engine: Engine, arrivals: list[tuple[int, list[int], int]]) -> dict[str, RequestOutput]:
    """Add each (step, prompt, max_new_tokens) when the engine reaches that step (at once when it
    is idle), step until all finish; the final output of each request by id."""
    pending, done, step = sorted(arrivals, key=lambda a: a[0]), {}, 0
    ids = {}
    while pending or engine.has_unfinished_requests():
        while pending and (pending[0][0] <= step or not engine.has_unfinished_requests()):
            _, prompt, n = pending.pop(0)
            ids[engine.add_request(prompt, SamplingParams(max_new_tokens=n))] = (prompt, n)
        for out in engine.step():
            assert out.request_id not in done
            if out.finished:
                done[out.request_id] = out
        step += 1
    assert done.keys() == ids.keys()
    return {rid: (ids[rid], out) for rid, out in done.items()}


def pick(draw, values):
    return draw(st.sampled_from(list(values)))        # uniform: hypothesis favours small integers otherwise


@st.composite
def workloads(draw):
    base = draw(st.lists(st.integers(0, 49), min_size=pick(draw, (0, 4, 8)), max_size=10))   # a shared prefix
    arrivals, need = [], []
    for _ in range(pick(draw, range(1, 8))):
        keep = pick(draw, range(len(base) + 1))
        prompt = base[:keep] + draw(st.lists(st.integers(0, 49), min_size=0 if keep else 1, max_size=4))
        n = pick(draw, range(1, WINDOW - len(prompt) + 1))
        arrivals.append((pick(draw, range(9)), prompt, n))
        need.append(len(prompt) + n - 1)
    block_size = pick(draw, [1, 2, 3, 4, 8])
    blocks = [-(-k // block_size) for k in need]
    pool = {"tight": max(blocks), "some": (max(blocks) + sum(blocks)) // 2, "plenty": sum(blocks) + 1}
    config = dict(max_num_seqs=pick(draw, range(1, 9)), block_size=block_size,
                  num_blocks=pool[pick(draw, pool)],                         # small pools force preemption
                  enable_prefix_caching=draw(st.booleans()),
                  max_num_batched_tokens=pick(draw, [1, 3, 8, 20]))         # small budgets cut prompts
    return arrivals, config


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(workloads())
def test_greedy_outputs_equal_generate_for_any_mix(workload):
    arrivals, config = workload
    engine = Engine(MODEL, TOK, **config)
    for (prompt, n), out in drive(engine, arrivals).values():
        assert out.token_ids == greedy(prompt, n), (prompt, n, config)
        assert out.prompt_token_ids == prompt and out.finish_reason == "length"
        assert out.text == TOK.decode(out.token_ids)
    assert_pool_empty(engine)
    stats = engine.stats
    assert stats["generated_tokens"] == sum(n for _, _, n in arrivals)
    assert stats["peak_blocks_used"] <= config["num_blocks"]


def test_preemption_and_prefix_caching_happen_and_stay_exact():
    prompts = [[5, 6, 7, 8, 9, 10, 11, 12, i] for i in range(6)]      # one shared 8-token prefix
    engine = Engine(MODEL, TOK, max_num_seqs=6, block_size=2, num_blocks=12)
    results = drive(engine, [(i, p, 7) for i, p in enumerate(prompts)])
    for (prompt, n), out in results.values():
        assert out.token_ids == greedy(prompt, n)
    stats = engine.stats
    assert stats["preemptions"] > 0 and stats["prefix_cache_hit_tokens"] >= 8
    assert any(out.num_cached_tokens == 8 for _, out in results.values())
    assert 0 < stats["kv_used_fraction"] <= 1
    assert_pool_empty(engine)


def test_prefix_caching_saves_computation():
    prompt = list(range(1, 13))
    computed = {}
    for caching in (False, True):
        engine = Engine(MODEL, TOK, block_size=4, enable_prefix_caching=caching)
        first = engine.generate([prompt], SamplingParams(max_new_tokens=2))[0]
        second = engine.generate([prompt[:10] + [40]], SamplingParams(max_new_tokens=2))[0]
        assert first.token_ids == greedy(prompt, 2) and second.token_ids == greedy(prompt[:10] + [40], 2)
        assert second.num_cached_tokens == (8 if caching else 0)
        again = engine.generate([prompt], SamplingParams(max_new_tokens=3))[0]     # all 12 prompt tokens cached
        assert again.token_ids == greedy(prompt, 3) and again.num_cached_tokens == (8 if caching else 0)
        computed[caching] = engine.stats["computed_tokens"]
    assert computed[False] - computed[True] == 16


def test_a_seeded_request_gets_the_same_text_whatever_the_batch():
    torch.manual_seed(0)
    flat = GPT(tiny_config()).eval()          # small logits: sampling really draws among many tokens
    p = SamplingParams(temperature=1.0, top_k=20, max_new_tokens=8, seed=123)
    alone = Engine(flat, TOK).generate([[1, 2, 3]], p)[0].token_ids
    assert len(set(alone)) > 3
    others = [SamplingParams(temperature=1.5, max_new_tokens=9), SamplingParams(max_new_tokens=5, seed=9)]
    for engine in (Engine(flat, TOK, max_num_seqs=3), Engine(flat, TOK, block_size=1, num_blocks=14)):
        outs = engine.generate([[4, 5], [1, 2, 3], [7, 7, 7, 7]], [others[0], p, others[1]])
        assert outs[1].token_ids == alone
    assert engine.stats["preemptions"] > 0
    want = generate(flat, torch.tensor([[1, 2, 3]]), max_new_tokens=8, temperature=1.0, top_k=20, seed=123)
    assert alone == want[0, 3:].tolist()                                   # and equal to generate's
    penalised = SamplingParams(temperature=0.0, repetition_penalty=1.5, max_new_tokens=8)
    out = Engine(MODEL, TOK).generate([[1, 2, 3], [4, 5]], [penalised, SamplingParams(max_new_tokens=4)])[0]
    want = generate(MODEL, torch.tensor([[1, 2, 3]]), max_new_tokens=8, temperature=0, repetition_penalty=1.5)
    assert out.token_ids == want[0, 3:].tolist()


def test_the_next_turn_of_a_chat_reuses_only_computed_blocks():
    """A prompt that extends another request's prompt and output: the block holding the output's
    last token is full but that token is not computed yet, so it must not be shared."""
    engine = Engine(MODEL, TOK, block_size=2)
    first = [1, 2, 3, 4, 5]
    a = engine.add_request(first, SamplingParams(max_new_tokens=4))
    token = engine.step()[0].token_ids[0]                  # prefill: 6 tokens, the 6th not yet in the cache
    turn = first + [token, 9]
    b = engine.add_request(turn, SamplingParams(max_new_tokens=4))
    outs = {}
    while engine.has_unfinished_requests():
        outs.update((o.request_id, o) for o in engine.step() if o.finished)
    assert outs[a].token_ids == greedy(first, 4) and outs[b].token_ids == greedy(turn, 4)
    assert outs[b].num_cached_tokens == 4


def test_stop_tokens_are_kept_as_generate_keeps_them():
    prompt = [3, 1, 4, 1, 5]
    ref = greedy(prompt, 10)
    stop = ref[3]
    out = Engine(MODEL, TOK).generate([prompt], SamplingParams(max_new_tokens=10, stop_tokens=[stop, 49]))[0]
    want = generate(MODEL, torch.tensor([prompt]), max_new_tokens=10, temperature=0, stop_tokens=[stop, 49])
    assert out.token_ids == ref[:ref.index(stop) + 1] == want[0, 5:].tolist()[:len(out.token_ids)]
    assert out.finish_reason == "stop" and out.text == TOK.decode(out.token_ids)


def test_stop_strings_are_cut_from_the_text():
    prompt = [2, 7, 1, 8]
    ref = greedy(prompt, 10)
    text = TOK.decode(ref)
    stop = text[4:6]
    first = text.find(stop)
    out = Engine(MODEL, TOK).generate([prompt], SamplingParams(max_new_tokens=10, stop=["zzzz", stop]))[0]
    assert out.finish_reason == "stop" and out.text == text[:first]
    assert out.token_ids == ref[:first + len(stop)]        # tokens up to the one that completed the stop string
    out = Engine(MODEL, TOK).generate([prompt], SamplingParams(max_new_tokens=10, stop="no such text"))[0]
    assert out.finish_reason == "length" and out.text == text


def test_unfinished_text_holds_back_a_possible_stop_string():
    assert _held_back("hello wor", ("world",)) == "hello "
    assert _held_back("hello", ("lo!", "xyz")) == "hel"
    assert _held_back("hello", None) == "hello"
    assert _held_back("caf\ufffd", None) == "caf"                        # half a UTF-8 character


def test_abort_frees_blocks_at_once_and_disturbs_nothing():
    engine = Engine(MODEL, TOK, max_num_seqs=2, block_size=2)
    a = engine.add_request([1, 2, 3], SamplingParams(max_new_tokens=10))
    b = engine.add_request([4, 5, 6, 7, 8], SamplingParams(max_new_tokens=10))
    c = engine.add_request([9, 10], SamplingParams(max_new_tokens=6))       # waits for a seat
    engine.step(), engine.step()
    used = engine.block_manager.num_used
    assert engine.abort_request(b) is True
    assert engine.block_manager.num_used == used - 3                     # b's 6 tokens: 3 blocks, freed now
    assert engine.abort_request(b) is False and engine.abort_request("nobody") is False
    outs = {}
    while engine.has_unfinished_requests():
        outs.update((o.request_id, o) for o in engine.step() if o.finished)
    assert outs.keys() == {a, c}
    assert outs[a].token_ids == greedy([1, 2, 3], 10) and outs[c].token_ids == greedy([9, 10], 6)
    d = engine.add_request([1], SamplingParams(max_new_tokens=3))         # aborted while waiting
    assert engine.abort_request(d) and engine.step() == []
    assert_pool_empty(engine)


BAD = [
    (lambda e: e.add_request(""), ValueError, "prompt"),
    (lambda e: e.add_request([]), ValueError, "prompt"),
    (lambda e: e.add_request([1, 50]), ValueError, "prompt"),
    (lambda e: e.add_request([1.0, 2.0]), TypeError, "prompt"),
    (lambda e: e.add_request(7.5), TypeError, "prompt"),
    (lambda e: e.add_request([1] * 10, SamplingParams(max_new_tokens=7)), ValueError, "max_new_tokens"),
    (lambda e: e.add_request([1], SamplingParams(stop_tokens=[50], max_new_tokens=2)), ValueError, "stop_tokens"),
    (lambda e: e.add_request([1], {"max_new_tokens": 2}), TypeError, "params"),
    (lambda e: e.add_request([1], SamplingParams(max_new_tokens=2), request_id="a"), ValueError, "request_id"),
    (lambda e: e.add_request([1], SamplingParams(max_new_tokens=2), request_id=3), TypeError, "request_id"),
    (lambda e: e.add_request([1], SamplingParams(max_new_tokens=2), request_id=""), ValueError, "request_id"),
    (lambda e: e.generate([[1], [60]], SamplingParams(max_new_tokens=2)), ValueError, "prompt"),
    (lambda e: e.generate("abc"), TypeError, "prompts"),
    (lambda e: e.generate([[1]], [None, None]), ValueError, "params"),
]


def test_bad_requests_mid_run_are_refused_and_disturb_nothing():
    engine = Engine(MODEL, TOK, max_num_seqs=2, block_size=2, num_blocks=7)
    engine.add_request([1, 2, 3], SamplingParams(max_new_tokens=8), request_id="a")
    engine.add_request([4, 5], SamplingParams(max_new_tokens=9), request_id="b")
    engine.add_request([6], SamplingParams(max_new_tokens=4), request_id="c")
    outs = {}
    for _ in range(3):
        outs.update((o.request_id, o) for o in engine.step() if o.finished)
    before = (list(engine.requests), engine.block_manager.num_used, engine.stats["steps"])
    for call, err, name in BAD + [(lambda e: e.add_request([1] * 8, SamplingParams(max_new_tokens=8)),
                                   ValueError, "num_blocks")]:      # 15 tokens: 8 blocks of 2 > the pool's 7
        with pytest.raises(err, match=name):
            call(engine)
    assert (list(engine.requests), engine.block_manager.num_used, engine.stats["steps"]) == before
    while engine.has_unfinished_requests():
        outs.update((o.request_id, o) for o in engine.step() if o.finished)
    assert {k: v.token_ids for k, v in outs.items()} == {"a": greedy([1, 2, 3], 8), "b": greedy([4, 5], 9),
                                                          "c": greedy([6], 4)}
    assert_pool_empty(engine)


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(max_num_seqs=0), ValueError, "max_num_seqs"),
    (dict(block_size=0), ValueError, "block_size"),
    (dict(block_size=17), ValueError, "block_size"),
    (dict(num_blocks=0), ValueError, "num_blocks"),
    (dict(num_blocks=2.0), TypeError, "num_blocks"),
    (dict(enable_prefix_caching="yes"), TypeError, "enable_prefix_caching"),
    (dict(max_num_batched_tokens=0), ValueError, "max_num_batched_tokens"),
])
def test_engine_arguments_are_checked(kwargs, err, name):
    with pytest.raises(err, match=name):
        Engine(MODEL, TOK, **kwargs)


def test_engine_needs_a_model_and_a_tokenizer():
    with pytest.raises(TypeError, match="model"):
        Engine(object(), TOK)
    with pytest.raises(TypeError, match="tokenizer"):
        Engine(MODEL, None)


def test_text_prompts_and_default_sizes():
    engine = Engine(MODEL, TOK, max_num_seqs=3, block_size=4)
    assert engine.stats["num_blocks"] == 3 * 4                       # room for 3 full windows of 16
    outs = engine.generate(["abc", "de"], SamplingParams(max_new_tokens=4))
    assert [o.token_ids for o in outs] == [greedy([1, 2, 3], 4), greedy([4, 5], 4)]
    assert all(o.finished and o.metrics["arrival_time"] <= o.metrics["first_token_time"]
               <= o.metrics["finished_time"] for o in outs)


def test_step_log_names_who_ran():
    engine = Engine(MODEL, TOK, block_size=2)
    engine.add_request([1, 2, 3], SamplingParams(max_new_tokens=2), request_id="x")
    engine.step()
    assert engine.last_step == {"step": 1, "kind": "prefill", "requests": ["x"], "tokens": [3],
                                "preempted": [], "blocks_used": 2}
    engine.step()
    assert engine.last_step["kind"] == "decode" and engine.last_step["tokens"] == [1]


def test_requests_added_from_another_thread_between_steps():
    engine = Engine(MODEL, TOK, max_num_seqs=4, block_size=2)
    prompts = [[i + 1, i + 2] for i in range(12)]
    added = threading.Event()

    def client():
        for p in prompts:
            engine.add_request(p, SamplingParams(max_new_tokens=5), request_id=str(p))
        added.set()

    thread = threading.Thread(target=client)
    thread.start()
    outs = {}
    while not added.is_set() or engine.has_unfinished_requests():
        outs.update((o.request_id, o) for o in engine.step() if o.finished)
    thread.join()
    assert {k: v.token_ids for k, v in outs.items()} == {str(p): greedy(p, 5) for p in prompts}
    assert_pool_empty(engine)


def test_text_grows_by_whole_characters():
    from types import SimpleNamespace

    from nanoinfer_lib import Tokenizer
    from nanoinfer_lib.serving.sequence import Sequence
    tok = Tokenizer()
    text = "Café 中文, naïve — ok"
    ids = tok.encode(text)
    assert len(ids) > len(text) - 8                    # the bundled BPE spells non-ASCII characters byte by byte
    seq, engine, seen = Sequence("r", [1], SamplingParams()), SimpleNamespace(_decode=tok.decode), []
    for t in ids:
        seq.append(t)
        Engine._detokenize(engine, seq)
        seen.append(seq.text)
        assert "\ufffd" not in seq.text and text.startswith(seq.text)
    assert seen[-1] == text and len(set(seen)) < len(seen)     # some tokens waited for the rest of a character


def test_the_bundled_model_gives_generate_batch_texts(bundled):
    from nanoinfer_lib import generate_batch
    model, tokenizer = bundled
    prompts = ["ROMEO.\nBut soft", "JULIET.", "To be, or not to be, that is"]
    want = generate_batch(model, prompts, tokenizer, max_new_tokens=12, batch_size=3, temperature=0)
    outs = Engine(model, tokenizer, max_num_seqs=2, block_size=4).generate(prompts, SamplingParams(max_new_tokens=12))
    assert [o.text for o in outs] == want
    stop = want[0][3:6]
    out = Engine(model, tokenizer).generate(prompts[:1], SamplingParams(max_new_tokens=12, stop=stop))[0]
    assert out.text == want[0][:want[0].find(stop)] and out.finish_reason == "stop"
