"""validate: every argument rule and its message (a bad type is a TypeError, a bad value a ValueError,
and the message names the argument, what was given and what is allowed)."""
import math

import numpy as np
import pytest
import torch

from nanoinfer_lib import validate

from _helpers import CharTokenizer


# ---- ints ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 7, -3, 2**70, np.int8(5), np.int64(7), np.uint64(2**63 + 1), np.int32(-1)])
def test_integer_accepts_python_and_numpy_ints(value):
    got = validate.integer("n", value)
    assert type(got) is int and got == int(value)


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 3.0, 2.5, np.float32(2.0), "3", None, [1], torch.tensor(3)])
def test_integer_rejects_bools_floats_and_the_rest(value):
    with pytest.raises(TypeError, match=r"^n must be an int, got "):
        validate.integer("n", value)


@pytest.mark.parametrize("value,low,high,allowed", [
    (-1, 0, None, "an int >= 0"), (11, 0, 10, r"an int in \[0, 10\]"), (5, None, 4, "an int <= 4"),
    (0, 1, None, "an int >= 1"),
])
def test_integer_range_message_names_the_range_and_the_value(value, low, high, allowed):
    with pytest.raises(ValueError, match=rf"^count must be {allowed}, got {value}$"):
        validate.integer("count", value, low, high)


def test_integer_ends_are_inclusive():
    assert validate.integer("n", 0, 0, 10) == 0 and validate.integer("n", 10, 0, 10) == 10


def test_optional_integer_says_none_is_allowed():
    assert validate.optional_integer("top_k", None, 0) is None
    assert validate.optional_integer("top_k", np.int16(3), 0) == 3
    with pytest.raises(ValueError, match=r"top_k must be None or an int >= 0, got -1"):
        validate.optional_integer("top_k", -1, 0)
    with pytest.raises(TypeError, match=r"top_k must be None or an int >= 0, got float 2.5"):
        validate.optional_integer("top_k", 2.5, 0)


# ---- numbers ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [0, 1, 0.5, -2.0, np.float16(0.5), np.float32(0.25), np.float64(3.0), np.int64(2)])
def test_number_accepts_finite_reals_including_numpy(value):
    got = validate.number("x", value)
    assert type(got) is float and got == float(value)


@pytest.mark.parametrize("value", [True, np.bool_(False), "1.0", None, 1j, [0.5], torch.tensor(0.5)])
def test_number_rejects_non_reals(value):
    with pytest.raises(TypeError, match=r"^x must be a finite number, got "):
        validate.number("x", value)


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, np.float32("nan"), np.float64("inf")])
def test_number_rejects_nan_and_inf(value):
    with pytest.raises(ValueError, match=r"^x must be a finite number, got (nan|inf|-inf)$"):
        validate.number("x", value)


@pytest.mark.parametrize("value,kw,allowed", [
    (-0.1, dict(low=0.0), r"a finite number >= 0.0"),
    (1.5, dict(low=0.0, high=1.0), r"a finite number in \[0.0, 1.0\]"),
    (0.0, dict(low=0.0, low_open=True), r"a finite number > 0.0"),
    (1.0, dict(low=0.0, high=1.0, high_open=True), r"a finite number in \[0.0, 1.0\)"),
    (2.0, dict(high=1.0, high_open=True), r"a finite number < 1.0"),
    (0.0, dict(low=0.0, high=1.0, low_open=True), r"a finite number in \(0.0, 1.0\]"),
])
def test_number_ranges_and_open_bounds(value, kw, allowed):
    with pytest.raises(ValueError, match=rf"^p must be {allowed}, got {value}$"):
        validate.number("p", value, **kw)


def test_number_closed_and_open_ends():
    assert validate.number("p", 0.0, 0.0, 1.0) == 0.0 and validate.number("p", 1.0, 0.0, 1.0) == 1.0
    assert validate.number("p", 1e-12, 0.0, low_open=True) == 1e-12
    assert validate.optional_number("p", None, 0.0, 1.0) is None
    with pytest.raises(ValueError, match=r"p must be None or a finite number in \[0.0, 1.0\], got 2.0"):
        validate.optional_number("p", 2.0, 0.0, 1.0)


# ---- flags, choices, texts ----------------------------------------------------------------------

def test_flag_is_true_or_false_only():
    assert validate.flag("stream", True) is True and validate.flag("stream", np.bool_(False)) is False
    for bad in (0, 1, "yes", None, 1.0):
        with pytest.raises(TypeError, match=r"stream must be True or False, got"):
            validate.flag("stream", bad)


def test_choice_and_texts():
    assert validate.choice("name", "draft", ["shakespeare", "draft"]) == "draft"
    with pytest.raises(ValueError, match=r"name must be one of \['a', 'b'\], got 'c'"):
        validate.choice("name", "c", ["a", "b"])
    assert validate.text("prompt", "x") == "x"
    with pytest.raises(TypeError, match="prompt must be a str, got int 3"):
        validate.text("prompt", 3)
    assert validate.texts("prompts", ("a", "b")) == ["a", "b"]
    with pytest.raises(TypeError, match="prompts must be a list of strings, got str"):
        validate.texts("prompts", "ab")
    with pytest.raises(TypeError, match=r"prompts\[1\] must be a str, got NoneType"):
        validate.texts("prompts", ["a", None])


