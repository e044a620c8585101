"""checks, every chapter: a Verdict shows only its message; call_learner reports a learner's raise or
unwritten answer instead of a traceback."""
from nanoinfer_lib import checks
from nanoinfer_lib.checks._common import call_learner


def test_a_verdict_is_truthy_and_shows_nothing_more_in_a_notebook(capsys):
    ok, bad = checks.Verdict(True), checks.Verdict(False)
    assert ok and not bad and ok.ok is True and bad.ok is False
    assert ok._ipython_display_() is None and repr(bad) == "Verdict(ok=False)"


def test_call_learner_reports_a_raise_and_an_unwritten_answer(capsys):
    assert call_learner(lambda a, b: a + b, (1, 2), "fn(1, 2)", "return the sum") == (True, 3)
    assert call_learner(lambda a: 1 / a, (0,), "fn(0)", hint=" (divide later)") == (False, None)
    assert capsys.readouterr().out == "✗ fn(0) raised ZeroDivisionError: division by zero (divide later)\n"
    assert call_learner(lambda: ..., (), "fn()", "return the sum") == (False, None)
    assert capsys.readouterr().out == "… not written yet: return the sum\n"
    assert call_learner(lambda: None, (), "fn()") == (True, None)       # no unwritten: None is an answer
