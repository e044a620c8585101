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

try:      # torch >= 2.3 can choose attention kernels; older versions have no cuDNN attention to avoid
    from torch.nn.attention import SDPBackend, sdpa_kernel
    _NOT_CUDNN = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
except ImportError:  # pragma: no cover - depends on the torch version
    sdpa_kernel = None


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
    """``nn.Linear`` (y = x W^T + b, W stored (out, in)) with faster CPU paths for decoding.

    A decode step multiplies a few rows of activations by every weight matrix, so it costs about the
    time to stream the weights from memory, and that depends on how the matrix library walks W.
    Measured with one thread on the course's CPU (``python -m nanoinfer_lib.benchmark vs-hf``, with
    and without ``--plain-linear``), in inference only:

    - one row (batch 1, one new token) streams fastest through a transposed (in, out) copy of W;
    - several fp32 rows through a large W (both sides at least 768, as in GPT-2) run fastest in
      oneDNN's kernel on a copy of W packed into its blocked layout; smaller matrices, like the
      bundled model's, gained little there (about 10% at 4-8 rows, a loss at 2) and keep ``nn.Linear``.

    Results are the same up to float rounding; set ``Linear.fast_cpu_decode = False`` to compare.
    Each copy costs memory (a second copy of the weight, made on first use and remade if the weight
    changes); GPUs and training use plain ``nn.Linear``.
    """
    fast_cpu_decode = True
    packed_min_features = 768      # W needs both sides at least this long for the packed path
    _packed_ok = True              # cleared if this PyTorch build lacks oneDNN's linear ops

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.fast_cpu_decode or x.device.type != "cpu" or torch.is_grad_enabled():
            return super().forward(x)
        rows = x.numel() // self.in_features
        if rows == 1:
            y = x.reshape(1, self.in_features) @ self._copy("t")            # (1, out): reads W^T row by row
            y = y if self.bias is None else y + self.bias
        else:
            large = min(self.in_features, self.out_features) >= self.packed_min_features
            packed = self._copy("packed") if large and rows > 1 and x.dtype == torch.float32 else None
            if packed is None:
                return super().forward(x)
            y = torch.ops.mkldnn._linear_pointwise(x.reshape(rows, self.in_features), packed,
                                                   self.bias, "none", [], "")   # (rows, out)
        return y.view(*x.shape[:-1], self.out_features)

    def _copy(self, kind: str) -> torch.Tensor | None:
        """W^T, contiguous (kind "t"), or W packed for oneDNN ("packed"), cached until the weight
        changes (in place or replaced); None if this PyTorch cannot pack."""
        if kind == "packed" and not Linear._packed_ok:
            return None
        key = (kind, self.weight.data_ptr(), self.weight._version, self.weight.dtype)
        cache = self.__dict__.setdefault("_copies", {})
        if cache.get(kind, (None,))[0] != key:
            w = self.weight.detach()
            if kind == "t":
                copy = w.t().contiguous()
            else:
                try:   # the batch-size hint (8) sets the blocking; any number of rows works
                    copy = torch.ops.mkldnn._reorder_linear_weight(w, 8)
                except (AttributeError, RuntimeError):   # no oneDNN in this build
                    Linear._packed_ok = False
                    return None
            cache[kind] = (key, copy)
        return cache[kind][1]

    def __getstate__(self) -> dict:
        """Copies and pickles leave the cached weight copies behind (they are remade on use)."""
        state = super().__getstate__()                                   # a copy of __dict__
        state.pop("_copies", None)
        return state


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
            y = self.attention(q, k, v, attn_mask, dropout)
        elif past == 0:                 # plain causal attention over the new tokens
            y = self.attention(q, k, v, None, dropout, is_causal=T > 1)
        elif T == 1:                    # one new token sees every cached position
            y = self.attention(q, k, v, None, dropout)
        else:                           # several new tokens after a cache: query i sees keys <= past + i
            mask = torch.ones(T, past + T, dtype=torch.bool, device=x.device).tril(diagonal=past)
            y = self.attention(q, k, v, mask, dropout)
        y = self.c_proj(y.transpose(1, 2).reshape(B, T, C))               # (B, T, C)
        return self.resid_dropout(y) if self.training else y              # dropout only while training

    cudnn_attention = False    # True lets PyTorch choose cuDNN's attention kernel on CUDA

    def attention(self, q, k, v, mask: torch.Tensor | None, dropout: float,
                  is_causal: bool = False) -> torch.Tensor:
        """``F.scaled_dot_product_attention``; on CUDA without cuDNN's kernel, which PyTorch prefers
        for fp16/bf16 on recent GPUs but which prepares a new plan for every new key length, and
        decoding brings a new length at every step."""
        if sdpa_kernel is None or q.device.type != "cuda" or self.cudnn_attention:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
        with sdpa_kernel(_NOT_CUDNN):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)


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
        eye = torch.ones(T, S, dtype=torch.bool, device=mask.device).tril(past).triu(past)  # key past + i
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