# ---- token ids ----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,shape", [
    (3, ()), ([1, 2], (2,)), ([[1, 2], [3, 4]], (2, 2)), ((1, 2), (2,)), ([], (0,)),
    (np.array([[1, 2]], dtype=np.int32), (1, 2)), ([np.int64(1), np.uint8(2)], (2,)),
    (torch.tensor([[1, 2]], dtype=torch.int32), (1, 2)), (torch.tensor([4], dtype=torch.uint8), (1,)),
])
def test_token_ids_accepts_ints_lists_arrays_and_integer_tensors(value, shape):
    ids = validate.token_ids("ids", value, 10)
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
        validate.token_ids("ids", value, 10)


@pytest.mark.parametrize("value,msg", [
    ([10], r"in \[0, 10\), got min 10 and max 10"), ([[-1, 3]], r"got min -1 and max 3"),
    (torch.tensor([0, 99]), r"got min 0 and max 99"), ([2**70], r"in \[0, 10\), got 1180591620717411303424"),
    ([[1, 2], [3]], r"rectangular list of token ids"), ([[[1]]], r"at most 2 dimensions, got shape \(1, 1, 1\)"),
])
def test_token_ids_values_out_of_range_or_shape(value, msg):
    with pytest.raises(ValueError, match=rf"^ids .*{msg}"):
        validate.token_ids("ids", value, 10)


def test_token_ids_max_dim():
    assert validate.token_ids("ids", [[[1]]], 10, max_dim=3).shape == (1, 1, 1)
    with pytest.raises(ValueError, match="stop_tokens must have at most 1 dimensions"):
        validate.token_ids("stop_tokens", [[1]], 10, max_dim=1)


@pytest.mark.parametrize("value,want", [
    (None, set()), (3, {3}), (np.int64(3), {3}), ([1, 2, 2], {1, 2}), ((4,), {4}), ({5, 6}, {5, 6}),
    (torch.tensor([7, 8]), {7, 8}), (torch.tensor(9), {9}), (range(2), {0, 1}), ([], set()),
])
def test_token_id_set_accepts(value, want):
    assert validate.token_id_set("stop_tokens", value, 10) == want


@pytest.mark.parametrize("value,exc,msg", [
    ([1.5], TypeError, "got float 1.5"), (["3"], TypeError, "got str '3'"), ([True], TypeError, "got bool True"),
    (["a"], TypeError, "got str 'a'"), (1.5, TypeError, "got float 1.5"), (True, TypeError, "got bool True"),
    ("3", TypeError, "got str '3'"), (b"3", TypeError, "got bytes"), ({1: 2}, TypeError, "got dict"),
    (torch.tensor([1.0]), TypeError, "torch.float32"), ([10], ValueError, r"in \[0, 10\), got min 10"),
    ([-1], ValueError, "got min -1"), ([[1]], ValueError, "at most 1 dimensions"),
])
def test_token_id_set_rejects(value, exc, msg):
    with pytest.raises(exc, match=rf"^stop_tokens .*{msg}"):
        validate.token_id_set("stop_tokens", value, 10)


def test_encoded_names_the_text_and_the_vocabulary():
    assert validate.encoded("prompts[0]", [1, 2], 10) == [1, 2]
    assert validate.encoded("prompts[0]", torch.tensor([1, 2]), 10) == [1, 2]
    with pytest.raises(ValueError, match=r"prompts\[0\] is empty"):
        validate.encoded("prompts[0]", [], 10)
    with pytest.raises(ValueError, match=r"prompts\[2\] encodes to ids from 1 to 12, outside the model's vocabulary \[0, 10\): use the model's own tokenizer"):
        validate.encoded("prompts[2]", [1, 12], 10)
    with pytest.raises(ValueError, match=r"from -1 to 3"):
        validate.encoded("prompt", [-1, 3], 10)
    with pytest.raises(TypeError, match=r"the token ids of prompt must be a list of int token ids, got float 1.5"):
        validate.encoded("prompt", [1.5], 10)


# ---- seeds and generators -----------------------------------------------------------------------

def test_seed_bounds():
    assert validate.seed("seed", None) is None
    assert validate.seed("seed", 0) == 0 and validate.seed("seed", 2**64 - 1) == 2**64 - 1
    assert validate.seed("seed", np.uint64(2**64 - 1)) == 2**64 - 1
    for bad in (-1, 2**64, 2**70):
        with pytest.raises(ValueError, match=r"seed must be None or an int in \[0, 18446744073709551615\], got"):
            validate.seed("seed", bad)
    for bad in (1.0, "1", True):
        with pytest.raises(TypeError, match="seed must be None or an int"):
            validate.seed("seed", bad)


