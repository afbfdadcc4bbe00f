"""mmdc_lib.book (where and how a chapter runs) and mmdc_lib.timing (a run's projected time)."""
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from mmdc_lib.book import DataUnavailable, setup_book, show_source, source_code
from mmdc_lib.config import preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.step import mmdc_loss
from mmdc_lib.timing import human_duration, project_command, project_run
from mmdc_lib.train import Trainer

from test_data import write_mnist_files

ENV = ("MMDC_BOOK_BRANCH", "MMDC_DATA_DIR", "MMDC_RUNS", "MMDC_RESULTS", "MMDC_SYSTEM_DATASETS", "MMDC_OFFLINE", "MMDC_BOOK_CELL_SECONDS")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def test_branch_follows_the_machine_unless_the_environment_names_one(monkeypatch):
    assert setup_book().branch == ("gpu" if torch.cuda.is_available() else "cpu")
    for branch in ("cpu", "gpu", "gpu-test"):
        monkeypatch.setenv("MMDC_BOOK_BRANCH", branch)
        setup = setup_book()
        assert setup.branch == branch and setup.on_gpu == (branch != "cpu")
        assert setup.scale(cpu=1, gpu=2, test=3) == {"cpu": 1, "gpu": 2, "gpu-test": 3}[branch]
        assert setup.scale(cpu=1, gpu=2) == (1 if branch == "cpu" else 2)  # no test value: the GPU's


def test_an_unknown_branch_is_named(monkeypatch):
    monkeypatch.setenv("MMDC_BOOK_BRANCH", "tpu")
    with pytest.raises(ValueError, match="MMDC_BOOK_BRANCH='tpu' should be one of auto, cpu, gpu, gpu-test"):
        setup_book()


def test_a_book_build_hides_progress_bars_and_refuses_cells_longer_than_its_timeout(monkeypatch):
    reader = setup_book()
    assert reader.progress and reader.fits_in_a_cell(1e9) and reader.cell_seconds is None
    monkeypatch.setenv("MMDC_BOOK_CELL_SECONDS", "900")
    build = setup_book()
    assert not build.progress and build.fits_in_a_cell(700) and not build.fits_in_a_cell(800)


