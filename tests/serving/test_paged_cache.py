"""serving.paged_cache: attention through block tables gives the logits of the plain model, for
rows of different lengths padded into one step, in chunks, with scattered blocks."""
import torch

from nanoinfer_lib import KVCache
from nanoinfer_lib.serving.paged_cache import PagedKVCache


def run_step(model, cache, tables, cached, new):
    idx, pos, mask, view = cache.step(tables, cached, new)
    with torch.inference_mode():
        return model(idx, kv_cache=view, attention_mask=mask, position_ids=pos)      # (B, T, V)


def test_logits_equal_the_uncached_model_in_chunks_and_mixed_rows(tiny_model):
    torch.manual_seed(1)
    seqs = [torch.randint(0, 50, (n,)).tolist() for n in (13, 5, 9)]
    cache = PagedKVCache(tiny_model.config, num_blocks=20, block_size=3)
    # scattered, interleaved blocks: sequence 0 owns 17, 2, 9, ...; none of them in order
    order = [17, 2, 9, 4, 11, 0, 19, 6, 13, 8, 1, 15, 3]
    tables = [order[0:5], order[5:7], order[7:10]]
    # each row's tokens in steps of different sizes: a prompt chunk, the rest, then one at a time
    splits = [[6, 4, 1, 1, 1], [2, 3], [1, 5, 3]]
    done = [0, 0, 0]
    with torch.inference_mode():
        full = [tiny_model(torch.tensor([s]))[0] for s in seqs]                   # (T, V) each, no cache
    for step in range(5):
        rows = [i for i in range(3) if step < len(splits[i])]
        new = [seqs[i][done[i]:done[i] + splits[i][step]] for i in rows]
        logits = run_step(tiny_model, cache, [tables[i] for i in rows], [done[i] for i in rows], new)
        T = logits.shape[1]
        for r, i in enumerate(rows):
            n = len(new[r])
            got = logits[r, T - n:]                                   # left-padded: the real columns last
            want = full[i][done[i]:done[i] + n]
            assert (got - want).abs().max() < 1e-4, (step, i)
            done[i] += n
    assert done == [13, 5, 9]


def test_decode_logits_equal_a_contiguous_cache(tiny_model):
    torch.manual_seed(2)
    prompt = torch.randint(0, 50, (1, 7))
    paged = PagedKVCache(tiny_model.config, num_blocks=6, block_size=4)
    table, contiguous = [5, 1, 3], KVCache(tiny_model.config, 1, 12)
    with torch.inference_mode():
        want = tiny_model(prompt, kv_cache=contiguous)
    got = run_step(tiny_model, paged, [table], [0], [prompt[0].tolist()])
    assert (got - want).abs().max() < 1e-4
    for L in range(7, 11):                                   # decode steps, crossing a block boundary
        token = int(want[0, -1].argmax())
        with torch.inference_mode():
            want = tiny_model(torch.tensor([[token]]), kv_cache=contiguous)
        got = run_step(tiny_model, paged, [table], [L], [[token]])
        assert (got - want).abs().max() < 1e-4


def test_padding_writes_only_the_scratch_block(tiny_model):
    cache = PagedKVCache(tiny_model.config, num_blocks=4, block_size=2)
    before = [k.clone() for k in cache.k]
    run_step(tiny_model, cache, [[1, 3], [0]], [0, 0], [[5, 6, 7], [8]])   # row 1 padded by 2 columns
    for layer, k in enumerate(cache.k):
        changed = (k != before[layer]).flatten(2).any(-1).flatten().nonzero().flatten().tolist()  # slots written
        # block 1 (slots 2, 3), block 3's first slot (6), block 0's first slot (0), scratch block 4 (8, 9)
        assert changed == [0, 2, 3, 6, 8, 9]


def test_step_inputs_for_mixed_rows():
    from _helpers import tiny_config
    cache = PagedKVCache(tiny_config(), num_blocks=8, block_size=2)
    idx, pos, mask, view = cache.step([[4, 6, 7], [2]], [3, 0], [[9, 8], [5]])
    assert idx.tolist() == [[9, 8], [0, 5]]                  # left padding
    assert pos.tolist() == [[3, 4], [0, 0]]                  # a padding column sits at position 0
    assert (view.B, view.T, view.S, view.length) == (2, 2, 5, 3)
    # row 0 reads blocks 4, 6, 7 (its first 5 slots of them); row 1 reads block 2, then the scratch block 8 twice
    assert view.read.view(2, 3).tolist() == [[4, 6, 7], [2, 8, 8]]
    assert view.write.view(2, 2).tolist() == [[13, 14], [17, 4]]
    assert mask.shape == (2, 1, 2, 5)
    assert mask[0, 0].tolist() == [[True] * 4 + [False], [True] * 5]
    assert mask[1, 0].tolist() == [[True] + [False] * 4] * 2      # padding sees key 0; the token itself too


def test_nbytes_uses_the_one_byte_formula(tiny_model):
    from nanoinfer_lib.kv_cache import kv_cache_bytes
    cache = PagedKVCache(tiny_model.config, num_blocks=5, block_size=4)
    assert cache.block_nbytes == kv_cache_bytes(tiny_model.config, 1, 4)
    assert cache.nbytes == 5 * cache.block_nbytes == kv_cache_bytes(tiny_model.config, 1, 20)


def test_gathers_reuse_two_buffers_across_layers_and_steps(tiny_model):
    cache = PagedKVCache(tiny_model.config, num_blocks=12, block_size=4)
    run_step(tiny_model, cache, [[0, 1, 2], [3, 4]], [0, 0], [list(range(10)), list(range(6))])
    k_buf, v_buf = cache.gathered
    assert k_buf.shape[0] == 2 * 3                      # two rows reading three blocks each
    ptrs = (k_buf.data_ptr(), v_buf.data_ptr())
    run_step(tiny_model, cache, [[0, 1, 2], [3, 4]], [10, 6], [[7], [8]])   # a decode step: same or fewer blocks
    assert (cache.gathered[0].data_ptr(), cache.gathered[1].data_ptr()) == ptrs
    run_step(tiny_model, cache, [[0, 1, 2], [3, 4], [5, 6, 7]], [11, 7, 0], [[1], [2], list(range(9))])
    assert cache.gathered[0].shape[0] == 3 * 3          # grown for three rows
