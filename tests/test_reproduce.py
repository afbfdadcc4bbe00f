"""``python -m mmdc_lib reproduce``: every run, finished runs skipped, killed runs resumed, failures reported."""
import csv
import json
import subprocess
import sys
import time
from pathlib import Path

from test_cli import kill_after_epochs
from test_data import write_mnist_files

ROOT = Path(__file__).resolve().parents[1]


def reproduce(*args: str, **kwargs) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "mmdc_lib", "reproduce", "--device", "cpu", "--no-progress", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600, **kwargs)


def test_reproduce_writes_the_table_skips_finished_runs_and_goes_on_after_a_failing_one(tmp_path):
    # Fashion-MNIST in its real on-disk format, in DIR/fashion-mnist; no CIFAR-10 at all.
    write_mnist_files(tmp_path / "data" / "fashion-mnist", compress=True, n_train=40, n_test=20)
    args = ["--datasets", "cifar10", "fashion-mnist", "--seeds", "0", "1", "0", "--epochs", "2", "--data-dir", str(tmp_path / "data"),
            "--no-download", "--out", str(tmp_path / "out")]
    first = reproduce(*args)
    assert first.returncode == 1 and first.stderr.strip().splitlines()[-1].startswith("error: 2 of 4 runs failed")
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert [(r["dataset"], r["seed"], r["status"]) for r in rows] == [  # the repeated seed 0 runs once
        ("cifar10", "0", "failed"), ("cifar10", "1", "failed"), ("fashion-mnist", "0", "trained"), ("fashion-mnist", "1", "trained")]
    assert "cifar10 does not exist" in rows[0]["reason"] and float(rows[2]["acc"]) > 0 and rows[2]["device"] == "cpu"
    # Provenance in every trained row: the date and the commit of the code that made it.
    head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    assert rows[2]["date"].startswith(time.strftime("%Y-")) and rows[2]["commit"].startswith(head or "unknown")
    table = (tmp_path / "out" / "results.md").read_text()
    assert "NOT the paper's protocol" in table and "0.820 / 0.703" in table and "arithmetic averaging" in table
    assert "| fashion-mnist | short: 2 of 15 epochs (NOT the paper's protocol) | 2 of 2 |" in table
    assert "| fashion-mnist seed 0 | short: 2 of 15 epochs (NOT the paper's protocol) | trained |" in table
    checkpoint = tmp_path / "out" / "fashion-mnist-seed0" / "checkpoint.pt"
    written = checkpoint.stat().st_mtime_ns
    second = reproduce(*args)
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert [r["status"] for r in rows[2:]] == ["finished earlier", "finished earlier"]
    assert checkpoint.stat().st_mtime_ns == written and second.returncode == 1


def test_a_finished_subset_run_is_not_taken_for_the_full_run(tmp_path):
    quick = ["--datasets", "digits", "--seeds", "0", "--epochs", "2", "--out", str(tmp_path)]
    assert reproduce(*quick, "--subset", "100").returncode == 0
    full = reproduce(*quick)  # same settings, all images: a different run, refused rather than reported as done
    rows = list(csv.DictReader(open(tmp_path / "results.csv")))
    assert rows[0]["status"] == "failed" and "other data" in rows[0]["reason"] and full.returncode == 1


def test_a_killed_reproduce_resumes_every_run_to_the_uninterrupted_result(tmp_path):
    args = ["--datasets", "digits", "--seeds", "3", "--epochs", "30", "--subset", "400"]
    assert reproduce(*args, "--out", str(tmp_path / "whole")).returncode == 0
    command = ["reproduce", "--device", "cpu", "--no-progress", *args, "--out", str(tmp_path / "killed")]
    killed_at = kill_after_epochs(command, tmp_path / "killed" / "digits-seed3" / "checkpoint.pt")
    assert 2 <= killed_at < 30, "the run should be killed mid-training"
    assert reproduce(*args, "--out", str(tmp_path / "killed")).returncode == 0
    whole = json.loads((tmp_path / "whole" / "digits-seed3" / "metrics.json").read_text())
    resumed = json.loads((tmp_path / "killed" / "digits-seed3" / "metrics.json").read_text())
    assert [e["acc"] for e in resumed["history"]] == [e["acc"] for e in whole["history"]] and resumed["acc"] == whole["acc"]


def test_commit_comes_from_the_librarys_own_checkout_never_from_a_repository_around_it(tmp_path, monkeypatch):
    from mmdc_lib import runs

    git = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True, text=True).stdout.strip()  # noqa: E731
    git("init", "-q")
    (tmp_path / "site-packages").mkdir()
    (tmp_path / "file").write_text("x")
    git("add", "file")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    head = git("rev-parse", "--short=12", "HEAD")
    assert runs._checkout_commit(tmp_path.resolve()) == head
    assert runs._checkout_commit((tmp_path / "site-packages").resolve()) is None  # a library installed inside that repository
    (tmp_path / "file").write_text("changed")
    assert runs._checkout_commit(tmp_path.resolve()) == head + "+changes"
    # Not a checkout: the commit pip installed from (Colab's pip install git+...), else "unknown".
    monkeypatch.setattr(runs, "_checkout_commit", lambda root: None)
    monkeypatch.setattr(runs, "_installed_commit", lambda: "0123456789ab")
    assert runs.provenance()["commit"] == "0123456789ab"
    monkeypatch.setattr(runs, "_installed_commit", lambda: None)
    assert runs.provenance()["commit"] == "unknown"


