"""The command line: outputs, one-line errors, resume after SIGKILL, determinism.

Errors our code raises once the command has started are checked with ``run_main`` (``main`` in this process:
the same code path without a new interpreter's seconds of imports); what only a real process shows, an
argument error's exit status, a training run, a kill, the progress bars and warnings, with ``run_cli``.
"""
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUN = ["--dataset", "digits", "--subset", "300", "--epochs", "10", "--seed", "1", "--device", "cpu", "--no-progress"]


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmdc_lib", *args], cwd=ROOT, capture_output=True, text=True, **kwargs)


def run_main(*args: str) -> subprocess.CompletedProcess:
    """``python -m mmdc_lib ARGS`` as ``main(ARGS)`` in this process: its exit status, stdout and stderr."""
    from mmdc_lib.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    here = os.getcwd()
    os.chdir(ROOT)  # where run_cli runs: default paths (runs/..., ./data) resolve alike
    try:
        with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            status = main(list(args))
    except SystemExit as stop:  # argparse's errors and --help
        status = stop.code if isinstance(stop.code, int) else 1
    finally:
        os.chdir(here)
    return subprocess.CompletedProcess(["mmdc_lib", *args], status, stdout.getvalue(), stderr.getvalue())


def kill_after_epochs(arguments: list, checkpoint: Path, epochs: int = 2, timeout: float = 180) -> int:
    """Start ``python -m mmdc_lib ARGUMENTS`` and SIGKILL it once ``checkpoint`` holds ``epochs`` finished epochs;
    returns the epochs it holds then."""
    process = subprocess.Popen([sys.executable, "-m", "mmdc_lib", *arguments], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    deadline = time.time() + timeout
    while time.time() < deadline and not (checkpoint.exists() and torch.load(checkpoint, weights_only=True)["epoch"] >= epochs):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return torch.load(checkpoint, weights_only=True)["epoch"]


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert pattern in lines[0]


def comparable(metrics: dict) -> dict:
    """Everything but wall-clock times and the date (two runs can straddle a minute)."""
    drop = {"seconds_this_process", "seconds_training", "date"}
    kept = {k: v for k, v in metrics.items() if k not in drop}
    kept["history"] = [{k: v for k, v in entry.items() if k != "seconds"} for entry in metrics["history"]]
    return kept


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    result = run_cli("train", *SMALL_RUN, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


def test_train_writes_metrics_checkpoint_config_and_figures(uninterrupted):
    metrics = json.loads((uninterrupted / "metrics.json").read_text())
    assert {"acc", "nmi", "ari", "history", "nmi_averaging"} <= metrics.keys()
    assert len(metrics["history"]) == 10 and [e["epoch"] for e in metrics["history"]] == list(range(1, 11))
    checkpoint = torch.load(uninterrupted / "checkpoint.pt", weights_only=False)
    assert isinstance(checkpoint["epoch"], int) and checkpoint["epoch"] == 10
    assert json.loads((uninterrupted / "config.json").read_text())["epochs"] == 10
    for figure in ("confusion.png", "clusters.png", "history.png"):
        assert (uninterrupted / figure).stat().st_size > 1000


def test_same_seed_reproduces_the_run_exactly(uninterrupted, tmp_path):
    assert run_cli("train", *SMALL_RUN, "--out", str(tmp_path)).returncode == 0
    first = json.loads((uninterrupted / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert comparable(first) == comparable(second)


def test_run_killed_mid_training_resumes_to_the_uninterrupted_result(uninterrupted, tmp_path):
    killed_at = kill_after_epochs(["train", *SMALL_RUN, "--out", str(tmp_path)], tmp_path / "checkpoint.pt")
    assert 2 <= killed_at < 10, "the run should be killed mid-training"
    assert not (tmp_path / "metrics.json").exists()
    resumed = run_cli("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads((uninterrupted / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert comparable(first) == comparable(second)


def test_unknown_dataset_is_a_one_line_error():
    # in a new process, as a user runs it: one of our errors leaves `python -m mmdc_lib` with status 2
    result = run_cli("train", "--dataset", "imagenet")
    assert_one_line_error(result, "unknown dataset 'imagenet'")
    assert result.returncode == 2


def test_missing_data_directory_with_no_download_is_a_one_line_error(tmp_path):
    result = run_main("train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "absent"), "--no-download")
    assert_one_line_error(result, "does not exist")


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"this is not a checkpoint")
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "corrupt or unreadable checkpoint")


def test_checkpoint_of_another_configuration_is_refused(uninterrupted, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes((uninterrupted / "checkpoint.pt").read_bytes())
    result = run_main("train", *[a if a != "1" else "2" for a in SMALL_RUN], "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "different configuration")


def test_folder_of_own_images_trains_and_reports_metrics_from_subfolder_labels(tmp_path):
    from PIL import Image
    import numpy as np

    rng = np.random.default_rng(0)
    for label, level in (("dark", 40), ("bright", 210)):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(12):
            pixels = np.clip(rng.normal(level, 20, (12, 12)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    out = tmp_path / "run"
    result = run_cli("train", "--dataset", "folder", "--data-dir", str(tmp_path / "images"), "--epochs", "1",
                     "--device", "cpu", "--no-progress", "--out", str(out), "--preset", "digits")
    assert result.returncode == 0, result.stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_images"] == 24 and 0 <= metrics["acc"] <= 1


def test_subset_is_one_fixed_sorted_draw_without_repeats():
    import numpy as np

    from mmdc_lib.cli import subset_indices

    chosen = subset_indices(1000, 50)
    assert len(chosen) == 50 and len(np.unique(chosen)) == 50
    assert np.all(np.diff(chosen) > 0) and chosen.min() >= 0 and chosen.max() < 1000
    np.testing.assert_array_equal(chosen, subset_indices(1000, 50))


# --- robustness: every bad input is one line and exit status 2 -----------------
def test_out_at_an_existing_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path / "file"))
    assert_one_line_error(result, "the output folder is a file")
    assert result.returncode == 2


def test_out_below_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path / "file" / "run"))
    assert_one_line_error(result, "cannot write the output folder (Not a directory)")
    assert result.returncode == 2


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders; the next test covers the error path")
def test_out_in_a_read_only_directory_is_a_one_line_error(tmp_path):
    (tmp_path / "locked").mkdir(mode=0o555)
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path / "locked" / "run"))
    assert_one_line_error(result, "Permission denied")
    assert result.returncode == 2


def test_permission_denied_while_writing_the_run_is_a_one_line_error(tmp_path, monkeypatch):
    from mmdc_lib import train

    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(train.Path, "mkdir", refuse)
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "cannot write the output folder (Permission denied)")
    assert result.returncode == 2 and result.stderr.startswith("error: cannot write the output folder (Permission denied)")


def test_data_dir_at_a_file_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("x")
    result = run_main("train", "--dataset", "mnist", "--data-dir", str(tmp_path / "file"), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "is a file, not a folder")
    assert result.returncode == 2


@pytest.mark.parametrize("device", ["mps", "cuda:7", "meta"])
def test_a_device_torch_lacks_is_a_one_line_error(tmp_path, device):
    if device == "mps" and torch.backends.mps.is_available():
        pytest.skip("this machine has MPS")
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has 8 GPUs")
    result = run_main("train", *SMALL_RUN, "--device", device, "--out", str(tmp_path / "run"))
    assert_one_line_error(result, f"device='{device}'")
    assert result.returncode == 2


def test_subset_larger_than_the_data_set_is_refused(tmp_path):
    result = run_main("train", "--dataset", "digits", "--subset", "5000", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "--subset=5000 is larger than the data set (1797 images)")
    assert result.returncode == 2


def test_a_data_set_whose_images_and_labels_differ_in_count_is_a_one_line_error(tmp_path):
    from test_data import write_idx, write_mnist_files

    write_mnist_files(tmp_path / "data", compress=True)
    write_idx(tmp_path / "data" / "t10k-labels-idx1-ubyte", np.zeros(6), compress=True)  # 5 images, 6 labels
    result = run_main("train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--no-download",
                     "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "holds 5 images but t10k-labels-idx1-ubyte holds 6 labels")
    assert result.returncode == 2


def test_a_corrupt_image_in_a_folder_is_a_one_line_error_naming_it(tmp_path):
    from test_data import write_gray_images

    write_gray_images(tmp_path / "images" / "a", 3)
    (tmp_path / "images" / "a" / "broken.png").write_bytes(b"not an image")
    result = run_main("train", "--dataset", "folder", "--data-dir", str(tmp_path / "images"), "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "broken.png")
    assert "--skip-bad-images" in result.stderr and result.returncode == 2


def test_a_bad_argument_value_is_one_line_with_status_2():
    result = run_cli("train", "--seed", "abc")
    assert_one_line_error(result, "argument --seed: invalid int value: 'abc'")
    assert result.returncode == 2


# --- runs are never lost or mixed ----------------------------------------------
def test_fresh_run_into_a_folder_holding_a_run_is_refused_and_the_run_kept(uninterrupted, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("checkpoint.pt", "config.json", "metrics.json"):
        (out / name).write_bytes((uninterrupted / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    result = run_main("train", *SMALL_RUN, "--out", str(out))
    assert_one_line_error(result, "already holds a run")
    assert "--resume" in result.stderr and "--overwrite" in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_finished_run_whose_checkpoint_was_deleted_is_still_refused_and_resume_names_the_missing_checkpoint(uninterrupted, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    for name in ("config.json", "metrics.json", "labels.npy"):  # the checkpoint deleted to save space
        (out / name).write_bytes((uninterrupted / name).read_bytes())
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    fresh = run_main("train", *SMALL_RUN, "--seed", "3", "--out", str(out))
    assert_one_line_error(fresh, "already holds a run (metrics.json)")
    resumed = run_main("train", *SMALL_RUN, "--out", str(out), "--resume")
    assert_one_line_error(resumed, "holds a run's results (metrics.json) but no checkpoint.pt to continue from")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_truncated_metrics_file_is_rewritten_by_resume_from_the_finished_checkpoint(uninterrupted, tmp_path):
    for name in ("checkpoint.pt", "config.json", "metrics.json"):
        (tmp_path / name).write_bytes((uninterrupted / name).read_bytes())
    (tmp_path / "metrics.json").write_text((uninterrupted / "metrics.json").read_text()[:100])  # a kill mid-write, before
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert result.returncode == 0, result.stderr
    assert comparable(json.loads((tmp_path / "metrics.json").read_text())) == comparable(json.loads((uninterrupted / "metrics.json").read_text()))
    assert not (tmp_path / "metrics.json.tmp").exists()


@pytest.mark.parametrize("image_size,input_size,eval_crop", [(None, 12, 0.95), ("30", 20, 1.0)])
def test_a_folder_without_a_preset_trains_at_the_side_mmdc_would_choose(tmp_path, monkeypatch, image_size, input_size, eval_crop):
    from PIL import Image

    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            Image.fromarray(np.full((12, 12), 40 * i, dtype=np.uint8)).save(tmp_path / "images" / label / f"{i}.png")
    size = ["--image-size", image_size] if image_size else []
    result = run_main("train", "--dataset", "folder", "--data-dir", str(tmp_path / "images"), *size, "--epochs", "1",
                      "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert (config["input_size"], config["augment"]["eval_crop"]) == (input_size, eval_crop)
    from mmdc_lib import timing  # the time a chapter projects is that of the same input size
    from mmdc_lib.data import load_image_folder

    projected = {}
    monkeypatch.setattr(timing, "project_run", lambda config, *rest: projected.setdefault("config", config))
    images = load_image_folder(tmp_path / "images", size=int(image_size or 12)).images
    timing.project_command(["train", "--dataset", "folder", *size, "--epochs", "1"], images, "cpu")
    assert (projected["config"].input_size, projected["config"].augment.eval_crop) == (input_size, eval_crop)


def test_overwrite_starts_afresh_and_removes_the_old_runs_files(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    torch.save({"epoch": 99}, out / "checkpoint.pt")
    (out / "metrics.json").write_text('{"acc": 1.0}')
    (out / "confusion.png").write_bytes(b"old")
    result = run_cli("train", "--dataset", "digits", "--subset", "100", "--epochs", "1", "--device", "cpu", "--no-progress",
                     "--out", str(out), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert torch.load(out / "checkpoint.pt", weights_only=True)["epoch"] == 1
    assert json.loads((out / "metrics.json").read_text())["epochs"] == 1
    assert (out / "confusion.png").read_bytes() != b"old"


def test_refused_resume_leaves_the_config_beside_the_checkpoint_unchanged(uninterrupted, tmp_path):
    for name in ("checkpoint.pt", "config.json"):
        (tmp_path / name).write_bytes((uninterrupted / name).read_bytes())
    result = run_main("train", *[a if a != "1" else "2" for a in SMALL_RUN], "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "different configuration (seed: 1 in the checkpoint, 2 now)")
    assert (tmp_path / "config.json").read_bytes() == (uninterrupted / "config.json").read_bytes()


def test_resume_on_other_data_is_refused(uninterrupted, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes((uninterrupted / "checkpoint.pt").read_bytes())
    other_subset = [a if a != "300" else "301" for a in SMALL_RUN]
    result = run_main("train", *other_subset, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "it was trained on other data (300 images of shape [1, 8, 8]; this run has 301 images")


def test_checkpoint_that_would_run_code_is_not_loaded(tmp_path):
    marker = tmp_path / "code-ran"

    class Payload:
        def __reduce__(self):
            return (Path.touch, (marker,))

    torch.save({"epoch": 1, "config": Payload()}, tmp_path / "checkpoint.pt")
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "holds objects other than tensors and plain values")
    assert not marker.exists()


def test_checkpoint_missing_a_key_is_a_one_line_error(uninterrupted, tmp_path):
    state = torch.load(uninterrupted / "checkpoint.pt", weights_only=True)
    del state["history"]
    torch.save(state, tmp_path / "checkpoint.pt")
    result = run_main("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "corrupt or incomplete checkpoint (missing 'history')")


def test_a_forgotten_resume_is_named_before_the_data_set_loads(tmp_path):
    (tmp_path / "run").mkdir()
    torch.save({"epoch": 3}, tmp_path / "run" / "checkpoint.pt")
    result = run_main("train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "absent"), "--no-download",
                     "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "already holds a run")


def test_short_runs_of_the_published_presets_drop_refinement_instead_of_failing():
    from mmdc_lib.cli import build_parser, resolve_config

    short = resolve_config(build_parser().parse_args(["train", "--dataset", "cifar10", "--epochs", "3"])).validate()
    assert short.refine_epoch is None and short.lr_milestones == (2,)
    longer = resolve_config(build_parser().parse_args(["train", "--dataset", "cifar10", "--epochs", "40"])).validate()
    assert longer.refine_epoch == 35 and longer.lr_milestones == (30,)


def test_a_shorter_run_scales_a_presets_warmup_and_always_keeps_an_epoch_to_cluster(monkeypatch):
    from mmdc_lib import config as config_module
    from mmdc_lib.cli import build_parser, resolve_config

    # a preset with a warm-up (none of ours has one): 20 epochs, the first 5 of the rotation task alone
    monkeypatch.setitem(config_module.PRESETS, "fashion-mnist",
                        lambda: config_module.with_warmup(config_module._fashion_mnist(), 5))

    def resolved(*extra):
        return resolve_config(build_parser().parse_args(["train", "--dataset", "fashion-mnist", *extra])).validate()

    assert (resolved().warmup_epochs, resolved().epochs) == (5, 20)
    assert (resolved("--epochs", "8").warmup_epochs, resolved("--epochs", "8").lr_milestones) == (2, (7,))
    assert resolved("--epochs", "4").warmup_epochs == 1 and resolved("--epochs", "1").warmup_epochs == 0
    no_rotation = resolved("--rotation", "none")  # the warm-up is the rotation task alone: dropped, schedule kept
    assert (no_rotation.warmup_epochs, no_rotation.epochs, no_rotation.lr_milestones) == (0, 15, (12,))
    both = resolved("--epochs", "10", "--warmup-epochs", "2")  # --epochs first (warm-up 2 of 10), then the warm-up set
    assert (both.epochs, both.warmup_epochs, both.lr_milestones) == (10, 2, (8,))
    # --warmup-epochs moves the preset's schedule: the clustering epochs keep theirs
    assert (resolved("--warmup-epochs", "0").epochs, resolved("--warmup-epochs", "0").lr_milestones) == (15, (12,))
    digits = resolve_config(build_parser().parse_args(["train", "--warmup-epochs", "4"])).validate()
    assert (digits.warmup_epochs, digits.epochs, digits.lr_milestones) == (4, 84, (68,))


def test_a_negative_warmup_is_one_line_and_a_nonzero_exit():
    assert_one_line_error(run_main("train", "--warmup-epochs", "-1"), "--warmup-epochs=-1 should be >= 0")


def test_no_progress_hides_the_folder_loaders_bars_so_an_error_stays_one_line(tmp_path):
    from test_data import write_gray_images

    write_gray_images(tmp_path / "images", 1000, side=4)
    (tmp_path / "images" / "zz-broken.png").write_bytes(b"not an image")
    result = run_cli("train", "--dataset", "folder", "--data-dir", str(tmp_path / "images"), "--n-clusters", "2",
                     "--no-progress", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "zz-broken.png")


def test_skip_bad_images_trains_on_the_rest_and_warns_on_one_line(tmp_path):
    from test_data import write_gray_images

    for kind in ("a", "b"):
        write_gray_images(tmp_path / "images" / kind, 6)
    (tmp_path / "images" / "a" / "broken.png").write_bytes(b"not an image")
    result = run_cli("train", "--dataset", "folder", "--data-dir", str(tmp_path / "images"), "--skip-bad-images",
                     "--image-size", "12", "--epochs", "1", "--device", "cpu", "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    warning_lines = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert warning_lines == ["warning: skipped 1 of 13 image files that could not be read: a/broken.png"], result.stderr
    assert json.loads((tmp_path / "run" / "metrics.json").read_text())["n_images"] == 12


@pytest.mark.parametrize("size", ["0", "5000"])
def test_image_size_out_of_range_is_a_one_line_error(tmp_path, size):
    result = run_main("train", "--dataset", "folder", "--data-dir", str(tmp_path), "--image-size", size)
    assert_one_line_error(result, f"--image-size={size} should be between 2 and 1024")


def test_metrics_name_date_commit_and_device_and_a_finished_run_loaded_again_keeps_them(tmp_path):
    out = tmp_path / "run"
    assert run_cli("train", "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--no-progress", "--out", str(out)).returncode == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["device_name"] == "CPU" and metrics["date"].endswith("UTC") and metrics["commit"]
    assert metrics["compile"] is False  # or torch.compile's mode: whether the numbers came from a compiled network
    assert metrics["cuda_graphs"] is False
    metrics["date"], metrics["commit"] = "2001-01-01 00:00 UTC", "feedc0ffee00"  # as if trained long ago
    (out / "metrics.json").write_text(json.dumps(metrics))
    again = run_cli("train", "--dataset", "digits", "--epochs", "1", "--device", "cpu", "--no-progress", "--out", str(out), "--resume")
    reloaded = json.loads((out / "metrics.json").read_text())
    assert again.returncode == 0 and (reloaded["date"], reloaded["commit"]) == ("2001-01-01 00:00 UTC", "feedc0ffee00")
    assert reloaded["acc"] == metrics["acc"]


def test_cuda_graphs_on_a_cpu_is_one_line_naming_the_device(tmp_path):
    result = run_main("train", *SMALL_RUN, "--cuda-graphs", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "--cuda-graphs needs a CUDA device; the device here is 'cpu'")
    assert not (tmp_path / "run").exists()


def test_cuda_graphs_with_compile_is_one_line_before_anything_is_written(tmp_path):
    result = run_main("train", *SMALL_RUN, "--cuda-graphs", "--compile", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "--cuda-graphs and --compile cannot be combined; choose one")
    assert not (tmp_path / "run").exists()


def test_cuda_graphs_under_torchrun_is_one_line_naming_the_processes(monkeypatch, tmp_path):
    import mmdc_lib.cli

    monkeypatch.setattr(mmdc_lib.cli, "world_size", lambda: 2)
    result = run_main("train", *SMALL_RUN, "--cuda-graphs", "--out", str(tmp_path / "run"))
    assert_one_line_error(result, "--cuda-graphs runs in one process; this one is one of 2 (torchrun)")


def test_an_unknown_compile_mode_is_one_line_with_status_2():
    result = run_main("train", *SMALL_RUN, "--compile", "fastest")
    assert result.returncode == 2
    assert_one_line_error(result, "argument --compile: invalid choice: 'fastest'")


def test_a_write_that_fails_midway_leaves_the_earlier_file_whole(tmp_path, monkeypatch):
    from mmdc_lib.runs import read_metrics, write_atomically

    write_atomically(tmp_path / "metrics.json", json.dumps({"acc": 0.9}))
    assert read_metrics(tmp_path) == {"acc": 0.9} and not (tmp_path / "metrics.json.tmp").exists()

    def full_disk(self, text):
        Path.write_bytes(self, text[:5].encode())  # half the text, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(OSError):
        write_atomically(tmp_path / "metrics.json", json.dumps({"acc": 0.95}))
    assert read_metrics(tmp_path) == {"acc": 0.9}  # results.md and config.json are written the same way
