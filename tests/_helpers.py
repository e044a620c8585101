"""Shared helpers for the unit tests (fixtures live in conftest.py)."""
from nanoinfer_lib import GPTConfig


def tiny_config(**kw) -> GPTConfig:
    """A small GPT configuration: block_size 16, vocab 50, 2 layers, 2 heads, 32 channels."""
    cfg = dict(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    cfg.update(kw)
    return GPTConfig(**cfg)
