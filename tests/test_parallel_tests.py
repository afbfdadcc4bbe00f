"""The test session's settings for pytest-xdist (conftest.py at the repository's root)."""
import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import torch

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("session_settings", ROOT / "conftest.py")
session = importlib.util.module_from_spec(spec)
spec.loader.exec_module(session)


def test_every_file_named_longest_first_exists():  # a renamed file would silently lose its place
    missing = [path for path in session.LONGEST_FIRST if not (ROOT / path).is_file()]
    assert not missing


def test_auto_starts_a_worker_a_core_at_most_four_unless_xdist_is_told(monkeypatch):
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    monkeypatch.setattr(session, "available_cores", lambda: 16)
    assert session.pytest_xdist_auto_num_workers(None) == 4
    monkeypatch.setattr(session, "available_cores", lambda: 2)
    assert session.pytest_xdist_auto_num_workers(None) == 2
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert session.pytest_xdist_auto_num_workers(None) is None  # xdist's own hook reads it


def items_of(*nodeids):
    return [SimpleNamespace(nodeid=nodeid) for nodeid in nodeids]


def test_a_worker_gets_its_share_of_the_cores_and_passes_it_to_subprocesses(monkeypatch):
    threads = torch.get_num_threads()
    monkeypatch.setattr(session, "available_cores", lambda: 4)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    try:
        session.pytest_collection_modifyitems(None, items_of("tests/a.py::x", "tests/b.py::y", "tests/c.py::z"))
        assert torch.get_num_threads() == 2 and os.environ["OMP_NUM_THREADS"] == "2"
        session.pytest_collection_modifyitems(None, items_of("tests/a.py::x", "tests/a.py::y"))  # one file: one worker
        assert torch.get_num_threads() == 4 and os.environ["OMP_NUM_THREADS"] == "4"
    finally:
        torch.set_num_threads(threads)


def test_workers_take_the_longest_files_first_keeping_each_files_order(monkeypatch):
    threads = torch.get_num_threads()
    first, second = session.LONGEST_FIRST[:2]
    ids = ["tests/test_a.py::one", f"{second}::Cell 0", "tests/test_a.py::two", f"{first}::x", f"{second}::Cell 1"]
    items = items_of(*ids)
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "")
    try:
        session.pytest_collection_modifyitems(None, items)
    finally:
        torch.set_num_threads(threads)
    assert [item.nodeid for item in items] == [
        f"{first}::x", f"{second}::Cell 0", f"{second}::Cell 1", "tests/test_a.py::one", "tests/test_a.py::two"]
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT")
    unsorted = items_of(*ids)
    session.pytest_collection_modifyitems(None, unsorted)  # one process (-n 0): the order of the files
    assert [item.nodeid for item in unsorted] == ids


def test_the_settings_load_without_xdist():  # gpu_check.sh runs pytest with -o addopts="" where xdist may be absent
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:xdist", "-o", "addopts=", "--collect-only", "-q",
                             "-p", "no:cacheprovider", "tests/test_parallel_tests.py"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