def test_setup_prints_where_data_and_runs_live(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MMDC_RUNS", str(tmp_path / "my-runs"))
    setup = setup_book()
    assert setup.runs_dir == tmp_path / "my-runs" and f"runs: {tmp_path / 'my-runs'}" in capsys.readouterr().out


def test_committed_figures_show_the_file_under_its_source_or_say_how_to_make_them(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("MMDC_RESULTS", str(tmp_path))
    setup = setup_book()
    capsys.readouterr()
    assert setup.committed_figures("grid.md", "python benchmarks/grid.py") is None
    assert capsys.readouterr().out == (f"no committed figures here ({tmp_path}): run python benchmarks/grid.py "
                                       "in a clone of the repository\n")
    (tmp_path / "grid.md").write_text("# Grid, seeds [0, 1]\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    shown = setup.committed_figures("grid.md", "python benchmarks/grid.py").data
    assert shown == (f"From `{tmp_path / 'grid.md'}` (made by `python benchmarks/grid.py`, not by this page):\n\n"
                     "\n| a | b |\n|---|---|\n| 1 | 2 |\n")


def test_committed_figures_without_a_clone_come_from_the_commit_pip_installed(monkeypatch, tmp_path, capsys):
    import io
    import urllib.request

    from mmdc_lib import book

    asked = []

    def urlopen(url, timeout):
        asked.append(url)
        if "missing" in url:
            raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
        return io.BytesIO(b"# Grid\n\n| a |\n|---|\n| 1 |\n")

    monkeypatch.setenv("MMDC_RESULTS", str(tmp_path / "no-clone"))
    monkeypatch.setenv("MMDC_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("MMDC_OFFLINE", raising=False)
    monkeypatch.setattr(book, "installed_source", lambda: ("https://github.com/owner/name", "c0ffee"))
    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    setup = setup_book()
    shown = setup.committed_figures("grid.md", "python benchmarks/grid.py").data
    address = "https://raw.githubusercontent.com/owner/name/c0ffee/benchmarks/results/grid.md"
    assert asked == [address] and shown.startswith(f"From `{address}` (made by") and "| 1 |" in shown
    assert (tmp_path / "runs" / "committed_results" / "grid.md").is_file()
    setup.committed_figures("grid.md", "python benchmarks/grid.py")  # kept: not fetched again
    assert asked == [address]
    capsys.readouterr()
    assert setup.committed_figures("missing.md", "python benchmarks/missing.py") is None  # 404: says how to make it
    assert "no committed figures here" in capsys.readouterr().out
    monkeypatch.setenv("MMDC_OFFLINE", "1")
    assert setup_book().committed_figures("other.md", "python benchmarks/other.py") is None
    assert len(asked) == 2  # offline: nothing asked
    monkeypatch.delenv("MMDC_OFFLINE")
    monkeypatch.setattr(book, "installed_source", lambda: None)  # an install from a clone or a wheel: nothing to ask
    assert setup_book().committed_figures("other.md", "python benchmarks/other.py") is None and len(asked) == 2


def test_use_drive_in_colab_mounts_drive_and_keeps_data_and_runs_there(monkeypatch, tmp_path):
    mounted = []
    drive = types.SimpleNamespace(mount=lambda where: mounted.append(where) or (tmp_path / "drive" / "MyDrive").mkdir(parents=True))
    colab = types.ModuleType("google.colab")
    colab.drive = drive
    monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    setup = setup_book(use_drive=True, drive_mount=str(tmp_path / "drive"))
    assert mounted == [str(tmp_path / "drive")] and setup.in_colab
    assert setup.runs_dir == tmp_path / "drive" / "MyDrive" / "mmdc-book" / "runs" and setup.runs_dir.is_dir()
    assert setup.data_dir == tmp_path / "drive" / "MyDrive" / "mmdc-book" / "data"


def test_use_drive_outside_colab_says_there_is_no_drive(capsys):
    setup = setup_book(use_drive=True)
    assert "no Google Drive to mount outside Colab" in capsys.readouterr().out and str(setup.runs_dir) == "runs"


def test_load_prefers_the_system_copy_then_the_data_folder_then_says_why_not(monkeypatch, tmp_path):
    monkeypatch.setenv("MMDC_SYSTEM_DATASETS", str(tmp_path / "system"))
    monkeypatch.setenv("MMDC_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MMDC_OFFLINE", "1")
    with pytest.raises(DataUnavailable, match=r"fashion-mnist is not in .*system/fashion-mnist or .*data/fashion-mnist, and downloading is off"):
        setup_book().load("fashion-mnist")
    write_mnist_files(tmp_path / "data" / "fashion-mnist", compress=True)
    data, folder = setup_book().load("fashion-mnist")
    assert folder == tmp_path / "data" / "fashion-mnist" and len(data.images) == 17
    write_mnist_files(tmp_path / "system" / "fashion-mnist", compress=False, n_train=20)
    data, folder = setup_book().load("fashion-mnist")
    assert folder == tmp_path / "system" / "fashion-mnist" and len(data.images) == 25


def test_show_source_gives_the_library_code_as_highlighted_markdown():
    shown = show_source(mmdc_loss).data
    assert shown.startswith("`mmdc_lib.step.mmdc_loss`:") and "```python\ndef mmdc_loss(" in shown
    method = source_code(Trainer._clustering_pass)
    assert method.startswith("def _clustering_pass(self") and "\n    " in method  # a method, dedented


def test_human_duration_picks_a_readable_unit():
    assert [human_duration(s) for s in (3.21, 42, 720, 9000)] == ["3.2 s", "42 s", "12 min", "2.5 h"]


def test_projection_scales_a_timed_epoch_to_every_image_and_epoch():
    digits = load_digits_images()
    state = torch.random.get_rng_state()
    projection = project_command(["train", "--dataset", "digits", "--epochs", "8"], digits.images, device="cpu", n_batches=2)
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG untouched
    assert projection.epochs == 8 and projection.n_images == 1797 and projection.measured_images == 2 * preset("digits").batch_size
    assert projection.seconds == pytest.approx(8 * projection.seconds_per_epoch) and projection.seconds > 0
    assert str(projection).startswith("about ") and "on this CPU (8 epochs of 1797 images" in str(projection)
    subset = project_command(["reproduce", "--datasets", "digits", "--subset", "300", "--epochs", "3"], digits.images, device="cpu")
    assert (subset.n_images, subset.epochs, subset.measured_images) == (300, 3, 300)


def test_projection_needs_at_least_one_batch():
    images = torch.zeros((10, 1, 8, 8), dtype=torch.uint8)
    with pytest.raises(ValueError, match="n_batches=0 should be >= 1"):
        project_run(preset("digits"), images, device="cpu", n_batches=0)
    assert np.isfinite(project_run(preset("digits"), images, device="cpu", n_batches=1).seconds)


def test_a_failed_download_is_reported_as_unavailable_data_and_the_socket_timeout_restored(monkeypatch, tmp_path):
    import socket
    import urllib.error

    from mmdc_lib import book

    seen = []

    def offline(name, folder, download):
        seen.append((download, socket.getdefaulttimeout()))
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(book, "load_dataset", offline)
    monkeypatch.setenv("MMDC_SYSTEM_DATASETS", str(tmp_path / "none"))
    before = socket.getdefaulttimeout()
    with pytest.raises(DataUnavailable, match=r"and the download failed \(<urlopen error \[Errno -2\] Name or service not known>\)"):
        setup_book().load("fashion-mnist")
    assert seen == [(True, book.DOWNLOAD_TIMEOUT_S)] and socket.getdefaulttimeout() == before


def test_a_cell_timeout_that_is_not_a_number_is_named(monkeypatch):
    monkeypatch.setenv("MMDC_BOOK_CELL_SECONDS", "15min")
    with pytest.raises(ValueError, match="MMDC_BOOK_CELL_SECONDS='15min' should be a number of seconds"):
        setup_book()


def test_the_budget_schedule_is_projected_with_its_own_epochs():
    digits = load_digits_images()
    budget = project_command(["reproduce", "--datasets", "digits", "--budget"], digits.images, device="cpu", n_batches=1)
    assert budget.epochs == 10  # an eighth of the digits preset's 80, as reproduce --budget trains
    from mmdc_lib.cli import build_parser
    from mmdc_lib.reproduce import _train_arguments

    arguments = _train_arguments(build_parser().parse_args(["reproduce", "--datasets", "cifar10", "--budget"]), "cifar10", 0, Path("x"))
    assert arguments[arguments.index("--epochs") + 1] == "50"  # chapter 6's default row: 50 of the paper's 400 epochs
