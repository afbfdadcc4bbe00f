"""Sphinx extension for the book build: a clean log, a clean browser console, and cells that end in time.

1. Quiet kernels. ipykernel 7 logs "WARNING | Kernel is running over TCP without encryption" each time
   a kernel starts, once per executed notebook, although the kernels only listen on localhost. For the
   kernels this build starts, IPYTHONDIR points at a fresh folder whose default profile sets the
   kernel's log level to ERROR; errors in cells are still reported and still fail the build.
2. One copy of each script. With Sphinx 7.4, sphinx-thebe's configuration script lands twice in every
   page, and the second `const THEBE_JS_URL` is a SyntaxError in the browser console; identical
   script entries are dropped from each page's context.
3. The cell timeout, told to the chapters. MMDC_BOOK_CELL_SECONDS is set to ``execute.timeout`` for the
   kernels this build starts; chapter 6 (through ``mmdc_lib.book``) does not start a training run projected
   to take longer, and says so, instead of failing the build on a GPU machine.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def quiet_kernels() -> None:
    if "IPYTHONDIR" in os.environ:  # a reader's own setting wins
        return
    ipython_dir = Path(tempfile.mkdtemp(prefix="mmdc-book-ipython-"))
    (ipython_dir / "profile_default").mkdir()
    (ipython_dir / "profile_default" / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
    os.environ["IPYTHONDIR"] = str(ipython_dir)


def drop_duplicate_scripts(app, pagename, templatename, context, doctree) -> None:
    seen, unique = set(), []
    for script in context.get("script_files", []):
        # The copies differ only in filename None against "" (inline scripts): compare what the page gets.
        key = (str(getattr(script, "filename", script) or ""), tuple(sorted(getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            unique.append(script)
    if "script_files" in context:
        context["script_files"][:] = unique


def tell_kernels_the_cell_timeout(app, config) -> None:
    timeout = getattr(config, "nb_execution_timeout", None)
    if timeout and timeout > 0:
        os.environ.setdefault("MMDC_BOOK_CELL_SECONDS", str(timeout))


def setup(app):
    quiet_kernels()
    app.connect("config-inited", tell_kernels_the_cell_timeout)
    app.connect("html-page-context", drop_duplicate_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
