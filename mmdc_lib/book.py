"""The book's chapters on any machine: which branch a chapter takes, where data and runs live, library code shown.

Every chapter starts with ``BOOK = setup_book()``. The same notebook runs in Colab on a GPU, on a laptop, in
CI on two CPU cores and on a fresh machine without network; these settings (environment variables, all
optional) say how:

- ``MMDC_BOOK_BRANCH``: ``auto`` (default: the GPU branch where CUDA is available, else the CPU branch),
  ``cpu``, ``gpu``, or ``gpu-test``: the GPU branch's code at the tests' scale on any device, which is how the
  tests execute the GPU branches on a CPU.
- ``MMDC_DATA_DIR``, ``MMDC_RUNS``: where data sets are kept and runs written (default ``data/`` and ``runs/``
  beside the notebook; on Google Drive with ``setup_book(use_drive=True)`` in Colab).
- ``MMDC_SYSTEM_DATASETS``: where system packages put data sets (default ``/usr/share/datasets``: Debian's
  ``dataset-fashion-mnist`` installs Fashion-MNIST there).
- ``MMDC_OFFLINE=1``: never try a download.
- ``MMDC_RESULTS``: the repository's committed results (default ``../benchmarks/results``, from ``book/``).
  Without a clone (Colab's ``pip install git+URL``) a chapter fetches the file it shows from the commit pip
  installed, on GitHub, into ``runs/committed_results/`` (not with ``MMDC_OFFLINE``).
- ``MMDC_BOOK_CELL_SECONDS``: set by the book build (``book/_ext/build_fixes.py``) to its per-cell timeout; a
  training run projected to take longer is not started in a build, and says so.
"""
from __future__ import annotations

import inspect
import os
import re
import socket
import sys
import textwrap
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, TypeVar

import torch

from .data import ImageData, load_dataset
from .runs import installed_source

BRANCHES = ("auto", "cpu", "gpu", "gpu-test")
DRIVE_MOUNT = "/content/drive"
DRIVE_FOLDER = "MyDrive/mmdc-book"  # runs/ and data/ under it: the one folder to keep, or delete, on Drive
DOWNLOAD_TIMEOUT_S = 60  # a blocked network fails instead of hanging (torchvision's urlopen sets no timeout)
T = TypeVar("T")


class DataUnavailable(Exception):
    """A data set that is neither on disk nor downloadable here; the message says where it was looked for."""


@dataclass(frozen=True)
class BookSetup:
    """Where and how a chapter runs (see the module's docstring for the environment variables)."""

    branch: str  # "cpu", "gpu" or "gpu-test"
    device_name: str  # what trains: the GPU's name, or "CPU"
    in_colab: bool
    data_dir: Path
    runs_dir: Path
    results_dir: Path  # committed results files (benchmarks/results in a clone; absent in Colab: fetched)
    system_datasets: Path
    offline: bool
    cell_seconds: Optional[float]  # the book build's per-cell timeout; None when a reader runs the chapter

    @property
    def on_gpu(self) -> bool:
        """The GPU branch (also at the tests' scale, ``gpu-test``, on a CPU)."""
        return self.branch != "cpu"

    @property
    def progress(self) -> bool:
        """Progress bars for a reader; none in the book build, whose pages would show them frozen."""
        return self.cell_seconds is None

    def scale(self, cpu: T, gpu: T, test: Optional[T] = None) -> T:
        """The value for this branch: ``cpu``, ``gpu``, or ``test`` (the GPU branch at the tests' scale; default ``gpu``)."""
        if self.branch == "cpu":
            return cpu
        if self.branch == "gpu-test" and test is not None:
            return test
        return gpu

    def fits_in_a_cell(self, seconds: float) -> bool:
        """False when the book build would stop a cell that runs this long (with a fifth to spare)."""
        return self.cell_seconds is None or seconds <= 0.8 * self.cell_seconds

    def load(self, name: str) -> tuple[ImageData, Path]:
        """A data set and its folder: a system copy, then ``data_dir/name``, then a download where one can happen.

        Raises DataUnavailable, naming where it looked, when none of these works (e.g. offline).
        """
        system_copy = self.system_datasets / name
        if system_copy.is_dir():
            try:
                return load_dataset(name, system_copy, download=False), system_copy
            except (OSError, ValueError):
                pass  # an incomplete system copy: try the reader's own folder
        folder = self.data_dir / name
        previous = socket.getdefaulttimeout()
        socket.setdefaulttimeout(DOWNLOAD_TIMEOUT_S)
        try:
            return load_dataset(name, folder, download=not self.offline), folder
        except (OSError, ValueError, RuntimeError) as error:
            why = " ".join(str(error).split())[:160].rstrip(".")
            how = "downloading is off (MMDC_OFFLINE)" if self.offline else f"the download failed ({why})"
            raise DataUnavailable(f"{name} is not in {system_copy} or {folder}, and {how}") from None
        finally:
            socket.setdefaulttimeout(previous)

    def committed_figures(self, name: str, made_by: str):
        """A committed results file, ``results_dir/name``, as Markdown headed by where it came from.

        Its own title line is replaced by that heading. Without a clone (Colab) the file comes from the commit
        pip installed the library from (``fetch_committed_results``). Where it is found nowhere, prints how to
        make it (``made_by``, a command) and returns None, so a notebook cell shows one or the other.
        """
        path, source = self.results_dir / name, None
        if not path.is_file():
            path = self.runs_dir / "committed_results" / name
            if not path.is_file() and not self.offline:
                source = fetch_committed_results(name, path)
        if not path.is_file():
            print(f"no committed figures here ({self.results_dir}): run {made_by} in a clone of the repository")
            return None
        from IPython.display import Markdown

        body = path.read_text().split("\n", 1)[-1]
        return Markdown(f"From `{source or path}` (made by `{made_by}`, not by this page):\n\n{body}")

    def describe(self) -> str:
        build = f" | book build, {self.cell_seconds:.0f} s per cell" if self.cell_seconds is not None else ""
        return (f"branch: {self.branch} | trains on: {self.device_name} | Colab: {self.in_colab}{build}\n"
                f"data: {self.data_dir} | runs: {self.runs_dir}")


