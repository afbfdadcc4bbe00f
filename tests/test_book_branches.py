"""Every branch of every chapter runs: the GPU branches at the tests' scale on this CPU (chapter 5's GPU branch is its
CPU branch's cells, which nbval runs, with longer seed lists and three more variants), the fallback without data.

nbval runs each chapter once, on the branch this machine takes (the CPU branch, with Fashion-MNIST where it is
on disk). These tests run the other branches by setting the environment variables of ``mmdc_lib.book``:

- ``MMDC_BOOK_BRANCH=gpu-test``: the GPU branch's code at the tests' scale, on real-format miniature files
  (Fashion-MNIST IDX, CIFAR-10's pickled batches) written here, since the real data cannot be had;
- no Fashion-MNIST and no network: the chapters say so and run the same code on scikit-learn's digits;
- ``MMDC_BOOK_CELL_SECONDS``: a book build that would stop a long cell: the run is not started, and says so.
"""
import hashlib
import json
import re
import pickle
import subprocess
import sys
from pathlib import Path

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from test_data import write_mnist_files

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def execute(notebook: str, monkeypatch, env: dict[str, str]) -> str:
    """Run a chapter as the book does (from book/) with ``env`` set; return its printed and displayed text."""
    for name in ("MMDC_BOOK_BRANCH", "MMDC_DATA_DIR", "MMDC_RUNS", "MMDC_RESULTS", "MMDC_SYSTEM_DATASETS",
                 "MMDC_OFFLINE", "MMDC_BOOK_CELL_SECONDS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    nb = nbformat.read(BOOK / notebook, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(BOOK)}}).execute()
    texts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output["output_type"] == "stream":
                texts.append(output["text"])
            elif "data" in output:
                texts.append(output["data"].get("text/markdown", output["data"].get("text/plain", "")))
    return "\n".join(texts)


def write_cifar10(folder: Path, per_batch: int = 12) -> Path:
    """CIFAR-10's python layout (cifar-10-batches-py) with a few random images; returns an IPython startup script.

    torchvision checks each file's MD5 against the real data set's; the startup file, run in the chapter's
    kernel, points that check at the miniature files' own sums (as tests/test_data.py does with monkeypatch).
    """
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        content = {"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, per_batch).tolist()}
        (batches / name).write_bytes(pickle.dumps(content))
    (batches / "batches.meta").write_bytes(pickle.dumps({"label_names": [f"class{i}" for i in range(10)]}))
    sums = {path.name: hashlib.md5(path.read_bytes()).hexdigest() for path in batches.iterdir()}
    return f"""from torchvision.datasets import CIFAR10
sums = {sums!r}
CIFAR10.train_list = [[name, sums[name]] for name, _ in CIFAR10.train_list]
CIFAR10.test_list = [[name, sums[name]] for name, _ in CIFAR10.test_list]
CIFAR10.meta = {{**CIFAR10.meta, "md5": sums["batches.meta"]}}
"""


@pytest.fixture(scope="module")
def gpu_test_machine(tmp_path_factory):
    """Miniature Fashion-MNIST (a 'system copy') and CIFAR-10, committed-looking reproduce results, a kernel profile.

    Shared by the tests of this module (data and results are only read); each test gets its own runs folder.
    """
    tmp_path = tmp_path_factory.mktemp("gpu-test-machine")
    write_mnist_files(tmp_path / "system" / "fashion-mnist", compress=True, n_train=1700, n_test=20)  # >= 160 of each kind chapter 7 uses
    startup = write_cifar10(tmp_path / "data" / "cifar10")
    profile = tmp_path / "ipython" / "profile_default"
    (profile / "startup").mkdir(parents=True)
    (profile / "startup" / "00-miniature-cifar10.py").write_text(startup)
    (profile / "ipython_kernel_config.py").write_text('c.IPKernelApp.log_level = "ERROR"\n')
    # Results as `reproduce` writes them (a real run, on the digits, 2 epochs), for the chapter's "made earlier" part.
    subprocess.run([sys.executable, "-m", "mmdc_lib", "reproduce", "--datasets", "digits", "--seeds", "0", "--epochs", "2",
                    "--device", "cpu", "--no-progress", "--out", str(tmp_path / "results" / "reproduce")],
                   cwd=ROOT, check=True, capture_output=True, timeout=300)
    return {"MMDC_BOOK_BRANCH": "gpu-test", "MMDC_SYSTEM_DATASETS": str(tmp_path / "system"), "MMDC_DATA_DIR": str(tmp_path / "data"),
            "MMDC_RESULTS": str(tmp_path / "results"), "MMDC_OFFLINE": "1",
            "IPYTHONDIR": str(tmp_path / "ipython")}


@pytest.fixture
def machine(gpu_test_machine, tmp_path):
    return {**gpu_test_machine, "MMDC_RUNS": str(tmp_path / "runs")}


def test_benchmarks_chapter_gpu_branch_runs_projects_and_resumes_on_a_rerun(machine, monkeypatch):
    first = execute("06_benchmarks.ipynb", monkeypatch, machine)
    assert "branch: gpu-test" in first and "Fashion-MNIST: 1720 images from" in first
    assert "projected: about" in first and "cifar10: projected about" in first
    assert "--resume --epochs 1" in first  # the GPU branch's command, at the tests' scale
    metrics = json.loads((Path(machine["MMDC_RUNS"]) / "reproduce-budget" / "cifar10-seed0" / "metrics.json").read_text())
    assert metrics["n_images"] == 64 and metrics["epochs"] == 1 and metrics["commit"]
    assert f"| cifar10 | 0.820 | 0.703 | {metrics['acc']:.3f} |" in first  # the row this page ran, beside the paper's
    assert "(made by `reproduce`, not by this page)" in first and "| digits seed 0 |" in first
    assert "N2D (published, 70,000 images)" in first

    second = execute("06_benchmarks.ipynb", monkeypatch, machine)  # a rerun: nothing trained again
    assert "found a finished run in" in second and "finished earlier" in second


def test_benchmarks_chapter_does_not_start_a_run_a_book_build_would_stop(machine, monkeypatch):
    text = execute("06_benchmarks.ipynb", monkeypatch, {**machine, "MMDC_BOOK_CELL_SECONDS": "0.001"})
    assert "book build, 0 s per cell" in text
    assert text.count("not started: longer than this book build allows a cell") == 2  # Fashion-MNIST and cifar10
    assert not (Path(machine["MMDC_RUNS"]) / "reproduce-budget").exists()
    assert not re.search(r"MMDC:\s*\d+%", text)  # no progress bar in a build (tqdm's "MMDC:  50%|...")


# Not chapter 5: its GPU branch runs the cells of its CPU branch (which nbval runs) with longer seed lists and
# three more variants (the authors' alternating schedule, sigma 0.2, refinement from epoch 60: one-setting changes,
# like the three nbval trains, of settings the library's tests cover), and at the tests' scale (one seed, the full
# digits preset) it would train 6 runs, 4-10 min.
@pytest.mark.parametrize("notebook,expected", [
    ("04_rotation.ipynb", "2 epochs in"),  # EPOCHS = BOOK.scale(cpu=15, gpu=30, test=2)
    ("07_your_images.ipynb", "3 epochs (refinement from epoch 2), input 20x20; 3 models trained"),  # epochs: test=3
])
def test_other_chapters_gpu_branch_runs_at_the_tests_scale(machine, monkeypatch, notebook, expected):
    text = execute(notebook, monkeypatch, machine)
    assert "branch: gpu-test" in text and expected in text
    if notebook == "07_your_images.ipynb":  # solution 2 is skipped on a CPU, trained on a GPU
        assert "n_init=3 kept the rule's choice: True" in text


@pytest.mark.parametrize("notebook", ["06_benchmarks.ipynb", "07_your_images.ipynb"])
def test_chapters_without_fashion_mnist_or_network_run_on_the_digits_and_say_so(tmp_path, monkeypatch, notebook):
    env = {"MMDC_BOOK_BRANCH": "cpu", "MMDC_SYSTEM_DATASETS": str(tmp_path / "none"), "MMDC_DATA_DIR": str(tmp_path / "data"),
           "MMDC_RUNS": str(tmp_path / "runs"), "MMDC_OFFLINE": "1"}
    text = execute(notebook, monkeypatch, env)
    assert "Fashion-MNIST cannot be had here: fashion-mnist is not in" in text and "downloading is off" in text
    if notebook == "06_benchmarks.ipynb":
        assert "NOT the Fashion-MNIST benchmark" in text and "| digits, 1797 images |" in text
        assert "published, 70,000 images" not in text  # a stand-in is never set beside the benchmark's figures
    else:
        assert "['0', '1', '4', '7'] 600 files" in text
        assert "not trained here (on a CPU: set RUN_ON_CPU = True to train it)" in text  # solution 2
