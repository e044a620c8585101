import matplotlib
import pytest
import torch

matplotlib.use("Agg")          # the one place the tests choose matplotlib's backend: no windows

from _helpers import tiny_config
from nanoinfer_lib import GPT


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
