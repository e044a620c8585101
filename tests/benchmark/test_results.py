"""benchmark.results: every committed results file is in the one schema; anything else is refused."""
import json

import pytest

from nanoinfer_lib.benchmark.results import SCHEMA, read_results
from nanoinfer_lib.paths import RESULTS


def test_every_committed_results_file_is_in_the_schema():
    files = sorted(RESULTS.glob("*.json"))
    assert files
    for path in files:
        res = read_results(path)
        assert res["schema"] == SCHEMA and res["benchmark"] and "hardware" in res and "data" in res, path.name


def test_a_file_without_the_schema_is_a_value_error(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"meta": {"device": "cuda"}, "runs": []}))
    with pytest.raises(ValueError, match="old.json is not a NanoInfer results file"):
        read_results(old)
    assert read_results(tmp_path / "absent.json") is None
