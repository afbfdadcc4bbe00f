"""Test-session settings for pytest-xdist, which pyproject's addopts turn on (``-n auto --dist loadfile``).

Each file runs whole on one worker (a notebook's cells in order, in one kernel); the machine's cores are shared
among the workers, so that two workers on two cores train as fast together as one would alone with both; and the
longest files start first, so that no worker is left alone with one at the end. ``python -m pytest -n 0`` runs
everything in one process, in the order of the files.
"""
from __future__ import annotations

import os

import pytest

MAX_WORKERS = 4  # -n auto: one a core, at most this many (each holds torch and, for a notebook, a kernel: ~1 GB)
# Files of a minute or more on a 2-core machine, longest first (`python -m pytest --durations=0`, 2026-12-01).
LONGEST_FIRST = (
    "book/05_joint_objective.ipynb", "tests/test_book_branches.py", "book/07_your_images.ipynb",
    "tests/test_distributed.py", "book/06_benchmarks.ipynb", "book/03_assignment.ipynb", "book/04_rotation.ipynb",
    "tests/test_cli.py", "tests/test_reproduce.py", "tests/test_cli_restarts.py",
)


def available_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@pytest.hookimpl(optionalhook=True)  # xdist's hook: unknown, and so skipped, with -p no:xdist or without xdist
def pytest_xdist_auto_num_workers(config) -> int | None:
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None  # xdist's own hook reads it
    return min(MAX_WORKERS, available_cores())


def share_the_cores(busy_workers: int) -> int:
    """Torch threads for this process, one of ``busy_workers`` sharing the cores; also ``OMP_NUM_THREADS`` for the
    notebooks' kernels and the command-line subprocesses it starts."""
    threads = max(1, available_cores() // busy_workers)
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return threads


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected: the files this worker may run
def pytest_collection_modifyitems(config, items) -> None:
    workers = os.environ.get("PYTEST_XDIST_WORKER_COUNT")  # set in each worker, which collects every file
    if workers:
        files = [item.nodeid.split("::")[0] for item in items]
        share_the_cores(min(int(workers), len(set(files)) or 1))  # xdist stops a worker that has no file to run
        # Every worker sorts alike (a stable sort by file name alone): xdist needs their collections identical.
        rank = {path: index for index, path in enumerate(LONGEST_FIRST)}
        order = {id(item): rank.get(path, len(rank)) for item, path in zip(items, files)}
        items.sort(key=lambda item: order[id(item)])
