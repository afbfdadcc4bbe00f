"""The command line: outputs, one-line errors, resume after SIGKILL, determinism."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SMALL_RUN = ["--dataset", "digits", "--subset", "300", "--epochs", "10", "--seed", "1", "--device", "cpu", "--no-progress"]


def run_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mmdc_lib", *args], cwd=ROOT, capture_output=True, text=True, **kwargs)


def assert_one_line_error(result: subprocess.CompletedProcess, pattern: str) -> None:
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert pattern in lines[0]


def comparable(metrics: dict) -> dict:
    """Everything but wall-clock times."""
    drop = {"seconds_this_process", "seconds_training"}
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
    process = subprocess.Popen([sys.executable, "-m", "mmdc_lib", "train", *SMALL_RUN, "--out", str(tmp_path)], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    checkpoint = tmp_path / "checkpoint.pt"
    deadline = time.time() + 120
    while time.time() < deadline and not (checkpoint.exists() and torch.load(checkpoint, weights_only=False)["epoch"] >= 2):
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    killed_at = torch.load(checkpoint, weights_only=False)["epoch"]
    assert 2 <= killed_at < 10, "the run should be killed mid-training"
    assert not (tmp_path / "metrics.json").exists()
    resumed = run_cli("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    first = json.loads((uninterrupted / "metrics.json").read_text())
    second = json.loads((tmp_path / "metrics.json").read_text())
    assert comparable(first) == comparable(second)


def test_unknown_dataset_is_a_one_line_error():
    assert_one_line_error(run_cli("train", "--dataset", "imagenet"), "unknown dataset 'imagenet'")


def test_missing_data_directory_with_no_download_is_a_one_line_error(tmp_path):
    result = run_cli("train", "--dataset", "cifar10", "--data-dir", str(tmp_path / "absent"), "--no-download")
    assert_one_line_error(result, "does not exist")


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"this is not a checkpoint")
    result = run_cli("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    assert_one_line_error(result, "corrupt or unreadable checkpoint")


def test_checkpoint_of_another_configuration_is_refused(uninterrupted, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes((uninterrupted / "checkpoint.pt").read_bytes())
    result = run_cli("train", *[a if a != "1" else "2" for a in SMALL_RUN], "--out", str(tmp_path), "--resume")
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
