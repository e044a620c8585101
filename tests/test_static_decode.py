"""static_decode: static-cache decoding equals generate token for token (eager off CUDA), GPU-only paths refuse a CPU model."""
import pytest
import torch

from _helpers import tiny_config
from nanoinfer_lib import GPT, generate
from nanoinfer_lib import static_decode as bench
from nanoinfer_lib.benchmark.speed import cuda_graph_step_ms


def test_cuda_graph_needs_a_gpu_model(tiny_model):
    with pytest.raises(ValueError, match="CUDA"):
        cuda_graph_step_ms(tiny_model)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return GPT(tiny_config(block_size=32, vocab_size=97)).eval()


@pytest.mark.parametrize("mode", ["graph", "eager"])
@pytest.mark.parametrize("B,N", [(1, 0), (1, 1), (1, 9), (3, 2), (3, 9)])
def test_static_cache_decoding_equals_generate(model, B, N, mode):
    """The fixed-shape decode loop that CUDA graphs replay (run eagerly here) gives generate's tokens."""
    ids = torch.randint(0, model.config.vocab_size, (B, 4), generator=torch.Generator().manual_seed(N))
    want = generate(model, ids, max_new_tokens=N, temperature=0)
    assert torch.equal(bench.static_greedy(model, ids, N, mode=mode), want)


def test_static_greedy_checks_its_arguments(model):
    ids = torch.zeros(1, 2, dtype=torch.long)
    with pytest.raises(ValueError, match="mode"):
        bench.static_greedy(model, ids, 2, mode="fast")
    with pytest.raises(TypeError, match="max_new_tokens"):
        bench.static_greedy(model, ids, 2.0)
