"""The command line, ``python -m nanoinfer_lib``: streams, reproduces, and fails in one line."""
import subprocess
import sys

import pytest

from nanoinfer_lib import cli
from nanoinfer_lib.__main__ import main


def test_cli_streams_text_and_reports_speed(capsys):
    assert main(["ROMEO.", "--max-new-tokens", "12", "--seed", "1"]) == 0
    out, err = capsys.readouterr()
    assert out.startswith("ROMEO.") and len(out) > len("ROMEO.")
    assert "tokens/s" in err


def test_cli_is_reproducible_and_cache_flag_agrees(capsys):
    main(["To be", "--max-new-tokens", "10", "--temperature", "0"])
    greedy = capsys.readouterr().out
    main(["To be", "--max-new-tokens", "10", "--temperature", "0", "--no-cache"])
    assert capsys.readouterr().out == greedy
    main(["To be", "--max-new-tokens", "10", "--seed", "3", "--top-k", "5", "--min-p", "0.05"])
    a = capsys.readouterr().out
    main(["To be", "--max-new-tokens", "10", "--seed", "3", "--top-k", "5", "--min-p", "0.05"])
    assert capsys.readouterr().out == a


@pytest.mark.parametrize("argv", [["x", "--temperature", "-1"], ["x", "--top-p", "2"], ["x", "--max-new-tokens", "-5"],
                                  [""], ["x", "--checkpoint", "missing.pt"]])
def test_cli_bad_input_is_a_short_error(argv, capsys):
    try:
        code = main(argv)
    except SystemExit as e:                       # argparse rejects some values itself
        code = e.code
    assert code not in (0, None)
    err = capsys.readouterr().err
    assert "error" in err and "Traceback" not in err


def test_help_runs_as_a_module():
    r = subprocess.run([sys.executable, "-m", "nanoinfer_lib", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for flag in ("--max-new-tokens", "--temperature", "--top-k", "--top-p", "--min-p", "--seed", "--checkpoint", "--no-cache"):
        assert flag in r.stdout


def test_integers_reads_comma_separated_whole_numbers_and_names_the_option():
    assert cli.integers("--sweep", "4,16") == (4, 16)
    assert cli.integers("--sweep", " 4, 16,,") == (4, 16) and cli.integers("--sweep", "") == ()
    with pytest.raises(ValueError, match=r"--sweep must be an int in \[1, 256\], got 0"):
        cli.integers("--sweep", "4,0", 1, 256)
    for text in ("4,x", "-1", "2.5", "²"):
        with pytest.raises(TypeError, match="--levels must be an int"):
            cli.integers("--levels", text, 1)
