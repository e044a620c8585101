"""A GPT-2-style decoder (nanoGPT layout) that can run with or without a KV cache.

Shapes follow one convention everywhere in the course:
B batch, T new tokens, S keys attended (cache + new), C = n_embd, nh = n_head, hs = head_dim.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from .kv_cache import KVCache


@dataclass
class GPTConfig:
    block_size: int = 512      # context window: the most tokens the model sees at once
    vocab_size: int = 2048     # tokenizer size (bundled BPE: 2047 merges/bytes + <|endoftext|>)
    n_layer: int = 4           # transformer blocks
    n_head: int = 4            # attention heads per block
    n_embd: int = 256          # model width C
    dropout: float = 0.0       # used only while training
    bias: bool = True          # biases in Linear and LayerNorm, as GPT-2
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"GPTConfig.{name} must be a positive int, got {type(value).__name__}")
            if value <= 0:
                raise ValueError(f"GPTConfig.{name} must be a positive int, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must lie in [0, 1), got {self.dropout!r}")
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


class Linear(nn.Linear):
    """``nn.Linear`` (y = x W^T + b, W stored (out, in)) with a faster CPU path for one-row decoding.

    A decode step at batch 1 multiplies one row of activations by every weight matrix, so it costs
    about the time to stream the weights from memory, and that depends on how the BLAS library walks
    W. Measured with one thread on the course's CPU (``python -m nanoinfer_lib.benchmark vs-hf``
    with and without ``--plain-linear``), one row streams fastest through a transposed (in, out)
    copy of W. Results are the same up to float rounding; set ``Linear.fast_cpu_decode = False`` to
    compare. The transposed copy costs memory (a second copy of each weight, made on first use and
    remade if the weight changes); GPUs, batches of rows and training use plain ``nn.Linear``.
    """
    fast_cpu_decode = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if (not self.fast_cpu_decode or x.device.type != "cpu" or x.numel() != self.in_features
                or torch.is_grad_enabled()):
            return super().forward(x)
        y = x.reshape(1, self.in_features) @ self.weight_t()               # (1, out): reads W^T row by row
        if self.bias is not None:
            y = y + self.bias
        return y.view(*x.shape[:-1], self.out_features)

    def weight_t(self) -> torch.Tensor:
        """W^T (in, out), contiguous; cached until the weight changes (in place or replaced)."""
        key = (self.weight.data_ptr(), self.weight._version, self.weight.dtype)
        if getattr(self, "_weight_t_key", None) != key:
            self._weight_t = self.weight.detach().t().contiguous()
            self._weight_t_key = key
        return self._weight_t


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.n_head, self.head_dim, self.layer_idx = config.n_head, config.head_dim, layer_idx
        self.c_attn = Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None,
                attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                          # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.update(self.layer_idx, k, v)                  # (B, nh, S, hs), S = past + T
        dropout = self.dropout if self.training else 0.0
        if attn_mask is not None:       # explicit mask: padding and/or causal with an offset
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask, dropout_p=dropout)
        elif past == 0:                 # plain causal attention over the new tokens
            y = F.scaled_dot_product_attention(q, k, v, is_causal=T > 1, dropout_p=dropout)
        elif T == 1:                    # one new token sees every cached position
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout)
        else:                           # several new tokens after a cache: query i sees keys <= past + i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout)
        y = self.c_proj(y.transpose(1, 2).reshape(B, T, C))               # (B, T, C)
        return self.resid_dropout(y) if self.training else y              # dropout only while training


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))      # GPT-2's GELU
        return self.dropout(x) if self.training else x


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, attn_mask=None):
        x = x + self.attn(self.ln_1(x), kv_cache, attn_mask)   # pre-LayerNorm residual blocks
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),   # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),   # learned positions
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        ))
        self.lm_head = Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight          # tied embeddings, as GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():                    # GPT-2's scaled residual init
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())   # the tied lm_head is counted once
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    @property
    def device(self) -> torch.device:
        return self.transformer.wte.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.wte.weight.dtype

    def forward(self, idx: torch.Tensor, kv_cache: KVCache | None = None,
                attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits (B, T, vocab) for the T tokens in ``idx`` (B, T).

        kv_cache: keys/values of earlier positions; the new ones are appended to it.
        attention_mask: (B, S) with 1 for real tokens and 0 for padding, S = cached + T.
        position_ids: (B, T) positions of the new tokens (default: cache length + 0..T-1).
        last_only: return only the last position's logits, (B, 1, vocab), as decoding needs.
        """
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"idx must be an integer tensor of token ids (B, T), got {type(idx).__name__}"
                            + (f" of dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else ""))
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must have shape (B, T) with T >= 1, got {tuple(idx.shape)}")
        B, T = idx.shape
        past = kv_cache.length if kv_cache is not None else 0
        if position_ids is None and past + T > self.config.block_size:
            raise ValueError(f"sequence length {past + T} (cached {past} + new {T}) exceeds the "
                             f"context window block_size={self.config.block_size}; crop the input")
        # checked on CPU only: on a GPU this check would cost a host sync per step (generate checks prompts)
        if idx.device.type == "cpu" and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size}), "
                             f"got min {int(idx.min())} and max {int(idx.max())}")
        if position_ids is None:
            pos = torch.arange(past, past + T, device=idx.device)        # (T,)
        else:
            pos = position_ids                                              # (B, T)
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)         # (B, T, C)
        if self.training:
            x = self.transformer.drop(x)
        attn_mask = None
        if attention_mask is not None:
            attn_mask = self._padding_mask(attention_mask, past, T)       # (B, 1, T, S)
        for block in self.transformer.h:
            x = block(x, kv_cache, attn_mask)
        if kv_cache is not None:
            kv_cache.advance(T)
        if last_only:
            x = x[:, -1:, :]
        return self.lm_head(self.transformer.ln_f(x))                      # (B, T, vocab)

    @staticmethod
    def _padding_mask(attention_mask: torch.Tensor, past: int, T: int) -> torch.Tensor:
        """Boolean (B, 1, T, S) mask: causal (with the cache's offset) and no padded keys."""
        S = past + T
        if attention_mask.dim() != 2 or attention_mask.shape[1] != S:
            raise ValueError(f"attention_mask must have shape (B, {S}) (cached + new tokens), "
                             f"got {tuple(attention_mask.shape)}")
        causal = torch.ones(T, S, dtype=torch.bool, device=attention_mask.device).tril(diagonal=past)
        mask = causal[None, None] & attention_mask.bool()[:, None, None, :]      # (B, 1, T, S)
        # a padded query row would see no key at all (NaN in softmax): let it see itself
        eye = torch.zeros(T, S, dtype=torch.bool, device=mask.device)
        eye[torch.arange(T), torch.arange(past, S)] = True
        return mask | (~mask.any(-1, keepdim=True) & eye)

    # ------------------------------------------------------------------ Hugging Face GPT-2
    @classmethod
    def from_pretrained(cls, name_or_path: str = "gpt2", dtype: torch.dtype | None = None) -> "GPT":
        """Load GPT-2 weights in Hugging Face format: a hub name ("gpt2", "gpt2-medium", ...; online)
        or a local directory holding ``config.json`` and the weights (offline). Needs the ``hf`` extra."""
        try:
            from transformers import GPT2LMHeadModel
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("GPT.from_pretrained needs transformers: pip install 'nanoinfer_lib[hf]'") from e
        try:
            hf = GPT2LMHeadModel.from_pretrained(name_or_path, torch_dtype=torch.float32)
        except OSError as e:
            where = "directory" if Path(name_or_path).exists() else "hub name (needs internet)"
            raise OSError(f"could not load GPT-2 weights from {name_or_path!r} ({where}): {e}") from e
        hc = hf.config
        config = GPTConfig(block_size=hc.n_positions, vocab_size=hc.vocab_size, n_layer=hc.n_layer,
                           n_head=hc.n_head, n_embd=hc.n_embd, bias=True,
                           layer_norm_epsilon=hc.layer_norm_epsilon)
        model = cls(config)
        sd, sd_hf = model.state_dict(), hf.state_dict()
        # HF's GPT-2 uses Conv1D modules: their weights are stored transposed relative to nn.Linear
        transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        keys = [k for k in sd_hf if not k.endswith((".attn.bias", ".attn.masked_bias"))]
        missing = set(sd) - set(keys)
        if missing - {"lm_head.weight"}:
            raise ValueError(f"weights missing from {name_or_path!r}: {sorted(missing)[:5]}")
        with torch.no_grad():
            for k in keys:
                src = sd_hf[k].t() if k.endswith(transposed) else sd_hf[k]
                if src.shape != sd[k].shape:
                    raise ValueError(f"shape mismatch for {k}: {tuple(src.shape)} vs {tuple(sd[k].shape)}")
                sd[k].copy_(src)
        model.eval()
        return model.to(dtype) if dtype is not None else model

    def config_json(self) -> str:
        return json.dumps(self.config.to_dict())
