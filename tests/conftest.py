import signal

import matplotlib
import pytest
import torch

matplotlib.use("Agg")          # the one place the tests choose matplotlib's backend: no windows

from _helpers import FakeModel, FakeTokenizer, tiny_config
from nanoinfer_lib import GPT


@pytest.fixture
def tiny_model() -> GPT:
    """A small randomly initialised GPT (block_size 16, vocab 50) in eval mode."""
    torch.manual_seed(0)
    return GPT(tiny_config()).eval()


@pytest.fixture
def alarm(request):
    """Fail a test that runs over its module's ``ALARM_S`` seconds (SIGALRM) instead of hanging the
    suite. A module that starts servers uses it on every test: ``pytestmark = pytest.mark.usefixtures("alarm")``."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return
    seconds, name = request.module.ALARM_S, request.module.__name__.rsplit(".", 1)[-1]

    def fail(signum, frame):
        raise TimeoutError(f"{name}: a test ran over {seconds} s")
    previous = signal.signal(signal.SIGALRM, fail)
    signal.alarm(seconds)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="session")
def bundled():
    """The bundled model and tokenizer (loaded once)."""
    from nanoinfer_lib import load_model
    return load_model()


@pytest.fixture
def fake():
    """The sampling explorer on a stand-in model with a hand-made distribution (PROBS)."""
    from nanoinfer_lib.widgets import SamplingExplorer
    return SamplingExplorer(FakeModel(), FakeTokenizer(), prompt="a", max_new_tokens=0, n_show=4)


@pytest.fixture(scope="module")
def real(bundled):
    """The sampling explorer on the bundled model."""
    from nanoinfer_lib.widgets import SamplingExplorer
    model, tokenizer = bundled
    return SamplingExplorer(model, tokenizer, prompt="ROMEO:\nWhat light", max_new_tokens=8, n_show=10)
