"""``train --n-init N [--combine best|ensemble]``: N trainings, each in its restart folder, combined as the estimator
combines its restarts; resumable training by training; refusals that never mix two runs in one folder."""
import json

import numpy as np
import pytest
import torch

from test_cli import SMALL_RUN, assert_one_line_error, comparable, kill_after_epochs, run_cli, run_main

from mmdc_lib.data import load_dataset
from mmdc_lib.estimator import ensemble_of_embeddings, images_to_uint8_nchw, is_balanced, kept_restart, restart_seeds
from mmdc_lib.train import Trainer

RESTARTS_RUN = [*SMALL_RUN, "--n-init", "2"]  # digits, 300 images, 10 epochs, seed 1


def finished(tmp_path_factory, combine: str):
    out = tmp_path_factory.mktemp(combine)
    result = run_cli("train", *RESTARTS_RUN, "--combine", combine, "--out", str(out))
    assert result.returncode == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def ensemble_run(tmp_path_factory):
    return finished(tmp_path_factory, "ensemble")


@pytest.fixture(scope="module")
def best_run(tmp_path_factory):
    return finished(tmp_path_factory, "best")


def read(path):
    return json.loads(path.read_text())


def refused(result, message: str) -> None:
    """One line naming the problem, exit status 2."""
    assert_one_line_error(result, message)
    assert result.returncode == 2


