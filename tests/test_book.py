"""The book's structure: every chapter in the table of contents, a Colab-only install cell from the configured
repository, no stored outputs, library code shown by cells."""
import json
import re
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


@pytest.mark.parametrize("page", NOTEBOOKS + sorted((ROOT / "book").glob("*.md")), ids=lambda path: path.name)
def test_code_lines_fit_the_page_column_of_88_characters(page):
    """_static/mmdc.css sets code in 11.5px type so that 88 characters fit the column of a 1280-pixel window; the
    Colab install cell is removed from the pages (remove-cell) and may be longer."""
    if page.suffix == ".md":
        blocks = re.findall(r"```[^\n]*\n(.*?)```", page.read_text(), re.DOTALL)
    else:
        cells = json.loads(page.read_text())["cells"]
        blocks = ["".join(cell["source"]) for cell in cells
                  if cell["cell_type"] == "code" and "remove-cell" not in cell["metadata"].get("tags", [])]
        blocks += [block for cell in cells if cell["cell_type"] == "markdown"
                   for block in re.findall(r"```[^\n]*\n(.*?)```", "".join(cell["source"]), re.DOTALL)]
    long_lines = [line for block in blocks for line in block.splitlines() if len(line) > 88]
    assert long_lines == []


def test_markdown_that_cells_display_is_rendered_with_tables():
    """Chapters display results tables as Markdown; myst-nb's default format (CommonMark) has no tables."""
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["sphinx"]["config"]["nb_render_markdown_format"] in ("gfm", "myst")


def test_config_points_colab_buttons_at_a_repository_and_branch():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"].startswith("https://github.com/") and config["repository"]["branch"]
    assert config["launch_buttons"]["colab_url"] == "https://colab.research.google.com"
    assert config["execute"]["execute_notebooks"] == "force"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_colab_install_cell_installs_from_the_repository_that_config_names(notebook):
    """One source for the address: _config.yml; scripts/set_repository.py rewrites the notebooks from it."""
    import sys

    sys.path.insert(0, str(ROOT / "scripts"))
    from set_repository import install_line, repository

    first = "".join(code_cells(notebook)[0]["source"])
    assert install_line(*repository()) in first, "run python scripts/set_repository.py"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_library_code_is_shown_by_a_cell_not_by_a_directive_that_only_the_html_renders(notebook):
    cells = json.loads(notebook.read_text())["cells"]
    assert not any("literalinclude" in "".join(cell["source"]) for cell in cells)


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda path: path.name)
def test_chapters_take_their_branch_from_the_book_setup_not_from_cuda_directly(notebook):
    """A chapter with a GPU branch reads it from setup_book (so that the tests can run that branch on a CPU)."""
    source = "\n".join("".join(cell["source"]) for cell in code_cells(notebook))
    assert "torch.cuda.is_available()" not in source
    if "BOOK.scale(" in source or "BOOK.on_gpu" in source:
        assert "BOOK = setup_book(" in source


def test_book_build_tells_the_chapters_its_cell_timeout(monkeypatch):
    import sys
    import types

    monkeypatch.setenv("MMDC_BOOK_CELL_SECONDS", "")  # recorded: pytest removes what the build sets at teardown
    monkeypatch.delenv("MMDC_BOOK_CELL_SECONDS")
    sys.path.insert(0, str(ROOT / "book" / "_ext"))
    from build_fixes import tell_kernels_the_cell_timeout

    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    tell_kernels_the_cell_timeout(None, types.SimpleNamespace(nb_execution_timeout=config["execute"]["timeout"]))
    import os

    assert os.environ["MMDC_BOOK_CELL_SECONDS"] == str(config["execute"]["timeout"]) == "900"


def test_every_name_the_api_page_documents_exists():
    """A renamed function would leave the API page (built from the docstrings) with a hole and a build warning."""
    import importlib
    import re

    page = (ROOT / "book" / "api.md").read_text()
    entries = re.findall(r"^\.\. auto(class|function|module):: (\S+)\n(?:   :members: (.+)\n)?", page, re.MULTILINE)
    assert len(entries) >= 15
    for kind, target, members in entries:
        if kind == "module":
            documented = importlib.import_module(target)
        else:
            module, _, name = target.rpartition(".")
            documented = getattr(importlib.import_module(module), name)
        for member in filter(None, (m.strip() for m in members.split(","))):
            assert callable(getattr(documented, member)), f"{target}.{member}"


def test_the_api_page_shows_the_help_of_the_program_and_each_sub_command(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "book" / "_ext"))
    from cli_help import help_texts

    texts = help_texts()
    assert [command for command, _ in texts] == ["python -m mmdc_lib", "python -m mmdc_lib train", "python -m mmdc_lib reproduce"]
    assert all(text.startswith("usage: python -m mmdc_lib") for _, text in texts)
    assert all(len(line) <= 88 for _, text in texts for line in text.splitlines())


def _documented_objects(page: str) -> set[int]:
    """ids of the objects the API page documents: its autoclass/autofunction targets, and the public callables
    with a docstring that each ``automodule`` with ``:members:`` defines."""
    import importlib
    import inspect
    import re

    documented = set()
    for kind, target, members in re.findall(r"^\.\. auto(class|function|module):: (\S+)\n(?:   :members:(.*)\n)?", page, re.MULTILINE):
        if kind == "module":
            module = importlib.import_module(target)
            documented |= {id(value) for name, value in vars(module).items() if not name.startswith("_") and callable(value)
                           and getattr(value, "__module__", None) == target and inspect.getdoc(value)}
        else:
            module, _, name = target.rpartition(".")
            documented.add(id(getattr(importlib.import_module(module), name)))
    return documented


def test_every_function_and_class_a_chapter_imports_from_the_library_is_on_the_api_page():
    import ast
    import importlib

    documented = _documented_objects((ROOT / "book" / "api.md").read_text())
    missing = set()
    for notebook in sorted((ROOT / "book").glob("*.ipynb")):
        for cell in json.loads(notebook.read_text())["cells"]:
            if cell["cell_type"] != "code":
                continue
            lines = "".join(cell["source"]).splitlines()  # a shell or magic line becomes a pass at its indentation
            code = "\n".join(re.sub(r"^(\s*)(%|!(?!=)).*", r"\1pass", line) for line in lines)
            for node in ast.walk(ast.parse(code)):
                if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mmdc_lib":
                    module = importlib.import_module(node.module)
                    for alias in node.names:
                        value = getattr(module, alias.name, None)  # None: a module (from mmdc_lib import published)
                        if callable(value) and id(value) not in documented:
                            missing.add(f"{node.module}.{alias.name} ({notebook.name})")
    assert not missing, sorted(missing)
