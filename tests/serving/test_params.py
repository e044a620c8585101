"""serving.params: SamplingParams is SamplingSettings (one set of rules) plus the request's own fields."""
import dataclasses

import pytest

from nanoinfer_lib.sampling import SamplingSettings
from nanoinfer_lib.serving import SamplingParams


def test_it_is_the_library_sampling_settings():
    p = SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=5, stop_tokens=[3, 1, 3], stop="\n", seed=4)
    assert isinstance(p, SamplingSettings) and not p.greedy
    assert (p.stop_tokens, p.stop, p.seed) == ((1, 3), ("\n",), 4)
    assert SamplingParams().greedy and SamplingParams().max_new_tokens == 64
    assert SamplingParams(stop_tokens=7, stop=["a", "b", "a"]).stop_tokens == (7,)
    assert SamplingParams(stop=["a", "b", "a"]).stop == ("a", "b")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.temperature = 1.0


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(temperature=-0.1), ValueError, "temperature"),          # SamplingSettings' own checks
    (dict(top_k=1.5), TypeError, "top_k"),
    (dict(top_p=1.5), ValueError, "top_p"),
    (dict(min_p=-1), ValueError, "min_p"),
    (dict(repetition_penalty=0), ValueError, "repetition_penalty"),
    (dict(max_new_tokens=0), ValueError, "max_new_tokens"),
    (dict(max_new_tokens=2.0), TypeError, "max_new_tokens"),
    (dict(stop_tokens=[-1]), ValueError, "stop_tokens"),
    (dict(stop_tokens="a"), TypeError, "stop_tokens"),
    (dict(stop_tokens=[1.0]), TypeError, "stop_tokens"),
    (dict(stop=""), ValueError, "stop"),
    (dict(stop=["a", 3]), TypeError, "stop"),
    (dict(stop=5), TypeError, "stop"),
    (dict(seed=-1), ValueError, "seed"),
    (dict(seed="1"), TypeError, "seed"),
])
def test_bad_values_name_the_argument(kwargs, err, name):
    with pytest.raises(err, match=name):
        SamplingParams(**kwargs)
