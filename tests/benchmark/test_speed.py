"""benchmark.speed: benchmark_model, benchmark_decode and the bytes decoding reads (tiny random model)."""
import math

import pytest
import torch

from nanoinfer_lib import KVCache, benchmark_model
from nanoinfer_lib.benchmark import hardware, speed as bench


def count_calls(model):
    calls = []
    model.register_forward_hook(lambda *a: calls.append(1))
    return calls


def test_benchmark_model_keys_and_consistency(tiny_model):
    calls = count_calls(tiny_model)
    r = benchmark_model(model=tiny_model, input_shape=(3, 8), num_runs=4, warmup=2)
    assert len(calls) == 6                                               # warm-up + timed runs
    assert r["min_latency_ms"] <= r["median_latency_ms"] <= r["max_latency_ms"]
    assert r["min_latency_ms"] <= r["avg_latency_ms"] <= r["max_latency_ms"]
    assert math.isclose(r["tokens_per_second"], 3 * 8 / (r["median_latency_ms"] / 1e3))
    assert (r["batch_size"], r["seq_len"], r["num_runs"]) == (3, 8, 4)
    assert r["device"] == "cpu" and r["dtype"] == "float32" and r["threads"] == torch.get_num_threads()
    assert r["peak_gpu_memory_mb"] is None and r["rss_mb"] > 0 and r["torch"] == torch.__version__


def test_benchmark_model_reports_the_models_dtype(tiny_model):
    assert benchmark_model(model=tiny_model.to(torch.bfloat16), input_shape=(1, 4), num_runs=1)["dtype"] == "bfloat16"


@pytest.mark.parametrize("kw, err, match", [
    (dict(input_shape=(0, 4)), ValueError, "batch size"),
    (dict(input_shape=(1, 17)), ValueError, "block_size"),
    (dict(input_shape=(1, 2, 3)), ValueError, "input_shape"),
    (dict(input_shape=(1, 2.5)), TypeError, "sequence length"),
    (dict(num_runs=0), ValueError, "num_runs"),
    (dict(warmup=-1), ValueError, "warmup"),
])
def test_benchmark_model_bad_arguments(tiny_model, kw, err, match):
    with pytest.raises(err, match=match):
        benchmark_model(model=tiny_model, **{"input_shape": (1, 4), "num_runs": 1, **kw})


def test_benchmark_model_needs_a_module():
    with pytest.raises(TypeError, match="model"):
        benchmark_model(model="gpt", input_shape=(1, 4))


def test_benchmark_decode_counts_steps(tiny_model):
    calls = count_calls(tiny_model)
    r = bench.benchmark_decode(tiny_model, batch_size=2, prompt_len=3, new_tokens=5, num_runs=2, warmup=1)
    assert len(calls) == 3 * 5                                           # one forward per new token
    assert math.isclose(r["tokens_per_second"], 2 * 5 / (r["median_latency_ms"] / 1e3))
    assert math.isclose(r["ms_per_step"], r["median_latency_ms"] / 5)
    with pytest.raises(ValueError, match="new_tokens"):
        bench.benchmark_decode(tiny_model, new_tokens=0)


def test_decode_bytes_match_the_cache_and_the_weights(tiny_model):
    cfg = tiny_model.config
    b = bench.decode_bytes_per_step(tiny_model, batch_size=3, context_len=cfg.block_size)
    assert b["kv_cache"] == KVCache(cfg, 3, cfg.block_size).nbytes
    assert b["weights"] == hardware.model_memory(tiny_model) - tiny_model.transformer.wpe.weight.nbytes
    assert b["total"] == b["weights"] + b["kv_cache"]


def test_decode_flops_formula_matches_torchs_flop_counter(tiny_model):
    """The matrix products of one decode step, as torch.utils.flop_counter counts them (it does not
    count the CPU's fused attention, so the attention term is checked by its formula only)."""
    from torch.utils.flop_counter import FlopCounterMode
    cfg = tiny_model.config
    B, S = 2, 5
    cache = KVCache(cfg, B, S)
    ids = torch.randint(0, cfg.vocab_size, (B, S))
    with torch.inference_mode():
        tiny_model(ids[:, :-1], kv_cache=cache)
        with FlopCounterMode(display=False) as fc:
            tiny_model(ids[:, -1:], kv_cache=cache, last_only=True)
    f = bench.decode_flops_per_step(tiny_model, B, S)
    assert fc.get_total_flops() == f["matmul"]
    assert f["attention"] == 4 * B * cfg.n_layer * cfg.n_embd * S and f["total"] == f["matmul"] + f["attention"]


def test_repeated_pass_repeats_the_same_logits_and_keeps_the_cache_length(tiny_model):
    from nanoinfer_lib.benchmark.speed import repeated_pass
    run = repeated_pass(tiny_model, batch_size=2, position=5, n_tokens=3)
    first, second = run(), run()
    assert first.shape == (2, 3, tiny_model.config.vocab_size) and torch.equal(first, second)
    with pytest.raises(ValueError, match="position"):
        repeated_pass(tiny_model, position=14, n_tokens=3)              # 14 + 3 > block_size 16
