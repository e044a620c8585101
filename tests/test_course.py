"""course: set-up, and the one repository URL from which the Colab install line and badges are made;
the notebooks and the README agree with it."""
import importlib.metadata
import json
import re
import sys
from pathlib import Path

import pytest
import torch

from nanoinfer_lib import course
from nanoinfer_lib.maintain import notebooks, sync_notebook, sync_readme

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = notebooks()


def _pyproject_url() -> str:
    """The URL read a second way: with tomllib where Python has it, else by hand."""
    text = (ROOT / "pyproject.toml").read_text()
    if sys.version_info >= (3, 11):
        import tomllib
        return tomllib.loads(text)["project"]["urls"]["Repository"]
    return re.search(r'^Repository\s*=\s*"([^"]+)"', text, re.M).group(1)


def test_the_url_is_pyprojects_and_everything_is_made_from_it():
    url = _pyproject_url()
    assert course.repository_url() == url.rstrip("/")
    assert course.COLAB_INSTALL == f"nanoinfer_lib @ git+{url}.git"
    owner_repo = url.removeprefix("https://github.com/")
    assert course.colab_url("01_x") == f"https://colab.research.google.com/github/{owner_repo}/blob/main/notebooks/01_x.ipynb"
    assert course.colab_badge("01_x.ipynb") == (
        f"[![Open in Colab](https://colab.research.google.com/assets/colab-badge.svg)]({course.colab_url('01_x')})")


def test_without_pyproject_the_installed_metadata_gives_the_url(tmp_path, monkeypatch):
    class Meta:
        def get_all(self, key):
            return ["Homepage, https://example.org", "Repository, https://github.com/someone/fork/"] if key == "Project-URL" else None
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: Meta())
    assert course.repository_url(tmp_path / "missing.toml") == "https://github.com/someone/fork"
    assert course.repository_url(None) == "https://github.com/someone/fork"
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: (_ for _ in ()).throw(
        importlib.metadata.PackageNotFoundError(name)))
    with pytest.raises(RuntimeError, match="Repository"):
        course.repository_url(tmp_path / "missing.toml")


def test_a_pyproject_without_urls_falls_back(tmp_path, monkeypatch):
    toml = tmp_path / "pyproject.toml"
    toml.write_text('[project]\nname = "x"\n\n[project.urls]\nHomepage = "https://example.org"\n')
    monkeypatch.setattr(importlib.metadata, "metadata", lambda name: type("M", (), {"get_all": lambda s, k: []})())
    with pytest.raises(RuntimeError, match="no repository URL"):
        course.repository_url(toml)
    toml.write_text('[project.urls]\nRepository = "https://github.com/a/b"\n[tool.x]\nRepository = "no"\n')
    assert course.repository_url(toml) == "https://github.com/a/b"


@pytest.mark.parametrize("url", ["https://gitlab.com/a/b", "github.com/a/b", "https://github.com/a"])
def test_colab_needs_a_github_url(url):
    with pytest.raises(ValueError, match="github.com/OWNER/REPO"):
        course.colab_url("01_x", url=url)


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_notebook_has_its_badge_and_the_install_line(nb):
    cells = json.loads(nb.read_text())["cells"]
    first_md = "".join(next(c for c in cells if c["cell_type"] == "markdown")["source"])
    first_code = "".join(next(c for c in cells if c["cell_type"] == "code")["source"])
    assert course.colab_badge(nb.name) in first_md, f"run: python -m nanoinfer_lib.maintain colab notebooks/{nb.name}"
    assert f'%pip install -q "{course.COLAB_INSTALL}"' in first_code
    assert sync_notebook(nb, write=False) == []


def test_the_readme_links_every_notebook_with_its_badge_and_clones_the_repository():
    readme = (ROOT / "README.md").read_text()
    for nb in NOTEBOOKS:
        row = next((line for line in readme.splitlines() if f"(notebooks/{nb.name})" in line and line.startswith("|")), "")
        assert course.colab_badge(nb.name) in row, f"README row of {nb.name}: run python -m nanoinfer_lib.maintain colab"
    assert f"git clone {course.repository_url()}.git" in readme
    assert sync_readme(ROOT / "README.md", NOTEBOOKS, write=False) == []
    other = set(re.findall(r"https://github\.com/nanoinfer/[\w.-]+", readme))
    assert other <= {course.repository_url(), course.repository_url() + ".git"}, other


def test_sync_writes_a_missing_badge_and_install_line_once(tmp_path):
    nb = {"cells": [{"cell_type": "markdown", "metadata": {}, "source": ["# Chapter 09 · X\n", "\n", "Text."]},
                    {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                     "source": ['if IN_COLAB:\n', '    %pip install -q "old @ git+https://example.org/x.git"']}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    path = tmp_path / "09_x.ipynb"
    path.write_text(json.dumps(nb))
    assert len(sync_notebook(path)) == 2
    cells = json.loads(path.read_text())["cells"]
    md = "".join(cells[0]["source"])
    assert md.startswith("# Chapter 09 · X\n\n" + course.colab_badge("09_x") + "\n\nText.")
    assert f'%pip install -q "{course.COLAB_INSTALL}"' in "".join(cells[1]["source"])
    assert sync_notebook(path) == []                      # a second run changes nothing
    readme = tmp_path / "README.md"
    readme.write_text("git clone https://example.org/old.git\n| Notebook | Colab | What |\n| --- | --- | --- |\n"
                      "| [09](notebooks/09_x.ipynb) | | a chapter |\n")
    assert sync_readme(readme, [path]) and sync_readme(readme, [path]) == []
    text = readme.read_text()
    assert f"| [09](notebooks/09_x.ipynb) | {course.colab_badge('09_x')} | a chapter |" in text
    assert f"git clone {course.repository_url()}.git" in text


def test_setup_seeds_and_returns_a_device(capsys):
    device = course.setup(seed=3)
    a = torch.rand(3)
    course.seed_everything(3)
    assert torch.equal(a, torch.rand(3)) and isinstance(device, torch.device)
    assert "device:" in capsys.readouterr().out
