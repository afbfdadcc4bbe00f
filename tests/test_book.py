"""The book's structure: every chapter in the table of contents, a Colab-only install cell, no stored outputs."""
import json
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))
TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())


def code_cells(path: Path) -> list[dict]:
    return [cell for cell in json.loads(path.read_text())["cells"] if cell["cell_type"] == "code"]


def test_every_notebook_is_in_the_table_of_contents_and_every_entry_exists():
    entries = [TOC["root"]] + [chapter["file"] for chapter in TOC["chapters"]]
    assert {f"book/{path.stem}" for path in NOTEBOOKS} <= set(entries)
    for entry in entries:
        assert (ROOT / f"{entry}.ipynb").exists() or (ROOT / f"{entry}.md").exists(), entry


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_first_code_cell_installs_the_library_only_inside_colab_and_is_hidden(notebook):
    first = code_cells(notebook)[0]
    source = "".join(first["source"])
    assert 'if "google.colab" in sys.modules:' in source and "%pip install" in source
    assert "remove-cell" in first["metadata"].get("tags", [])


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_notebook_is_stored_without_outputs_so_every_figure_comes_from_the_run(notebook):
    for cell in code_cells(notebook):
        assert cell["outputs"] == [] and cell["execution_count"] is None


def test_config_points_colab_buttons_at_a_repository_and_branch():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/") and config["repository"]["branch"]
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["execute"]["execute_notebooks"] == "force"
