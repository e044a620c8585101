"""validate: every argument primitive and its message (a bad type is a TypeError, a bad value a ValueError,
and the message names the argument, what was given and what is allowed)."""
import math

import numpy as np
import pytest
import torch

from nanoinfer_lib import validate



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


# ---- tensors ---------------------------------------------

def test_tensor():
    x = torch.zeros(2, 3)
    assert validate.tensor("logits", x, dims=(2,), floating=True) is x
    with pytest.raises(TypeError, match="logits must be a floating-point tensor, got a tensor of dtype torch.int64"):
        validate.tensor("logits", torch.zeros(2, dtype=torch.long), floating=True)
    with pytest.raises(TypeError, match="logits must be a tensor, got list"):
        validate.tensor("logits", [1.0])
    with pytest.raises(ValueError, match=r"mask must have 2 or 4 dimensions, got shape \(3,\)"):
        validate.tensor("mask", torch.zeros(3), dims=(2, 4))
