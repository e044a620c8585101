"""kernels: the fast decode linears equal nn.Linear, and compiled decoding through them equals generate."""
import copy

import pytest
import torch

from nanoinfer_lib import generate
from nanoinfer_lib.kernels import FastDecodeLinear as Linear, use_fast_decode


def test_fast_cpu_linear_matches_nn_linear_and_follows_weight_changes():
    """FastDecodeLinear's one-row path multiplies by a cached W^T: same numbers as nn.Linear, and the cache
    must notice in-place updates and replaced weights (else decoding would use stale weights)."""
    torch.manual_seed(0)
    fast, plain = Linear(32, 48), torch.nn.Linear(32, 48)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(1, 1, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x))
        assert fast(x).shape == (1, 1, 48)
        fast.weight.mul_(2.0)                                   # in place
        plain.weight.mul_(2.0)
        torch.testing.assert_close(fast(x), plain(x))
        fast.weight = torch.nn.Parameter(torch.randn(48, 32))   # replaced
        plain.weight = torch.nn.Parameter(fast.weight.detach().clone())
        torch.testing.assert_close(fast(x), plain(x))
        rows = torch.randn(3, 32)                               # several rows, small W: the plain path
        torch.testing.assert_close(fast(rows), plain(rows))
    y = fast(x)                                                 # with gradients: the plain path, differentiable
    y.sum().backward()
    assert fast.weight.grad is not None


@pytest.mark.parametrize("bias", [True, False])
def test_packed_cpu_linear_matches_nn_linear_for_several_rows(monkeypatch, bias):
    """Several rows through a large W take oneDNN's packed kernel (the threshold is lowered here so a
    small layer qualifies): same numbers as nn.Linear for 2-D and 3-D inputs, and a weight changed in
    place or replaced is repacked."""
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN")
    monkeypatch.setattr(Linear, "packed_min_features", 0)
    torch.manual_seed(0)
    fast, plain = Linear(32, 48, bias=bias), torch.nn.Linear(32, 48, bias=bias)
    plain.load_state_dict(fast.state_dict())
    with torch.no_grad():
        for x in (torch.randn(2, 32), torch.randn(4, 5, 32), torch.randn(3, 1, 32)):
            torch.testing.assert_close(fast(x), plain(x))
        assert "packed" in fast._copies                       # the packed path did run
        x = torch.randn(8, 1, 32)
        fast.weight.mul_(-1.0)                                 # in place
        plain.weight.mul_(-1.0)
        torch.testing.assert_close(fast(x), plain(x))
        fast.weight = torch.nn.Parameter(torch.randn(48, 32))  # replaced
        plain.weight = torch.nn.Parameter(fast.weight.detach().clone())
        torch.testing.assert_close(fast(x), plain(x))
        f16, p16 = copy.deepcopy(fast).half(), copy.deepcopy(plain).half()
        torch.testing.assert_close(f16(x.half()), p16(x.half()))  # fp16: the plain path
    fast.__dict__["_copies"]["packed"] = (fast._copies["packed"][0], None)   # as a build without oneDNN's ops
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x))


def test_use_fast_decode_swaps_every_linear_and_keeps_the_outputs(tiny_model):
    """The module swap keeps parameters (and the tied lm_head) and gives generate's tokens; it undoes."""
    ids = torch.randint(0, 50, (2, 5), generator=torch.Generator().manual_seed(0))
    want = generate(tiny_model, ids, max_new_tokens=8, temperature=0)
    params = {n: p.data_ptr() for n, p in tiny_model.named_parameters()}
    use_fast_decode(tiny_model)
    assert all(type(m) is Linear for m in tiny_model.modules() if isinstance(m, torch.nn.Linear))
    assert {n: p.data_ptr() for n, p in tiny_model.named_parameters()} == params
    assert tiny_model.lm_head.weight is tiny_model.transformer.wte.weight
    assert torch.equal(generate(tiny_model, ids[:1], max_new_tokens=8, temperature=0), want[:1])   # one row
    assert torch.equal(generate(tiny_model, ids, max_new_tokens=8, temperature=0), want)           # two rows
    use_fast_decode(tiny_model, enabled=False)
    assert all(type(m) is torch.nn.Linear for m in tiny_model.modules() if isinstance(m, torch.nn.Linear))


def test_compiled_greedy_equals_generate(tiny_model):
    """The compiled one-row product (W * x).sum(-1) and the static cache give generate's tokens."""
    from nanoinfer_lib.static_decode import compiled_greedy
    ids = torch.randint(0, 50, (1, 5), generator=torch.Generator().manual_seed(3))
    want = generate(tiny_model, ids, max_new_tokens=10, temperature=0)
    assert torch.equal(compiled_greedy(tiny_model, ids, 10), want)
    with torch.inference_mode():                      # the compiled linear itself, against nn.Linear
        lin = tiny_model.lm_head
        x = torch.randn(1, 1, lin.in_features)
        torch.testing.assert_close(torch.compile(lin)(x), torch.nn.functional.linear(x, lin.weight))
    use_fast_decode(tiny_model, enabled=False)
