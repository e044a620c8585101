"""Tokenizer and checkpoint round trips, the bundled assets, and clear errors on bad files."""
import json

import pytest
import torch

import nanoinfer_lib
from nanoinfer_lib import GPT, Tokenizer, load_checkpoint, load_model, save_checkpoint
from nanoinfer_lib.tokenizer import BUNDLED_TOKENIZER
from _helpers import tiny_config

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


def test_named_encoding_offline_is_a_clear_connection_error(monkeypatch):
    import tiktoken

    def offline(name):
        raise OSError("network is unreachable")
    monkeypatch.setattr(tiktoken, "get_encoding", offline)
    with pytest.raises(ConnectionError, match="gpt2"):
        Tokenizer("gpt2")


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GPT(tiny_config()).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, tokenizer_path=BUNDLED_TOKENIZER, dtype=torch.float32)
    loaded, config, tok_path = load_checkpoint(path)
    assert config == model.config and tok_path == BUNDLED_TOKENIZER
    idx = torch.randint(0, 50, (1, 8))
    assert torch.equal(loaded(idx), model(idx))
    assert not loaded.training


def test_checkpoint_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ValueError, match="other.pt"):
        load_checkpoint(other)
    model = GPT(tiny_config())
    bad = tmp_path / "mismatch.pt"
    save_checkpoint(model, bad)
    ckpt = torch.load(bad, weights_only=False)
    ckpt["config"]["n_embd"] = 64
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match="mismatch.pt"):
        load_checkpoint(bad)


def test_bundled_model_and_training_record():
    model, tok = load_model()
    assert model.config.block_size == 512 and model.config.vocab_size == tok.vocab_size
    assert not model.training and model.dtype == torch.float32
    info = json.loads((BUNDLED_TOKENIZER.parent / "train_info.json").read_text())
    assert info["config"] == model.config.to_dict()
    eval_set = json.loads((BUNDLED_TOKENIZER.parent / "eval_set.json").read_text())
    assert len(eval_set) >= 50 and all(set(e) >= {"prompt", "reference"} for e in eval_set)


def test_public_api_names():
    for name in ("load_checkpoint", "Tokenizer", "generate", "generate_batch", "load_model", "KVCache"):
        assert hasattr(nanoinfer_lib, name)