def test_a_finished_run_saved_before_a_setting_existed_counts_as_finished(tmp_path):
    from mmdc_lib.config import preset
    from mmdc_lib.reproduce import _finished

    config = preset("digits").validate()
    saved = config.to_dict()
    del saved["assignment"]  # a config.json written before assignment= existed
    del saved["target_counts"]  # ... and before target_counts=
    del saved["augment"]["aspect_ratio"]  # ... and before aspect_ratio= (a tuple: saved as a list)
    (tmp_path / "config.json").write_text(json.dumps(saved))
    (tmp_path / "metrics.json").write_text(json.dumps({"epochs": config.epochs, "subset": None, "data_dir": "data", "acc": 0.9}))
    assert _finished(tmp_path, config.to_json(), None, "data")["acc"] == 0.9
    config.assignment = "nearest"
    assert _finished(tmp_path, config.to_json(), None, "data") is None


def test_reproduce_passes_its_compile_mode_to_every_run():
    from mmdc_lib.cli import build_parser
    from mmdc_lib.reproduce import _train_arguments

    for flags, expected in (([], []), (["--compile"], ["--compile", "default"]),
                            (["--compile", "reduce-overhead"], ["--compile", "reduce-overhead"])):
        args = build_parser().parse_args(["reproduce", "--datasets", "digits", "--out", "runs", *flags])
        arguments = _train_arguments(args, "digits", 0, Path("runs/digits/seed0"))
        assert [a for a in arguments if a in ("--compile", "default", "reduce-overhead")] == expected
        assert build_parser().parse_args(arguments).compile == (expected[1] if expected else False)


def test_reproduce_passes_cuda_graphs_to_every_run():
    from mmdc_lib.cli import build_parser
    from mmdc_lib.reproduce import _train_arguments

    for flags in ([], ["--cuda-graphs"]):
        args = build_parser().parse_args(["reproduce", "--datasets", "digits", "--out", "runs", *flags])
        arguments = _train_arguments(args, "digits", 0, Path("runs/digits/seed0"))
        assert build_parser().parse_args(arguments).cuda_graphs == bool(flags)


def test_settings_every_run_would_refuse_are_one_line_before_anything_is_written(tmp_path):
    from test_cli import assert_one_line_error

    for flags, message in ((["--epochs", "0"], "--epochs=0 should be >= 1"), (["--subset", "1"], "--subset=1 should be >= 2"),
                           (["--seeds", "0", "-1"], "seed=-1 should be in [0, 2**32)"),
                           (["--device", "cpu", "--cuda-graphs"], "--cuda-graphs needs a CUDA device; the device here is 'cpu'")):
        result = reproduce("--datasets", "digits", "--seeds", "0", *flags, "--out", str(tmp_path / "out"))
        assert_one_line_error(result, message)
        assert result.returncode == 2 and not (tmp_path / "out").exists()
    (tmp_path / "file").write_text("")
    result = reproduce("--datasets", "digits", "--seeds", "0", "--epochs", "1", "--out", str(tmp_path / "file"))
    assert_one_line_error(result, "the output folder is a file")
    assert result.returncode == 2


def test_budget_shortens_a_folder_run_as_its_digits_preset():
    from mmdc_lib.cli import build_parser
    from mmdc_lib.config import preset
    from mmdc_lib.reproduce import BUDGET_FRACTION, _schedule_label, _train_arguments

    args = build_parser().parse_args(["reproduce", "--datasets", "folder", "--budget", "--out", "runs"])
    arguments = _train_arguments(args, "folder", 0, Path("runs/folder-seed0"))
    epochs = -(-preset("digits").epochs // BUDGET_FRACTION)
    assert arguments[arguments.index("--epochs") + 1] == str(epochs)
    assert "NOT the paper's protocol" in _schedule_label("folder", epochs, None)


def test_an_unreadable_metrics_file_counts_as_not_finished(tmp_path):
    from mmdc_lib.config import preset
    from mmdc_lib.reproduce import _finished

    config = preset("digits").validate()
    (tmp_path / "config.json").write_text(config.to_json())
    (tmp_path / "metrics.json").write_text('{"epochs": 80, "subs')
    assert _finished(tmp_path, config.to_json(), None, None) is None


def test_a_finished_folder_run_counts_as_finished_whatever_its_data_set_its_k_and_input_size():
    import tempfile

    from mmdc_lib.cli import FOLDER_DATA_SETTINGS
    from mmdc_lib.config import preset
    from mmdc_lib.reproduce import _finished

    run = preset("digits").validate()
    run.n_clusters, run.input_size, run.augment.eval_crop = 3, 16, 1.0  # what train took from the folder's images
    with tempfile.TemporaryDirectory() as folder:
        (Path(folder) / "config.json").write_text(run.to_json())
        (Path(folder) / "metrics.json").write_text(json.dumps({"epochs": run.epochs, "subset": None, "data_dir": "imgs"}))
        expected = preset("digits").validate().to_json()  # what reproduce knows before loading the images
        assert _finished(Path(folder), expected, None, "imgs") is None
        assert _finished(Path(folder), expected, None, "imgs", FOLDER_DATA_SETTINGS)["data_dir"] == "imgs"
