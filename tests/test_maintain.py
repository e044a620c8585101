"""maintain: the chapter-times table of the teacher's guide is rendered from the committed results
file, and the two agree; the command records what it measured."""
import json
from pathlib import Path

import pytest

from nanoinfer_lib import maintain
from nanoinfer_lib.benchmark.results import make_results, read_results

ROOT = Path(__file__).resolve().parents[1]


def _times(**notebooks):
    return make_results("chapter-times", {"notebooks": notebooks}, command="python -m nanoinfer_lib.maintain chapter-times")


ENTRY = {"seconds": 75.4, "passed": True, "pytest": "42 passed in 70.1s", "hardware": "CPU X, 2 cores, 1 thread",
         "commit": "abc1234", "date": "2026-12-02T10:00:00Z"}


def test_the_guides_table_equals_the_committed_times():
    times = read_results(maintain.TIMES_FILE)
    assert times is not None and times["benchmark"] == "chapter-times", "run python -m nanoinfer_lib.maintain chapter-times"
    guide = maintain.GUIDE.read_text()
    start, end = guide.index(maintain.TABLE_START), guide.index(maintain.TABLE_END)
    assert guide[start + len(maintain.TABLE_START):end].strip() == maintain.render_table(times)
    assert maintain.render_guide(guide, times) == guide
    names = set(times["data"]["notebooks"])
    assert names <= {p.stem for p in maintain.notebooks()}, "times for notebooks that do not exist"
    for r in times["data"]["notebooks"].values():
        assert r["seconds"] > 0 and r["hardware"] and r["date"]


def test_render_table_names_time_result_and_hardware():
    table = maintain.render_table(_times(**{"01_x": ENTRY, "02_y": dict(ENTRY, seconds=5.2, passed=False, commit=None)}))
    lines = table.splitlines()
    assert lines[0].startswith("| Chapter |") and len(lines) == 4
    assert "| 01_x | 1 min 15 s | passed (42 passed in 70.1s) | CPU X, 2 cores, 1 thread | 2026-12-02, commit abc1234 |" in table
    assert "| 02_y | 0 min 05 s | FAILED" in table and "commit ?" in table


def test_render_guide_replaces_only_between_the_markers():
    guide = f"intro\n{maintain.TABLE_START}\nold table\n{maintain.TABLE_END}\nrest\n"
    new = maintain.render_guide(guide, _times(**{"01_x": ENTRY}))
    assert new.startswith("intro\n") and new.endswith(f"{maintain.TABLE_END}\nrest\n") and "old table" not in new
    assert maintain.render_guide(new, _times(**{"01_x": ENTRY})) == new
    with pytest.raises(ValueError, match="markers"):
        maintain.render_guide("no markers here", _times())


def test_chapter_times_records_each_notebook_and_renders_the_guide(tmp_path, monkeypatch):
    guide = tmp_path / "teaching.md"
    guide.write_text(f"# Guide\n{maintain.TABLE_START}\n{maintain.TABLE_END}\n")
    monkeypatch.setattr(maintain, "TIMES_FILE", tmp_path / "chapter_times.json")
    monkeypatch.setattr(maintain, "GUIDE", guide)
    monkeypatch.setattr(maintain, "time_notebook", lambda p: {"seconds": 12.0, "passed": p.stem != "02_b",
                                                              "pytest": "3 passed"})
    assert maintain.chapter_times([Path("01_a.ipynb")]) == 0
    assert maintain.chapter_times([Path("02_b.ipynb")]) == 1            # a failing notebook fails the command
    saved = json.loads((tmp_path / "chapter_times.json").read_text())
    assert set(saved["data"]["notebooks"]) == {"01_a", "02_b"}         # a later run keeps the earlier entries
    assert saved["data"]["notebooks"]["01_a"]["hardware"] and "OMP_NUM_THREADS" in saved["data"]["notebooks"]["01_a"]["hardware"]
    text = guide.read_text()
    assert "| 01_a | 0 min 12 s | passed" in text and "| 02_b | 0 min 12 s | FAILED" in text
    assert maintain.chapter_times([], render_only=True) == 1 and guide.read_text() == text


def test_the_command_refuses_outside_a_checkout(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(maintain, "NOTEBOOKS", tmp_path / "missing")
    assert maintain.main(["colab", "--check"]) == 2
    assert "checkout" in capsys.readouterr().err


def test_a_bad_argument_is_one_line_and_status_2(capsys):
    with pytest.raises(SystemExit) as e:
        maintain.main(["bogus"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "invalid choice: 'bogus'" in err and "--help" in err
