"""Sphinx extension for the book build: quiet notebook kernels.

ipykernel 7 logs "WARNING | Kernel is running over TCP without encryption" each time a kernel
starts, once per executed notebook, although the kernels only listen on localhost. This points
IPYTHONDIR, for the kernels this build starts, at a fresh folder whose default profile sets the
kernel's log level to ERROR; errors in cells are still reported and still fail the build.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path


def setup(app):
    if "IPYTHONDIR" not in os.environ:  # a reader's own setting wins
        ipython_dir = Path(tempfile.mkdtemp(prefix="mmdc-book-ipython-"))
        (ipython_dir / "profile_default").mkdir()
        (ipython_dir / "profile_default" / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
        os.environ["IPYTHONDIR"] = str(ipython_dir)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