def files_in(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def trained_directly(seed: int):
    """The training the command runs for one restart seed, run here with the trainer: (labels, embeddings)."""
    from mmdc_lib.cli import build_parser, resolve_config, subset_indices

    data = load_dataset("digits")
    images, _ = images_to_uint8_nchw(data.images[subset_indices(len(data.images), 300)])
    config = resolve_config(build_parser().parse_args(["train", *SMALL_RUN]))
    config.seed = seed
    result = Trainer(config, images, device="cpu", progress=False).fit()
    return result.labels, result.embeddings.numpy()


def test_each_training_has_its_own_folder_seed_checkpoint_and_results(ensemble_run):
    seeds = restart_seeds(1, 2)
    metrics = read(ensemble_run / "metrics.json")
    assert (metrics["seed"], metrics["n_init"], metrics["combine"]) == (1, 2, "ensemble")
    assert [r["seed"] for r in metrics["restarts"]] == seeds
    assert [r["folder"] for r in metrics["restarts"]] == ["restart-0", "restart-1"]
    for index, seed in enumerate(seeds):
        folder = ensemble_run / f"restart-{index}"
        assert read(folder / "config.json")["seed"] == seed
        assert torch.load(folder / "checkpoint.pt", weights_only=True)["epoch"] == 10
        own = read(folder / "metrics.json")
        assert own["seed"] == seed and own["acc"] == metrics["restarts"][index]["acc"]
        assert metrics["restarts"][index]["cluster_sizes"] == np.bincount(np.load(folder / "labels.npy"), minlength=10).tolist()
    for figure in ("confusion.png", "clusters.png", "history.png"):
        assert (ensemble_run / figure).stat().st_size > 1000


def test_ensemble_is_k_means_on_the_trainings_embeddings_side_by_side(ensemble_run):
    trainings = [trained_directly(seed) for seed in restart_seeds(1, 2)]
    for index, (labels, _) in enumerate(trainings):  # the command trains what the trainer trains
        assert np.array_equal(np.load(ensemble_run / f"restart-{index}" / "labels.npy"), labels)
    kmeans = ensemble_of_embeddings([embeddings for _, embeddings in trainings], 10, seed=1)
    assert np.array_equal(np.load(ensemble_run / "labels.npy"), kmeans.labels_)
    metrics = read(ensemble_run / "metrics.json")
    assert metrics["fit"] == pytest.approx(kmeans.inertia_ / 300)
    assert all(r["kept"] for r in metrics["restarts"])


def test_best_keeps_the_lowest_fit_among_balanced_trainings_and_its_partition(best_run):
    metrics = read(best_run / "metrics.json")
    restarts = metrics["restarts"]
    for index, restart in enumerate(restarts):  # the fit scores and sizes the rule saw are each training's own
        assert restart["fit_score"] == read(best_run / f"restart-{index}" / "metrics.json")["fit"]
        assert restart["cluster_sizes"] == np.bincount(np.load(best_run / f"restart-{index}" / "labels.npy"), minlength=10).tolist()
    kept = kept_restart([r["fit_score"] for r in restarts], [r["cluster_sizes"] for r in restarts])
    assert [r["kept"] for r in restarts] == [index == kept for index in range(2)]
    assert [r["balanced"] for r in restarts] == [is_balanced(r["cluster_sizes"]) for r in restarts]
    assert np.array_equal(np.load(best_run / "labels.npy"), np.load(best_run / f"restart-{kept}" / "labels.npy"))
    own = read(best_run / f"restart-{kept}" / "metrics.json")
    assert (metrics["acc"], metrics["fit"], metrics["history"]) == (own["acc"], own["fit"], own["history"])


def test_a_run_killed_in_its_second_training_resumes_to_the_uninterrupted_result(ensemble_run, tmp_path):
    command = ["train", *RESTARTS_RUN, "--combine", "ensemble", "--out", str(tmp_path)]
    killed_at = kill_after_epochs(command, tmp_path / "restart-1" / "checkpoint.pt")
    assert 2 <= killed_at < 10, "the run should be killed in its second training"
    assert (tmp_path / "restart-0" / "metrics.json").exists() and not (tmp_path / "metrics.json").exists()
    resumed = run_cli("train", *RESTARTS_RUN, "--combine", "ensemble", "--out", str(tmp_path), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert comparable(read(tmp_path / "metrics.json")) == comparable(read(ensemble_run / "metrics.json"))
    assert np.array_equal(np.load(tmp_path / "labels.npy"), np.load(ensemble_run / "labels.npy"))


def copy_run(source, target):
    """The run's files (not its figures), restart folders included; returns what the target then holds."""
    for path in source.rglob("*"):
        if path.is_file() and path.suffix != ".png":
            (target / path.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            (target / path.relative_to(source)).write_bytes(path.read_bytes())
    return files_in(target)


def test_a_fresh_run_into_a_folder_holding_trainings_is_refused_and_the_run_kept(ensemble_run, tmp_path):
    before = copy_run(ensemble_run, tmp_path)
    again = run_main("train", *RESTARTS_RUN, "--combine", "ensemble", "--out", str(tmp_path))
    refused(again, "already holds a run of several trainings (--seed 1 --n-init 2 --combine ensemble); continue it with --resume")
    one = run_main("train", *SMALL_RUN, "--out", str(tmp_path), "--resume")
    refused(one, "continue it with --seed 1 --n-init 2 --combine ensemble --resume, or start afresh")
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("flags", [["--n-init", "3", "--combine", "ensemble"], ["--n-init", "2"],
                                   ["--n-init", "2", "--combine", "ensemble", "--seed", "2"]])
def test_resuming_trainings_with_another_number_combination_or_seed_is_refused(ensemble_run, tmp_path, flags):
    before = copy_run(ensemble_run, tmp_path)
    result = run_main("train", *SMALL_RUN, *flags, "--out", str(tmp_path), "--resume")
    refused(result, "holds a run of several trainings (--seed 1 --n-init 2 --combine ensemble), not --seed")
    assert files_in(tmp_path) == before


def test_restart_folders_without_their_record_are_refused(ensemble_run, tmp_path):
    copy_run(ensemble_run, tmp_path)
    (tmp_path / "restarts.json").unlink()
    result = run_main("train", *RESTARTS_RUN, "--combine", "ensemble", "--out", str(tmp_path), "--resume")
    refused(result, "holds trainings (restart-0, restart-1) but no restarts.json saying of which run")


def test_resuming_a_finished_run_of_trainings_trains_nothing_and_keeps_its_results(ensemble_run, tmp_path):
    copy_run(ensemble_run, tmp_path)
    earlier = read(tmp_path / "metrics.json")
    result = run_main("train", *RESTARTS_RUN, "--combine", "ensemble", "--out", str(tmp_path), "--resume")
    assert result.returncode == 0, result.stderr
    again = read(tmp_path / "metrics.json")
    assert {k: v for k, v in again.items() if k != "seconds_this_process"} == \
        {k: v for k, v in earlier.items() if k != "seconds_this_process"}  # the date and seconds of the training kept


def test_several_trainings_are_refused_in_a_folder_holding_one(best_run, tmp_path):
    before = copy_run(best_run / "restart-0", tmp_path)  # one training's run, in the folder itself
    for flags in ([], ["--resume"]):
        result = run_main("train", *RESTARTS_RUN, "--out", str(tmp_path), *flags)
        refused(result, "holds a run of one training (checkpoint.pt); start afresh, deleting it, with --overwrite")
    assert files_in(tmp_path) == before


def test_overwrite_deletes_every_training_of_the_old_run_but_not_a_users_own_files(ensemble_run, tmp_path):
    copy_run(ensemble_run, tmp_path)
    (tmp_path / "restart-1" / "notes.txt").write_text("mine")
    (tmp_path / "restart-2").mkdir()  # a third training killed in its first epoch: its config alone
    (tmp_path / "restart-2" / "config.json").write_text("{}")
    result = run_cli("train", "--dataset", "digits", "--subset", "100", "--epochs", "1", "--device", "cpu", "--no-progress",
                     "--out", str(tmp_path), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "restart-0").exists() and not (tmp_path / "restart-2").exists()
    assert not (tmp_path / "restarts.json").exists()
    assert [p.name for p in (tmp_path / "restart-1").iterdir()] == ["notes.txt"]
    assert read(tmp_path / "metrics.json")["epochs"] == 1 and "restarts" not in read(tmp_path / "metrics.json")


def test_several_trainings_overwrite_one(best_run, tmp_path):
    copy_run(best_run / "restart-0", tmp_path)
    result = run_main("train", "--dataset", "digits", "--subset", "100", "--epochs", "1", "--device", "cpu", "--no-progress",
                      "--n-init", "2", "--out", str(tmp_path), "--overwrite")
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "checkpoint.pt").exists() and not (tmp_path / "config.json").exists()
    assert read(tmp_path / "restarts.json") == {"seed": 0, "n_init": 2, "combine": "best"}
    assert [r["folder"] for r in read(tmp_path / "metrics.json")["restarts"]] == ["restart-0", "restart-1"]


@pytest.mark.parametrize("n_init", ["1", "2"])
def test_an_overwrite_refused_by_the_trainers_checks_keeps_the_old_run(ensemble_run, tmp_path, n_init):
    before = copy_run(ensemble_run, tmp_path)
    result = run_main("train", "--dataset", "digits", "--subset", "5", "--n-init", n_init, "--device", "cpu",
                      "--no-progress", "--out", str(tmp_path), "--overwrite")
    refused(result, "n_samples=5 should be >= n_clusters=10")
    assert files_in(tmp_path) == before


@pytest.mark.parametrize("flags,message", [
    (["--n-init", "0"], "--n-init=0 should be >= 1."),
    (["--combine", "ensemble"], "it needs --n-init 2 or more, got --n-init 1"),
])
def test_bad_restart_flags_are_one_line_before_the_data_loads(tmp_path, monkeypatch, flags, message):
    from mmdc_lib import cli

    monkeypatch.setattr(cli, "load_dataset", lambda *args, **kwargs: pytest.fail("the data set was loaded"))
    result = run_main("train", *SMALL_RUN, *flags, "--out", str(tmp_path / "run"))
    refused(result, message)
    assert not (tmp_path / "run").exists()


def test_a_projection_of_several_trainings_takes_their_number_times_one(monkeypatch):
    from mmdc_lib import timing

    one = timing.RunProjection(seconds_per_epoch=10.0, epochs=8, n_images=300, measured_images=100, device_name="CPU")
    monkeypatch.setattr(timing, "project_run", lambda *args: one)
    images = np.zeros((300, 8, 8), dtype=np.uint8)
    single = timing.project_command(["train", "--dataset", "digits"], images, "cpu")
    three = timing.project_command(["train", "--dataset", "digits", "--n-init", "3"], images, "cpu")
    assert (single.seconds, three.seconds) == (80.0, 240.0)
    assert "3 trainings of 8 epochs" in str(three) and "trainings" not in str(single)


@pytest.mark.parametrize("flags,folder", [
    ([], "runs/digits-seed0"),
    (["--n-init", "3"], "runs/digits-seed0-n-init-3-best"),
    (["--n-init", "2", "--combine", "ensemble", "--seed", "4"], "runs/digits-seed4-n-init-2-ensemble"),
])
def test_the_default_folder_names_several_trainings_and_their_combination(flags, folder, tmp_path, monkeypatch, capsys):
    """A run of several trainings never meets a run of one, or of another combination, in its default folder."""
    from mmdc_lib.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / folder).mkdir(parents=True)
    (tmp_path / folder / "restarts.json").write_text('{"seed": 9, "n_init": 5, "combine": "best"}')  # another run
    (tmp_path / folder / "metrics.json").write_text("{}")
    status = main(["train", "--dataset", "digits", "--no-progress", "--device", "cpu", *flags])
    assert status == 2 and f"{folder} " in capsys.readouterr().err  # refused there, before anything loads


def test_resuming_several_trainings_names_their_older_default_folder(tmp_path, monkeypatch, capsys):
    """Runs of several trainings started before their default folder named them are not begun afresh beside it."""
    from mmdc_lib.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs" / "digits-seed0").mkdir(parents=True)
    (tmp_path / "runs" / "digits-seed0" / "restarts.json").write_text('{"seed": 0, "n_init": 2, "combine": "best"}')
    status = main(["train", "--dataset", "digits", "--n-init", "2", "--resume", "--no-progress", "--device", "cpu"])
    assert status == 2
    assert capsys.readouterr().err.strip() == (
        "error: runs/digits-seed0 holds a run of several trainings (their default folder before "
        "runs/digits-seed0-n-init-2-best); continue it with --out runs/digits-seed0 --resume.")
    assert not (tmp_path / "runs" / "digits-seed0-n-init-2-best").exists()
    (tmp_path / "runs" / "digits-seed0" / "restarts.json").write_text('{"seed": 0, "n_init": 3, "combine": "best"}')
    status = main(["train", "--dataset", "digits", "--n-init", "2", "--resume", "--subset", "5", "--no-progress",
                   "--device", "cpu"])  # another run there: not this one's, so this one starts in its own folder
    assert status == 2 and "n_samples=5 should be >= n_clusters=10" in capsys.readouterr().err
