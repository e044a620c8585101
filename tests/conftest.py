import pytest
import torch

from nanoinfer_lib import GPT, GPTConfig


def tiny_config(**kw) -> GPTConfig:
    cfg = dict(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    cfg.update(kw)
    return GPTConfig(**cfg)


@pytest.fixture
def tiny_model() -> GPT:
    """A small randomly initialised GPT (block_size 16, vocab 50) in eval mode."""
    torch.manual_seed(0)
    return GPT(tiny_config()).eval()


@pytest.fixture(scope="session")
def bundled():
    """The bundled model and tokenizer (loaded once)."""
    from nanoinfer_lib import load_model
    return load_model()
