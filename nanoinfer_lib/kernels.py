"""Faster kernels for the model's hot spots, each a drop-in for the plain PyTorch call in ``model.py``.

- ``attention``: ``F.scaled_dot_product_attention`` with the kernel choice made here. On CUDA it
  leaves out cuDNN's kernel, which PyTorch prefers for fp16/bf16 on recent GPUs but which builds a
  new plan for every new key length, and decoding brings a new length at every step.
- ``FastDecodeLinear`` and ``use_fast_decode(model)``: linear layers that stream their weight
  faster when a CPU decode step multiplies only a few rows of activations by it. One row goes
  through a transposed ``(in, out)`` copy of the weight; several fp32 rows through a large weight
  (both sides at least ``packed_min_features``, as in GPT-2) through oneDNN's kernel on a copy packed
  into its blocked layout (the private ops PyTorch's own compiler uses on CPU). Everything else
  (GPUs, training, small matrices with several rows) is plain ``nn.Linear``. Each copy costs
  memory: a second copy of the weight, made on first use and remade when the weight changes.
- ``compiled_greedy``: greedy decoding with each step compiled by ``torch.compile`` on a static
  cache. Inside the compiled step a one-row ``FastDecodeLinear`` is written as ``(W * x).sum(-1)``,
  which inductor turns into one vectorised pass over W fused with the bias (faster here than MKL's
  one-row product, and no copy of W), and the step's small ops and Python overhead are fused away.

``tests/test_kernels.py`` checks each against the plain call.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

try:      # torch >= 2.3 can choose attention kernels; older versions have no cuDNN attention to avoid
    from torch.nn.attention import SDPBackend, sdpa_kernel
    NOT_CUDNN = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
except ImportError:  # pragma: no cover - depends on the torch version
    sdpa_kernel = None


def attention(q, k, v, mask: torch.Tensor | None = None, dropout: float = 0.0,
              is_causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention of q (B, nh, T, hs) over k, v (B, nh, S, hs) -> (B, nh, T, hs);
    ``mask`` is boolean, True where a query may see a key. On CUDA without cuDNN's kernel."""
    if sdpa_kernel is None or q.device.type != "cuda":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
    with sdpa_kernel(NOT_CUDNN):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)


class FastDecodeLinear(nn.Linear):
    """``nn.Linear`` with faster CPU inference paths for a few rows (see the module's docstring)."""
    packed_min_features = 768      # both sides of W at least this long for the packed path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type != "cpu" or torch.is_grad_enabled():
            return super().forward(x)
        rows = x.numel() // self.in_features
        if torch.compiler.is_compiling():      # inductor writes its own kernels: no copies to guard on
            if rows != 1:
                return super().forward(x)
            y = (self.weight * x.reshape(1, self.in_features)).sum(-1)        # (out,): one pass over W
            y = y if self.bias is None else y + self.bias
            return y.view(*x.shape[:-1], self.out_features)
        if rows == 1:
            y = x.reshape(1, self.in_features) @ self._copy("t")            # (1, out): reads W^T row by row
            y = y if self.bias is None else y + self.bias
            return y.view(*x.shape[:-1], self.out_features)
        large = min(self.in_features, self.out_features) >= self.packed_min_features
        packed = self._copy("packed") if large and x.dtype == torch.float32 else None
        if packed is None:
            return super().forward(x)
        y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, self.in_features), packed,
                                               self.bias, "none", [], "")   # (rows, out)
        return y.view(*x.shape[:-1], self.out_features)

    def _copy(self, kind: str) -> torch.Tensor | None:
        """W^T, contiguous (kind "t"), or W packed for oneDNN ("packed"), kept until the weight
        changes (in place or replaced); None if this PyTorch build cannot pack."""
        key = (self.weight.data_ptr(), self.weight._version, self.weight.dtype)
        copies = self.__dict__.setdefault("_copies", {})
        if kind in copies and copies[kind][0] == key:
            return copies[kind][1]
        w = self.weight.detach()
        if kind == "t":
            copy = w.t().contiguous()
        else:
            try:   # the batch-size hint (8) sets the blocking; any number of rows works
                copy = torch.ops.mkldnn._reorder_linear_weight(w, 8)
            except (AttributeError, RuntimeError):   # no oneDNN in this build: plain nn.Linear from now on
                copy = None
        copies[kind] = (key, copy)
        return copy

    def __getstate__(self) -> dict:
        """Copies and pickles leave the weight copies behind (they are remade on use)."""
        state = super().__getstate__()
        state.pop("_copies", None)
        return state


def use_fast_decode(model: nn.Module, enabled: bool = True) -> nn.Module:
    """Turn every ``nn.Linear`` of ``model`` into a ``FastDecodeLinear`` (or back, with
    ``enabled=False``), in place; returns ``model``. Parameters, and so tied weights, are untouched."""
    old, new = (nn.Linear, FastDecodeLinear) if enabled else (FastDecodeLinear, nn.Linear)
    for module in model.modules():
        if type(module) is old:
            module.__dict__.pop("_copies", None)
            module.__class__ = new        # same parameters, same object: only forward changes
    return model


def compiled_greedy(model, ids: torch.Tensor, max_new_tokens: int) -> torch.Tensor:
    """Greedy decoding, equal to ``generate(model, ids, max_new_tokens, temperature=0)`` up to float
    rounding, with every decode step compiled by ``torch.compile`` on a static cache
    (``cuda_graphs.static_greedy``); the model's linears are made ``FastDecodeLinear`` first. The
    first call for a new batch size, length, dtype or device compiles (about 30 s for GPT-2 on 2 CPU
    cores); later calls reuse it."""
    from .cuda_graphs import static_greedy
    return static_greedy(use_fast_decode(model), ids, max_new_tokens, mode="compile")
