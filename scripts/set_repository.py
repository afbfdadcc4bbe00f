"""Point the book at its repository: ``_config.yml`` holds the address, every chapter's Colab install cell follows.

Usage: python scripts/set_repository.py [URL [BRANCH]]

With a URL (and optionally a branch) it first writes them into ``_config.yml``'s ``repository`` block; then
(always) it rewrites the ``%pip install`` line of every notebook under ``book/`` from ``_config.yml``. The
test ``tests/test_book.py`` fails when a notebook and ``_config.yml`` disagree.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "_config.yml"
INSTALL = re.compile(r'%pip install -q "mmdc_lib @ git\+[^"]*"')


def install_line(url: str, branch: str) -> str:
    """The Colab cell's install command for the repository at ``url`` and ``branch``."""
    return f'%pip install -q "mmdc_lib @ git+{url}@{branch}"'


def repository() -> tuple[str, str]:
    block = yaml.safe_load(CONFIG.read_text())["repository"]
    return block["url"], block["branch"]


def set_config(url: str, branch: str | None) -> None:
    """Rewrite ``url`` (and ``branch``) inside the ``repository:`` block only, keeping the file's comments."""
    text = CONFIG.read_text()
    block = re.search(r"(?m)^repository:\n(?:[ \t]+.*\n?)+", text)
    if block is None:
        sys.exit("error: _config.yml has no repository: block")
    new = re.sub(r"(?m)^(\s+url: ).*$", lambda m: m.group(1) + url, block.group(0), count=1)
    if branch:
        new = re.sub(r"(?m)^(\s+branch: ).*$", lambda m: m.group(1) + branch, new, count=1)
    CONFIG.write_text(text[: block.start()] + new + text[block.end():])


def rewrite_notebooks() -> list[Path]:
    line = install_line(*repository())
    changed = []
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        notebook = json.loads(path.read_text())
        edited = False
        for cell in notebook["cells"]:
            source = "".join(cell["source"])
            new = INSTALL.sub(lambda _: line, source) if cell["cell_type"] == "code" else source
            if new != source:
                cell["source"] = new.splitlines(keepends=True)
                edited = True
        if edited:  # notebooks already in agreement are left byte for byte as they are
            path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n")
            changed.append(path)
    return changed


if __name__ == "__main__":
    if len(sys.argv) > 1:
        if not re.fullmatch(r"https://[^\s/]+/[^\s/]+/[^\s/]+", sys.argv[1]) or sys.argv[1].endswith(".git"):
            sys.exit(f"error: the repository address should look like https://github.com/OWNER/NAME (no trailing / or .git), "
                     f"got {sys.argv[1]!r}")
        set_config(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None)
    url, branch = repository()
    changed = rewrite_notebooks()
    print(f"repository {url} (branch {branch}); {len(changed)} notebook(s) rewritten")
