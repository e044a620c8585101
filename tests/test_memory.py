"""memory: measured bytes equal the byte formulas exactly, the timeline generates what generate does
and grows where it must, the OS readings are there, freeing and checkpointing behave as explained,
and bad input is an error naming the argument."""
import copy
import json
import subprocess
import sys

import pytest
import torch

from _helpers import tiny_config
from nanoinfer_lib import GPT, generate, memory
from nanoinfer_lib.kv_cache import KVCache, kv_cache_bytes
from nanoinfer_lib.quantize import quantize_int8

PROMPT = [[1, 2, 3]]


def test_model_bytes_equal_parameters_times_itemsize(tiny_model):
    n = tiny_model.num_params()                                   # the tied lm_head once
    got = memory.model_bytes(tiny_model)
    assert got == {"total": 4 * n, "parameters": 4 * n, "buffers": 0, "by_dtype": {"float32": 4 * n}}
    for dtype, size in ((torch.bfloat16, 2), (torch.float16, 2), (torch.float64, 8)):
        assert memory.model_bytes(copy.deepcopy(tiny_model).to(dtype))["total"] == size * n


def test_model_bytes_of_an_int8_model_by_dtype(tiny_model):
    q = quantize_int8(tiny_model)
    linears = [m for m in tiny_model.modules() if isinstance(m, torch.nn.Linear)]   # lm_head included
    int8 = sum(m.weight.numel() for m in linears)                  # one byte per weight
    scales = sum(m.out_features for m in linears)                  # one float32 scale per output row
    biases = sum(m.bias.numel() for m in linears if m.bias is not None)
    t = tiny_model.transformer
    floats = t.wte.weight.numel() + t.wpe.weight.numel() + sum(
        p.numel() for m in tiny_model.modules() if isinstance(m, torch.nn.LayerNorm) for p in m.parameters())
    got = memory.model_bytes(q)
    assert got["parameters"] == 4 * floats and got["buffers"] == int8 + 4 * (scales + biases)
    assert got["by_dtype"] == {"float32": 4 * (floats + scales + biases), "int8": int8}
    assert got["total"] == got["parameters"] + got["buffers"]


def test_cache_bytes_equal_the_formula(tiny_model):
    cfg = tiny_model.config
    for B, L, dtype in ((1, 16, torch.float32), (3, 7, torch.bfloat16)):
        cache = KVCache(cfg, B, L, dtype=dtype)
        assert memory.cache_bytes(cache) == cache.nbytes == kv_cache_bytes(cfg, B, L, dtype)


def test_timeline_generates_greedy_tokens_and_grows_where_it_must(tiny_model):
    n = 6
    rows = memory.memory_timeline(tiny_model, PROMPT, n)
    want = generate(tiny_model, PROMPT, n, temperature=0)[0, 3:].tolist()
    assert [r["new_token_ids"][0] for r in rows] == want          # the same tokens as generate
    cfg, per_token = tiny_model.config, kv_cache_bytes(tiny_model.config, 1, 1)
    assert [r["step"] for r in rows] == list(range(n)) and [r["tokens"] for r in rows] == list(range(3, 3 + n))
    assert {r["weights_bytes"] for r in rows} == {memory.model_bytes(tiny_model)["total"]}
    assert {r["kv_cache_bytes"] for r in rows} == {kv_cache_bytes(cfg, 1, 3 + n)}   # preallocated: constant
    assert [r["kv_used_bytes"] for r in rows] == [per_token * (3 + i) for i in range(n)]
    logits = cfg.vocab_size * 4
    assert all(r["other_bytes"] >= logits for r in rows)          # at least the step's logits (B, 1, V)
    assert rows[0]["other_bytes"] > rows[1]["other_bytes"]        # the prefill's 3 positions > one
    assert all(r["reserved_bytes"] is None and r["rss_bytes"] > 0 for r in rows)


def test_timeline_batch_and_a_cache_given(tiny_model):
    cfg = tiny_model.config
    cache = KVCache(cfg, 2, 12)
    rows = memory.memory_timeline(tiny_model, [[1, 2], [3, 4]], 4, cache=cache)
    assert rows[-1]["kv_cache_bytes"] == kv_cache_bytes(cfg, 2, 12) and cache.length == 5
    assert rows[-1]["kv_used_bytes"] == kv_cache_bytes(cfg, 2, 5) and len(rows[0]["new_token_ids"]) == 2
    with pytest.raises(ValueError, match="cache must be empty"):
        memory.memory_timeline(tiny_model, [[1, 2], [3, 4]], 4, cache=cache)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"max_new_tokens": 0}, ValueError, "max_new_tokens"),
    ({"max_new_tokens": 2.0}, TypeError, "max_new_tokens"),
    ({"max_new_tokens": 14}, ValueError, "max_new_tokens.*block_size"),
    ({"input_ids": [[]]}, ValueError, "input_ids"),
    ({"input_ids": [[99]]}, ValueError, "input_ids|token ids"),
    ({"cache": "kv"}, TypeError, "cache"),
    ({"model": "gpt"}, TypeError, "model"),
])
def test_timeline_rejects_bad_input(tiny_model, kwargs, error, match):
    args = {"model": tiny_model, "input_ids": PROMPT, "max_new_tokens": 2, **kwargs}
    with pytest.raises(error, match=match):
        memory.memory_timeline(**args)


