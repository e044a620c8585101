"""Faster linear layers for the model's hot spot, a drop-in for ``nn.Linear`` in ``model.py``.

- ``FastDecodeLinear`` and ``use_fast_decode(model)``: linear layers that stream their weight
  faster when a CPU decode step multiplies only a few rows of activations by it. One row goes
  through a transposed ``(in, out)`` copy of the weight; several fp32 rows through a large weight
  (both sides at least ``packed_min_features``, as in GPT-2) through oneDNN's kernel on a copy packed
  into its blocked layout (the private ops PyTorch's own compiler uses on CPU). Everything else
  (GPUs, training, small matrices with several rows) is plain ``nn.Linear``. Each copy costs
  memory: a second copy of the weight, made on first use and remade when the weight changes.
- Inside a step compiled by ``torch.compile`` (``static_decode.compiled_greedy``) a one-row
  ``FastDecodeLinear`` is written as ``(W * x).sum(-1)``, which inductor turns into one vectorised
  pass over W fused with the bias (faster here than MKL's one-row product, and no copy of W).

``tests/test_kernels.py`` checks each against the plain call.
"""
from __future__ import annotations

import torch
import torch.nn as nn

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
