"""The package's public names import from its top level, and importing it is cheap: it reads none of
its own files, needs no pyproject.toml, and loads neither IPython nor ipywidgets until the widgets are used."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import nanoinfer_lib

PACKAGE = Path(nanoinfer_lib.__file__).parent

# run in a fresh interpreter: every file opened while importing the package, and the modules loaded
IMPORT_PROBE = """
import json, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" else None)
import nanoinfer_lib
loaded = sorted({m.split(".")[0] for m in sys.modules})
print(json.dumps({"file": nanoinfer_lib.__file__, "opened": opened, "loaded": loaded}))
"""


def test_public_api_names():
    for name in nanoinfer_lib.__all__:
        assert getattr(nanoinfer_lib, name) is not None, name
    assert set(nanoinfer_lib.__all__) <= set(dir(nanoinfer_lib))


def _import_in_a_fresh_process(root: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, timeout=120,
                         cwd=root, env={"PYTHONPATH": str(root), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
                              "PYTHONDONTWRITEBYTECODE": "1"})
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def test_import_reads_no_file_and_loads_no_ipython(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "nanoinfer_lib", ignore=shutil.ignore_patterns("__pycache__"))
    assert not (tmp_path / "pyproject.toml").exists()              # as in an installed wheel
    got = _import_in_a_fresh_process(tmp_path)
    assert Path(got["file"]).parent == tmp_path / "nanoinfer_lib"    # the copy, not the checkout
    own = [p for p in got["opened"] if str(tmp_path) in p and not p.endswith((".py", ".pyc"))
           and not Path(p).is_dir()]
    assert own == [] and not [p for p in got["opened"] if p.endswith("pyproject.toml")]
    assert "IPython" not in got["loaded"] and "ipywidgets" not in got["loaded"]


def test_the_probe_sees_what_it_looks_for(tmp_path):
    """The probe above can fail: a package that reads a file and loads IPython at import is caught."""
    root = tmp_path / "nanoinfer_lib"
    root.mkdir()
    (tmp_path / "pyproject.toml").write_text("[project]\n")
    (root / "__init__.py").write_text("import pathlib, IPython\n"
                                      "TEXT = (pathlib.Path(__file__).parents[1] / 'pyproject.toml').read_text()\n")
    got = _import_in_a_fresh_process(tmp_path)
    assert [p for p in got["opened"] if p.endswith("pyproject.toml")] and "IPython" in got["loaded"]


def test_the_widgets_load_on_first_use():
    assert nanoinfer_lib.SamplingExplorer.__module__ == "nanoinfer_lib.widgets"
    assert nanoinfer_lib.benchmark_model.__module__ == "nanoinfer_lib.benchmark.speed"