def test_process_memory_present():
    m = memory.process_memory()
    assert set(m) == {"rss_bytes", "vms_bytes"} and 0 < m["rss_bytes"] <= m["vms_bytes"]


def test_cuda_memory_needs_a_cuda_device():
    with pytest.raises(ValueError, match="device"):
        memory.cuda_memory("cpu")


def test_measure_call_peak_and_kept():
    outside = torch.ones(1)

    def work():
        a = torch.ones(1_000_000)                                  # 4 MB
        b = a * 2                                                   # 8 MB alive
        del a
        return b + outside                                          # b and the result: 8 MB; 4 MB kept
    got = memory.measure_call(work)
    assert got["peak_bytes"] == 8_000_000 and got["kept_bytes"] == 4_000_000 and got["result"].numel() == 1_000_000
    with pytest.raises(TypeError, match="fn"):
        memory.measure_call(42)
    with pytest.raises(ValueError, match="device"):
        memory.measure_call(lambda: None, device="meta")


def test_freeing_memory_on_cpu():
    # a fresh process: there malloc maps new pages for a 64 MiB tensor and unmaps them when it is freed
    # (a process that has held many tensors may serve it from heap memory it keeps, and RSS stays put)
    code = "import json; from nanoinfer_lib import memory; print(json.dumps(memory.freeing_memory('cpu', 2**26)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120).stdout
    rows, n = json.loads(out), 2**26
    assert [r["action"] for r in rows] == ["start", "x = torch.ones(...)", "del x", "torch.cuda.empty_cache()",
                                           "x in a reference cycle", "del (the cycle)", "gc.collect()",
                                           "torch.cuda.empty_cache()"]
    assert [r["tensor_alive"] for r in rows] == [False, True, False, False, True, True, False, False]
    grew = [r["rss_bytes"] - rows[0]["rss_bytes"] > 0.9 * n for r in rows]
    assert grew == [False, True, False, False, True, True, False, False]   # RSS follows what is alive
    assert all(r["allocated_bytes"] is None and r["reserved_bytes"] is None for r in rows)   # no CUDA allocator
    with pytest.raises(ValueError, match="nbytes"):
        memory.freeing_memory("cpu", 1024)


def test_checkpointing_changes_nothing_at_inference(tiny_model):
    ids = [list(range(1, 13))]
    rows = {(r["mode"], r["model"]): r for r in memory.checkpointing_memory(tiny_model, ids)}
    plain, ckpt = rows[("inference_mode", "plain")], rows[("inference_mode", "checkpointed")]
    assert plain["peak_bytes"] == ckpt["peak_bytes"] and plain["kept_bytes"] == ckpt["kept_bytes"] == plain["logits_bytes"]
    plain, ckpt = rows[("gradients on", "plain")], rows[("gradients on", "checkpointed")]
    assert plain["kept_bytes"] > 2 * ckpt["kept_bytes"] > 2 * ckpt["logits_bytes"]   # activations kept for backward
    m = memory.with_checkpointing(tiny_model)
    x = torch.tensor(ids)
    with torch.inference_mode():
        assert torch.equal(m(x), tiny_model(x))                     # the same model


def test_faq_memory_rows(tiny_model):
    rows = memory.faq_memory(tiny_model, PROMPT, 4, batch_size=4, quantized={"int8": quantize_int8(tiny_model)})
    by = {r["setting"]: r for r in rows}
    base = rows[0]
    assert base["answer"] == "baseline" and base["ratio"] == 1.0
    assert base["total_bytes"] == base["weights_bytes"] + base["kv_cache_bytes"] + base["other_bytes"]
    bf16 = by["bfloat16 weights and cache"]
    assert 2 * bf16["weights_bytes"] == base["weights_bytes"] and 2 * bf16["kv_cache_bytes"] == base["kv_cache_bytes"]
    assert 4 * by["batch 1"]["kv_cache_bytes"] == base["kv_cache_bytes"]
    assert by["checkpointed blocks"]["total_bytes"] == base["total_bytes"]     # nothing kept for a backward pass
    assert by["int8"]["weights_bytes"] == memory.model_bytes(quantize_int8(tiny_model))["total"] < base["weights_bytes"]
    with pytest.raises(TypeError, match="quantized"):
        memory.faq_memory(tiny_model, PROMPT, 2, quantized=[tiny_model])
    with pytest.raises(TypeError, match=r"quantized\['x'\]"):
        memory.faq_memory(tiny_model, PROMPT, 2, quantized={"x": "model"})
    with pytest.raises(ValueError, match="batch_size"):
        memory.faq_memory(tiny_model, PROMPT, 2, batch_size=1)
    with pytest.raises(TypeError, match="half_dtypes"):
        memory.faq_memory(tiny_model, PROMPT, 2, half_dtypes=(16,))