def test_seed_and_generator_rule():
    g = torch.Generator()
    assert validate.seed_and_generator(None, None) == (None, None)
    assert validate.seed_and_generator(3, None) == (3, None)
    assert validate.seed_and_generator(None, g) == (None, g)
    with pytest.raises(ValueError, match="give seed or generator, not both"):
        validate.seed_and_generator(3, g)
    with pytest.raises(TypeError, match="generator must be None or a torch.Generator, got int 3"):
        validate.seed_and_generator(None, 3)
    with pytest.raises(ValueError, match="seed must be"):
        validate.seed_and_generator(-1, None)


def test_make_generator():
    g = torch.Generator()
    assert validate.make_generator(None, g, "cpu") is g
    assert validate.make_generator(None, None, "cpu") is None
    a, b = validate.make_generator(2**64 - 1, None, "cpu"), validate.make_generator(2**64 - 1, None, "cpu")
    assert torch.equal(torch.rand(4, generator=a), torch.rand(4, generator=b))


# ---- dtypes, devices, paths ---------------------------------------------------------------------

def test_dtype_names_and_floating_dtypes():
    assert validate.dtype("dtype", "bfloat16") is torch.bfloat16
    assert validate.dtype("dtype", torch.float16) is torch.float16
    assert validate.dtype("dtype", torch.float64) is torch.float64
    assert validate.dtype_name(torch.bfloat16) == "bfloat16"
    with pytest.raises(ValueError, match=r"dtype must be one of \['float32', 'float16', 'bfloat16'\], got 'fp16'"):
        validate.dtype("dtype", "fp16")
    with pytest.raises(ValueError, match="dtype must be a floating-point dtype .* got torch.int8"):
        validate.dtype("dtype", torch.int8)
    with pytest.raises(TypeError, match="dtype must be a torch.dtype or one of"):
        validate.dtype("dtype", 16)


def test_device():
    assert validate.device("device", "cpu") == torch.device("cpu")
    assert validate.device("device", torch.device("cpu")) == torch.device("cpu")
    with pytest.raises(ValueError, match="device must be a device such as 'cpu', 'cuda' or 'cuda:0', got 'gpu'"):
        validate.device("device", "gpu")
    for bad in (1.5, None, True):
        with pytest.raises(TypeError, match="device must be a torch.device or a string"):
            validate.device("device", bad)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device is 'cuda', but this machine has no CUDA device: use 'cpu'"):
            validate.device("device", "cuda")
        with pytest.raises(ValueError, match="device is 'cuda:0'"):
            validate.device("device", 0)
    else:
        with pytest.raises(ValueError, match="CUDA device"):
            validate.device("device", f"cuda:{torch.cuda.device_count()}")


def test_paths(tmp_path):
    assert validate.path("path", str(tmp_path)) == tmp_path and validate.path("path", tmp_path) == tmp_path
    for bad in (None, 3, b"x.pt"):
        with pytest.raises(TypeError, match=r"path must be a file path \(str or pathlib.Path\), got"):
            validate.path("path", bad)
    assert validate.output_file("--out", tmp_path / "x.json") == tmp_path / "x.json"
    with pytest.raises(IsADirectoryError, match="--out .* is a directory"):
        validate.output_file("--out", tmp_path)


# ---- tensors, tokenizers ---------------------------------------------

def test_tensor():
    x = torch.zeros(2, 3)
    assert validate.tensor("logits", x, dims=(2,), floating=True) is x
    with pytest.raises(TypeError, match="logits must be a floating-point tensor, got a tensor of dtype torch.int64"):
        validate.tensor("logits", torch.zeros(2, dtype=torch.long), floating=True)
    with pytest.raises(TypeError, match="logits must be a tensor, got list"):
        validate.tensor("logits", [1.0])
    with pytest.raises(ValueError, match=r"mask must have 2 or 4 dimensions, got shape \(3,\)"):
        validate.tensor("mask", torch.zeros(3), dims=(2, 4))


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
    assert validate.tokenizer("tokenizer", tok) is tok
    with pytest.raises(TypeError, match=r"tokenizer must be a tokenizer with encode, decode and eot_token \(nanoinfer_lib.Tokenizer\), got NoneType"):
        validate.tokenizer("tokenizer", None)
    with pytest.raises(TypeError, match=r"got NoEot .* \(it has no eot_token\)"):
        validate.tokenizer("tokenizer", NoEot())
    with pytest.raises(TypeError, match="tokenizer.eot_token must be an int >= 0, got float 1.5"):
        validate.tokenizer("tokenizer", FloatEot())
    with pytest.raises(TypeError, match="tokenizer must be a tokenizer"):
        validate.tokenizer("tokenizer", NotCallable())
    with pytest.raises(TypeError, match=r"encode, decode, eot_token, vocab_size and token_bytes .* \(it has no vocab_size, token_bytes\)"):
        validate.tokenizer_with("tokenizer", tok, "vocab_size", "token_bytes")
