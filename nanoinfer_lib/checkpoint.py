"""Save and load model checkpoints; ``load_model()`` gives a bundled model and its tokenizer.

A checkpoint is a ``torch.save``d dict: ``format``, ``config`` (GPTConfig fields), ``model`` (the
state dict without the tied ``lm_head.weight``), ``tokenizer`` (a file name beside the checkpoint,
or a path) and ``extra``. Every failure to load names the file and what is wrong with it.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch

from . import validate
from .model import GPT, GPTConfig, check_model
from .paths import BUNDLED_CHECKPOINT, DRAFT_CHECKPOINT, atomic_write
from .tokenizer import Tokenizer

FORMAT = "nanoinfer-checkpoint-v1"
BUNDLED = {"shakespeare": BUNDLED_CHECKPOINT, "draft": DRAFT_CHECKPOINT}   # load_model(name=...)


def save_checkpoint(model: GPT, path: str | Path, tokenizer_path: str | Path | None = None,
                    dtype: torch.dtype = torch.float16, extra: dict | None = None) -> Path:
    """Write the weights (in ``dtype``, a floating-point type; fp16 halves the file), the config and
    the tokenizer's file name. The tokenizer path is stored relative to the checkpoint when it lies
    beside it. ``extra``: a dict of plain values (numbers, strings, lists, dicts, tensors). The file
    is written to a temporary name in the same folder and renamed into place (``atomic_write``), so
    an interrupted save leaves the old checkpoint whole."""
    check_model("model", model)
    path, dtype = validate.path("path", path), validate.dtype("dtype", dtype)
    tok = None
    if tokenizer_path is not None:
        tok = validate.path("tokenizer_path", tokenizer_path)
        tok = tok.name if tok.resolve().parent == path.resolve().parent else str(tok)
    extra = _plain_extra({} if extra is None else extra)
    state = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    ckpt = {"format": FORMAT, "config": model.config.to_dict(), "model": state, "tokenizer": tok, "extra": extra}
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def _plain_extra(extra) -> dict:
    """``extra`` if ``load_checkpoint`` (``torch.load(weights_only=True)``) can read it back."""
    if not isinstance(extra, dict):
        raise TypeError(f"extra must be None or a dict, got {type(extra).__name__}")
    buf = io.BytesIO()
    try:
        torch.save(extra, buf)
        buf.seek(0)
        torch.load(buf, weights_only=True)
    except Exception as e:
        raise TypeError(f"extra must hold only plain values (numbers, strings, lists, dicts, tensors) that "
                        f"load_checkpoint can read back: {type(e).__name__}: {str(e).splitlines()[0][:120]}") from None
    return extra


def _read(path: Path) -> dict:
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory: give the .pt file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a readable checkpoint (damaged, cut short, or not written by "
                         f"save_checkpoint): torch.load raised {type(e).__name__}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a NanoInfer checkpoint (expected format {FORMAT!r})")
    for key, kind in (("config", dict), ("model", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise ValueError(f"{path} has no {key!r} entry (a {kind.__name__}): the file is incomplete")
    if not isinstance(ckpt.get("tokenizer"), (str, type(None))):
        raise ValueError(f"{path}: its 'tokenizer' entry must be a file name or None, got "
                         f"{type(ckpt['tokenizer']).__name__}")
    return ckpt


def _check_weights(path: Path, state: dict, model: GPT) -> None:
    """Every weight the model needs, of its shape, floating-point and finite; nothing else."""
    missing = sorted(set(model.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise ValueError(f"{path}: the weights do not match the config: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    for k, v in model.state_dict().items():
        w = state[k]
        if not isinstance(w, torch.Tensor) or w.shape != v.shape:
            got = tuple(w.shape) if isinstance(w, torch.Tensor) else type(w).__name__
            raise ValueError(f"{path}: weight {k} has shape {got}, the config needs {tuple(v.shape)}")
        if not w.is_floating_point():
            raise ValueError(f"{path}: weight {k} has dtype {w.dtype}, not a floating-point type")
        if not bool(torch.isfinite(w).all()):
            raise ValueError(f"{path}: weight {k} holds NaN or infinite values: the file is damaged")


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> tuple[GPT, GPTConfig, Path | None]:
    """Load a checkpoint written by ``save_checkpoint``: returns ``(model, config, tokenizer_path)``,
    the model in eval mode on ``device`` in ``dtype``. Raises FileNotFoundError, IsADirectoryError
    or ValueError naming the path (a missing key, a wrong shape, an unreadable file); every check
    runs before the model is built, so it never returns a half-built model."""
    path, dtype = validate.path("path", path), validate.dtype("dtype", dtype)
    device = validate.device("device", device)
    ckpt = _read(path)
    try:
        config = GPTConfig(**ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad config in checkpoint: {e}") from e
    model = GPT(config)
    state = dict(ckpt["model"])
    if "transformer.wte.weight" not in state:
        raise ValueError(f"{path}: the weights have no 'transformer.wte.weight' (token embedding)")
    state["lm_head.weight"] = state["transformer.wte.weight"]   # tied weights
    _check_weights(path, state, model)
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval().to(device=device, dtype=dtype)
    tok = ckpt.get("tokenizer")
    tokenizer_path = None
    if tok is not None:
        tokenizer_path = Path(tok) if Path(tok).is_absolute() else path.parent / tok
    return model, config, tokenizer_path


def load_model(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               checkpoint: str | Path | None = None, name: str = "shakespeare") -> tuple[GPT, Tokenizer]:
    """A bundled model (``name``: "shakespeare", the default, or "draft", chapter 06's small draft
    model) and its tokenizer, or those of ``checkpoint``; in eval mode, ready to generate."""
    if checkpoint is None:
        checkpoint = BUNDLED[validate.choice("name", name, BUNDLED)]
    model, _, tokenizer_path = load_checkpoint(checkpoint, device=device, dtype=dtype)
    try:
        tokenizer = Tokenizer(tokenizer_path)
    except (OSError, ValueError) as e:     # a FileNotFoundError stays one; a bad file is a ValueError
        raise (type(e) if isinstance(e, OSError) else ValueError)(f"the tokenizer of checkpoint {checkpoint}: {e}") from e
    if tokenizer.vocab_size > model.config.vocab_size:
        raise ValueError(f"checkpoint {checkpoint}: its tokenizer {tokenizer.name} has {tokenizer.vocab_size} tokens, "
                         f"more than the model's vocab_size={model.config.vocab_size}")
    return model, tokenizer