def fetch_committed_results(name: str, destination: Path) -> Optional[str]:
    """Save ``benchmarks/results/name`` of the commit pip installed the library from (a GitHub repository) at
    ``destination``; returns the address it came from, or None (another install, another host, no network)."""
    source = installed_source()
    match = re.fullmatch(r"https://github\.com/([^/]+)/([^/]+?)(?:\.git)?/?", source[0]) if source else None
    if match is None:
        return None
    url = f"https://raw.githubusercontent.com/{match[1]}/{match[2]}/{source[1]}/benchmarks/results/{name}"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            body = response.read()
    except (OSError, ValueError):  # no network, a file that commit lacks (HTTP 404), a bad address
        return None
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_bytes(body)
    return url


def setup_book(use_drive: bool = False, drive_mount: str = DRIVE_MOUNT) -> BookSetup:
    """Read the environment (and mount Google Drive in Colab when ``use_drive``); print and return the setup.

    With ``use_drive`` in Colab, data and runs live in ``MyDrive/mmdc-book/{data,runs}``: a session that
    disconnects resumes from its last finished epoch when the chapter is run again. Outside Colab
    ``use_drive`` has no Drive to mount and says so.
    """
    branch = os.environ.get("MMDC_BOOK_BRANCH", "auto").strip().lower() or "auto"
    if branch not in BRANCHES:
        raise ValueError(f"MMDC_BOOK_BRANCH={branch!r} should be one of {', '.join(BRANCHES)}.")
    cuda = torch.cuda.is_available()
    if branch == "auto":
        branch = "gpu" if cuda else "cpu"
    in_colab = "google.colab" in sys.modules
    data_dir, runs_dir = Path("data"), Path("runs")
    if use_drive and in_colab:
        from google.colab import drive  # only importable in Colab

        drive.mount(drive_mount)
        home = Path(drive_mount) / DRIVE_FOLDER
        data_dir, runs_dir = home / "data", home / "runs"
        runs_dir.mkdir(parents=True, exist_ok=True)
    elif use_drive:
        print("use_drive: there is no Google Drive to mount outside Colab; data and runs stay in local folders.")
    cell_seconds = os.environ.get("MMDC_BOOK_CELL_SECONDS", "").strip()
    try:
        timeout = float(cell_seconds) if cell_seconds else None
    except ValueError:
        raise ValueError(f"MMDC_BOOK_CELL_SECONDS={cell_seconds!r} should be a number of seconds.") from None
    setup = BookSetup(
        branch=branch,
        device_name=torch.cuda.get_device_name() if cuda else "CPU",
        in_colab=in_colab,
        data_dir=Path(os.environ.get("MMDC_DATA_DIR", data_dir)),
        runs_dir=Path(os.environ.get("MMDC_RUNS", runs_dir)),
        results_dir=Path(os.environ.get("MMDC_RESULTS", "../benchmarks/results")),
        system_datasets=Path(os.environ.get("MMDC_SYSTEM_DATASETS", "/usr/share/datasets")),
        offline=os.environ.get("MMDC_OFFLINE", "") not in ("", "0"),
        cell_seconds=timeout if timeout is not None and timeout > 0 else None,
    )
    print(setup.describe())
    return setup


def source_code(obj: Any) -> str:
    """The source of a library function, class or method, dedented (a method's too)."""
    return textwrap.dedent(inspect.getsource(obj)).rstrip()


def show_source(obj: Any):
    """Show a library object's source as highlighted code: in Jupyter, in Colab and in the built book alike.

    (A ``literalinclude`` block renders only in the built HTML; in a notebook it shows the directive itself.)
    """
    from IPython.display import Markdown

    module = inspect.getmodule(obj)
    where = f"{module.__name__}.{obj.__qualname__}" if module is not None else obj.__qualname__
    # Four backticks: a docstring may hold a three-backtick block.
    return Markdown(f"`{where}`:\n\n````python\n{source_code(obj)}\n````")
