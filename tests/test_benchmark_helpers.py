"""Helpers of the benchmark scripts that decide something (benchmarks/ is not a package: put it on the path)."""
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.append(str(Path(__file__).resolve().parents[1] / "benchmarks"))  # after everything: shadows nothing
from restart_rules import consensus_restart  # noqa: E402


def test_the_consensus_restart_agrees_most_with_the_others_its_own_diagonal_left_out():
    # restarts 0 and 2 agree with each other (0.8); restart 1 is poor in its own way; a large diagonal is ignored
    agreement = [[5.0, 0.1, 0.8], [0.1, 1.0, 0.2], [0.8, 0.2, 1.0]]
    assert consensus_restart(agreement) == 2  # mean 0.5 against 0.45 (restart 0) and 0.15 (restart 1)
    assert consensus_restart([[1.0]]) == 0
    assert consensus_restart(np.ones((3, 3))) == 0  # the first of equals


@pytest.mark.parametrize("agreement", [[], [[1.0, 0.5]], np.ones((2, 2, 2))])
def test_consensus_restart_names_a_matrix_that_is_not_square(agreement):
    with pytest.raises(ValueError, match=r"agreement should be a square \(R, R\) matrix with R >= 1, got shape"):
        consensus_restart(agreement)


def test_fashion_study_settings_are_read_as_literals_and_change_only_the_named_preset_setting():
    from common import parse_setting
    from fashion_mnist import setting_text, study_preset

    settings = dict(parse_setting(text) for text in ["epochs=30", "lr_milestones=[24]", "mse_reduction=mean",
                                                      "augment.aspect_ratio=(0.75,1.3333333333333333)"])
    assert settings == {"epochs": 30, "lr_milestones": (24,), "mse_reduction": "mean", "augment.aspect_ratio": (0.75, 4 / 3)}
    config = study_preset(None, settings)
    assert (config.epochs, config.lr_milestones, config.mse_reduction, config.augment.aspect_ratio) == (30, (24,), "mean", (0.75, 4 / 3))
    assert study_preset().augment.aspect_ratio == (1.0, 1.0)  # the preset itself is untouched
    assert parse_setting("means=orthogonal") == ("means", "orthogonal")  # a plain string
    assert "-".join(setting_text(v) for v in settings.values()) == "30-24-mean-0.75-1.33333"


@pytest.mark.parametrize("text, message", [("epochs", "expected KEY=VALUE"), ("=3", "expected KEY=VALUE"),
                                           ("epochs=", "expected KEY=VALUE")])
def test_a_study_setting_without_key_and_value_is_named(text, message):
    from common import parse_setting

    with pytest.raises(SystemExit, match=message):
        parse_setting(text)


def test_a_fashion_study_setting_the_preset_lacks_is_named():
    from fashion_mnist import study_preset

    with pytest.raises(SystemExit, match="epoch=...: the preset has no setting 'epoch'"):
        study_preset(None, {"epoch": 30})


def test_changed_settings_leave_the_base_config_and_its_shared_augmentation_untouched():
    from common import change_settings

    from mmdc_lib.config import AugmentConfig, MMDCConfig

    shared = AugmentConfig(eval_crop=1.0)
    base = MMDCConfig(augment=shared)
    changed = change_settings(base, {"augment.eval_crop": 0.95, "epochs": 3})
    assert (changed.augment.eval_crop, changed.epochs) == (0.95, 3)
    assert (shared.eval_crop, base.augment is shared, base.epochs) == (1.0, True, MMDCConfig().epochs)
    study_base = AugmentConfig(hflip=True)  # a base's augmentation set whole, then one of its settings changed
    changed = change_settings(MMDCConfig(), {"augment": study_base, "augment.eval_crop": 0.9})
    assert (changed.augment.eval_crop, changed.augment.hflip, study_base.eval_crop) == (0.9, True, 1.0)


def _fashion_payload(seeds, acc, made=None):
    runs = [{"seed": s, "acc": acc, "nmi": acc, "ari": acc, "device": "cpu", "wall_seconds": 60.0,
             "acc_per_epoch": [acc], **({"made": made} if made else {})} for s in seeds]
    return {"machine": {"date": "2026-11-30 10:00", "commit": "aaa"}, "n_images": 100, "kmeans_seeds": list(seeds),
            "baselines": {"kmeans": [{"seed": s, "acc": acc / 2, "nmi": 0.1, "ari": 0.1} for s in seeds]}, "mmdc": runs}


def test_appending_fashion_seeds_keeps_the_earlier_seeds_runs_and_k_means_and_when_they_were_made():
    from fashion_mnist import keep_other_seeds

    recorded = {"date": "2026-11-30 09:00", "commit": "ccc", "cpu_capability": "AVX2"}
    earlier = _fashion_payload([2, 0], 0.6)
    earlier["mmdc"][0]["made"] = recorded  # seed 2 recorded its own; seed 0 (rerun below) did not
    new = _fashion_payload([0, 1], 0.7, made={"date": "2026-11-30 12:00", "commit": "bbb"})
    merged = keep_other_seeds(earlier, new)
    assert [(r["seed"], r["acc"]) for r in merged["mmdc"]] == [(2, 0.6), (0, 0.7), (1, 0.7)]  # seed 0 rerun
    assert merged["mmdc"][0]["made"] == recorded  # kept as recorded, not replaced by the file's line
    assert merged["kmeans_seeds"] == [2, 0, 1]
    assert [(r["seed"], r["acc"]) for r in merged["baselines"]["kmeans"]] == [(2, 0.3), (0, 0.35), (1, 0.35)]
    assert keep_other_seeds(None, new) is new  # no --append: the new runs alone


def test_an_appended_run_saved_without_its_own_record_takes_the_file_machine_line_marked_as_such():
    from fashion_mnist import keep_other_seeds

    merged = keep_other_seeds(_fashion_payload([5], 0.6), _fashion_payload([1], 0.7))  # no seed in common
    assert [r["seed"] for r in merged["mmdc"]] == [5, 1] and merged["kmeans_seeds"] == [5, 1]
    assert merged["mmdc"][0]["made"] == {"date": "2026-11-30 10:00", "commit": "aaa", "from_file_machine_line": True}


@pytest.mark.parametrize("with_seed_list", [True, False])
def test_appending_to_k_means_runs_saved_without_their_seed_pairs_them_with_the_saved_seeds(with_seed_list):
    from fashion_mnist import keep_other_seeds

    earlier = _fashion_payload([2, 3], 0.6)
    for run in earlier["baselines"]["kmeans"]:
        del run["seed"]
    earlier["baselines"]["kmeans"][1]["acc"] = 0.1
    if not with_seed_list:  # files older still (fashion_mnist_n-init-3.json): the MMDC runs' seeds, as render() reads them
        del earlier["kmeans_seeds"]
    merged = keep_other_seeds(earlier, _fashion_payload([2], 0.7))
    assert [(r["seed"], r["acc"]) for r in merged["baselines"]["kmeans"]] == [(3, 0.1), (2, 0.35)]


def test_the_fashion_table_lists_runs_in_seed_order_and_marks_runs_dated_by_their_file():
    from fashion_mnist import keep_other_seeds, render

    new = _fashion_payload([1], 0.7, made={"date": "2026-11-30 12:00", "commit": "bbb", "cpu_capability": "AVX512"})
    lines = render(keep_other_seeds(_fashion_payload([4, 0, 2], 0.6), new))
    rows = [line for line in lines if line.startswith("| MMDC")]
    assert [row.split(" | ")[1] for row in rows] == ["0", "1", "2", "4"]
    assert "seeds [0, 1, 2, 4]" in next(line for line in lines if line.startswith("| k-means"))
    made = next(line for line in lines if line.startswith("Made"))
    assert "seed 0 2026-11-30 10:00 at aaa*;" in made and "seed 1 2026-11-30 12:00 at bbb (AVX512);" in made
    assert "over every saved seed (4): NOT MET" in next(line for line in lines if line.startswith("Bar"))


def test_a_fashion_ensemble_run_scores_k_means_on_its_restarts_embeddings_and_reports_the_fit_rule_beside_it(tmp_path):
    from fashion_mnist import fit_restarts, render

    from mmdc_lib.estimator import ensemble_of_embeddings
    from mmdc_lib.metrics import evaluate_clustering

    rng = np.random.default_rng(0)
    images, labels = torch.from_numpy(rng.integers(0, 256, (80, 1, 28, 28), dtype=np.uint8)), rng.integers(0, 10, 80)
    run = fit_restarts(images, labels, seed=3, n_init=2, device="cpu", keep_dir=tmp_path,
                       settings={"epochs": 1, "lr_milestones": ()}, combine="ensemble")
    saved = [np.load(tmp_path / f"seed3_restart{r['seed']}.npz")["embeddings"] for r in run["restarts"]]
    assert run["acc"] == evaluate_clustering(labels, ensemble_of_embeddings(saved, 10, seed=3).labels_).acc
    kept = next(r for r in run["restarts"] if r["seed"] == run["kept_seed"])
    assert run["combine"] == "ensemble" and run["fit_rule"]["acc"] == kept["acc"]
    assert len(run["acc_per_epoch"]) == 1 and run["restarts"][0]["seed"] == 3  # the first training's history
    lines = render({**_fashion_payload([3], 0.6), "mmdc": [dict(run, made={"date": "d", "commit": "c"})]})
    assert 'as `MMDC(n_init=2, combine="ensemble")`' in "\n".join(lines)
    restarts = next(line for line in lines if line.startswith("Restarts"))
    assert restarts.startswith("Restarts (restart seed: fit score, ACC, s; the fit rule's one marked)")
    assert f"the fit rule kept {run['fit_rule']['acc']:.3f}:" in restarts and "(the fit rule's)" in "\n".join(lines)


def test_the_fashion_ensemble_command_trains_and_combines_as_the_benchmark(tmp_path):
    """``train --dataset fashion-mnist --epochs 8 --n-init 3 --combine ensemble`` is the benchmark's run of
    ``--n-init 3 --set epochs=8 --set 'lr_milestones=[6]' --combine ensemble``: the same settings for every
    training, and on small files (1 epoch, 2 trainings) the same partition."""
    from fashion_mnist import fit_restarts, study_preset
    from test_cli import run_main
    from test_data import write_mnist_files

    from mmdc_lib.cli import build_parser, resolve_config
    from mmdc_lib.data import load_dataset
    from mmdc_lib.estimator import images_to_uint8_nchw

    command = ["train", "--dataset", "fashion-mnist", "--epochs", "8", "--n-init", "3", "--combine", "ensemble"]
    assert resolve_config(build_parser().parse_args(command)) == study_preset(None, {"epochs": 8, "lr_milestones": [6]})
    write_mnist_files(tmp_path / "data", compress=True, n_train=60, n_test=20)
    result = run_main("train", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "data"), "--no-download",
                      "--epochs", "1", "--n-init", "2", "--combine", "ensemble", "--seed", "3", "--device", "cpu",
                      "--no-progress", "--out", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    data = load_dataset("fashion-mnist", tmp_path / "data", download=False)
    images, _ = images_to_uint8_nchw(data.images)
    run = fit_restarts(images, data.labels, seed=3, n_init=2, device="cpu", settings={"epochs": 1, "lr_milestones": [1]},
                       combine="ensemble")
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert (metrics["acc"], metrics["nmi"]) == (run["acc"], run["nmi"])
    assert [r["seed"] for r in metrics["restarts"]] == [r["seed"] for r in run["restarts"]]
    assert [r["acc"] for r in metrics["restarts"]] == [r["acc"] for r in run["restarts"]]


def test_an_ensemble_of_one_training_is_refused_before_any_data_is_read(monkeypatch):
    import fashion_mnist

    monkeypatch.setattr(sys, "argv", ["fashion_mnist.py", "--combine", "ensemble", "--data-dir", "/nonexistent"])
    with pytest.raises(SystemExit, match="--combine ensemble needs --n-init 2 or more"):
        fashion_mnist.main()


def test_a_committed_fashion_table_saved_before_the_ensemble_redraws_byte_for_byte():
    import json

    from fashion_mnist import render

    results = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
    payload = json.loads((results / "fashion_mnist.json").read_text())
    assert "\n".join(render(payload)) + "\n" == (results / "fashion_mnist.md").read_text()


def test_the_cpu_model_is_read_from_cpuinfo(tmp_path):
    from common import cpu_model, machine

    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Example CPU @ 2.0GHz\n")
    assert cpu_model(cpuinfo) == "Example CPU @ 2.0GHz"
    assert isinstance(cpu_model(tmp_path / "missing"), str)  # no cpuinfo: platform's name, maybe ""
    assert {"cpu", "cpu_capability"} <= machine().keys()


def test_kept_trainings_are_read_by_seed_and_an_empty_folder_is_named(tmp_path):
    from common import read_kept_trainings

    for seed, restart, fit in [(1, 1, 0.2), (0, 0, 0.1), (0, 3141116543, 0.3)]:  # as fashion_mnist.py --keep-dir names them
        np.savez(tmp_path / f"seed{seed}_restart{restart}.npz", labels=np.array([0, 1, seed]),
                 embeddings=np.zeros((3, 2)), means=np.eye(2), fit=fit)
    by_seed = read_kept_trainings(tmp_path)
    assert sorted(by_seed) == [0, 1]
    assert [(t["restart"], t["fit"]) for t in by_seed[0]] == [(0, 0.1), (3141116543, 0.3)]
    assert by_seed[1][0]["labels"].tolist() == [0, 1, 1] and by_seed[1][0]["embeddings"].shape == (3, 2)
    with pytest.raises(SystemExit, match="no seed\\*_restart\\*.npz files in .*empty: run fashion_mnist.py --keep-dir"):
        read_kept_trainings(tmp_path / "empty")


def test_screening_keeps_the_training_with_the_lowest_fit_after_the_judged_epoch_and_scores_its_final_acc():
    from restart_screening import finished_trainings, screened_choices

    balanced, collapsed = [5, 5], [9, 1]

    def training(fits, final_acc, final_fit, sizes=balanced):
        return {"early": [{"fit": fit, "cluster_sizes": sizes} for fit in fits], "final_acc": final_acc,
                "final_fit": final_fit, "final_sizes": balanced}

    # after epoch 1 the first fits best, after epoch 2 the second; at the end the third; the collapsed one never counts
    trainings = [training([0.1, 0.5], 0.6, 0.3), training([0.2, 0.1], 0.7, 0.2), training([0.3, 0.4], 0.8, 0.1),
                 training([0.0, 0.0], 0.9, 0.9, sizes=collapsed)]
    first_three = screened_choices(trainings[:3], 1, 3)
    assert first_three == {"choices": 1, "kept_mean": 0.6, "kept_worst": 0.6, "one_mean": pytest.approx(0.7), "best_mean": 0.8}
    assert screened_choices(trainings[:3], 2, 3)["kept_mean"] == 0.7
    assert screened_choices(trainings[:3], None, 3)["kept_mean"] == 0.8  # judged at the end
    assert screened_choices(trainings, 1, 2)["choices"] == 6
    assert screened_choices([trainings[0], trainings[3]], 1, 2)["kept_mean"] == 0.6  # the collapsed one is passed over
    runs = [{"seed": 0, "kept_seed": 0, "n_init": 1}, {"seed": 1, "kept_seed": 7, "n_init": 3}, {"seed": 2, "kept_seed": 2}]
    assert sorted(finished_trainings({"mmdc": runs})) == [0, 2]  # one-training runs only


def test_screening_refuses_finished_trainings_that_hold_a_seed_twice():
    from restart_screening import finished_trainings

    runs = [{"seed": 3, "kept_seed": 3, "n_init": 1}, {"seed": 3, "kept_seed": 3, "n_init": 1}]
    with pytest.raises(ValueError, match=r"the finished trainings hold a seed twice: \[3, 3\]"):
        finished_trainings({"mmdc": runs})


def test_small_sets_ensemble_fit_gives_the_defaults_clusters_for_the_restart_they_keep():
    from small_sets import restart_labels

    from mmdc_lib import MMDC
    from mmdc_lib.data import load_digits_images
    from mmdc_lib.estimator import kept_restart

    digits = load_digits_images()
    images = digits.images[np.isin(digits.labels, [0, 1])][:80]
    settings = dict(n_clusters=2, epochs=2, n_init=2, seed=3, device="cpu")
    best = MMDC(**settings).fit(images)
    ensemble = MMDC(combine="ensemble", **settings).fit(images)
    assert [r["fit_score"] for r in ensemble.restarts_] == [r["fit_score"] for r in best.restarts_]  # the same trainings
    parts = restart_labels(ensemble)
    assert len(parts) == 2 and all(part.shape == (80,) for part in parts)
    kept = kept_restart([r["fit_score"] for r in ensemble.restarts_], [r["cluster_sizes"] for r in ensemble.restarts_])
    assert best.restarts_[kept]["kept"]
    np.testing.assert_array_equal(parts[kept], best.labels_)
    for part, restart in zip(parts, ensemble.restarts_):
        assert np.bincount(part, minlength=2).tolist() == restart["cluster_sizes"]


def test_restart_labels_refuses_random_means_it_cannot_rebuild():
    from small_sets import restart_labels

    from mmdc_lib import MMDC
    from mmdc_lib.data import load_digits_images

    images = load_digits_images().images[:40]
    model = MMDC(n_clusters=2, embedding_dim=3, epochs=1, n_init=2, combine="ensemble", device="cpu").fit(images)
    with pytest.raises(ValueError, match=r"restart_labels needs one-hot means \(d == k\), got means='auto', d=3"):
        restart_labels(model)


@pytest.mark.parametrize("root,expected", [(None, "/usr/share/datasets/fashion-mnist"),
                                           ("/elsewhere/datasets", "/elsewhere/datasets/fashion-mnist")])
def test_fashion_benchmarks_read_debian_files_under_the_system_datasets_root(root, expected):
    import os
    import subprocess

    env = {k: v for k, v in os.environ.items() if k != "MMDC_SYSTEM_DATASETS"} | ({"MMDC_SYSTEM_DATASETS": root} if root else {})
    benchmarks = Path(__file__).resolve().parents[1] / "benchmarks"
    read = subprocess.run([sys.executable, "-c", "import common; print(common.FASHION_DIR)"], cwd=benchmarks, env=env,
                          capture_output=True, text=True, check=True)
    assert read.stdout.strip() == expected


def _fake_row(name: str) -> dict:
    return {"set": name, "k": 2, "n_images": 10, "shape": [8, 8, 1], "mmdc_acc": [0.9], "mmdc_nmi": [0.5], "mmdc_ari": [0.4],
            "mmdc_fit": [0.1], "mmdc_restarts": [[{"fit_score": 0.1, "kept": True}]], "kmeans_acc": [0.8],
            "kmeans_nmi": [0.4], "ward_acc": 0.7, "ward_nmi": 0.3, "seconds_per_fit": 1.0}


def test_small_sets_saves_after_each_set_and_resume_runs_only_the_sets_left(tmp_path, monkeypatch):
    import json

    import common
    import small_sets

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(small_sets, "RESULTS", tmp_path)
    fitted = []

    def interrupted_on_the_second(name, seeds, settings, ensemble):
        if fitted:
            raise KeyboardInterrupt
        fitted.append(name)
        return _fake_row(name)

    argv = ["small_sets.py", "--seeds", "0", "--sets", "digits 0/1", "digits 3/5/8", "--tag", "t"]
    monkeypatch.setattr(sys, "argv", argv)
    monkeypatch.setattr(small_sets, "fit_set", interrupted_on_the_second)
    with pytest.raises(KeyboardInterrupt):
        small_sets.main()
    saved = json.loads((tmp_path / "small_sets_t.json").read_text())
    assert [row["set"] for row in saved["rows"]] == ["digits 0/1"] and saved["unfinished"] == ["digits 3/5/8"]
    partial = (tmp_path / "small_sets_t.md").read_text()
    assert "UNFINISHED: 1 set(s) not run yet (digits 3/5/8)" in partial
    assert "ahead on average): MET on the 1 sets finished so far." in partial  # never a bare verdict on part of the table

    fitted.clear()
    monkeypatch.setattr(small_sets, "fit_set", lambda name, *rest: fitted.append(name) or _fake_row(name))
    monkeypatch.setattr(sys, "argv", argv + ["--resume"])
    assert small_sets.main() == 0
    assert fitted == ["digits 3/5/8"]  # the finished set is kept, not refitted
    saved = json.loads((tmp_path / "small_sets_t.json").read_text())
    assert [row["set"] for row in saved["rows"]] == ["digits 0/1", "digits 3/5/8"] and saved["unfinished"] == []
    assert "UNFINISHED" not in (tmp_path / "small_sets_t.md").read_text()

    monkeypatch.setattr(sys, "argv", argv[:2] + ["1"] + argv[3:] + ["--resume"])  # other seeds: another study
    with pytest.raises(SystemExit, match=r"--resume: the saved run differs in seeds \(\[0\], now \[1\]\)"):
        small_sets.main()
    monkeypatch.setattr(small_sets.estimator, "GRAYSCALE_JITTER", 0.3)  # other defaults: another study too
    monkeypatch.setattr(sys, "argv", argv + ["--resume"])
    with pytest.raises(SystemExit, match=r"differs in library_defaults \(saved with others\)"):
        small_sets.main()


def test_small_sets_never_replaces_a_results_file_unless_told(tmp_path, monkeypatch):
    import json

    import common
    import small_sets

    monkeypatch.setattr(common, "RESULTS", tmp_path)
    monkeypatch.setattr(small_sets, "RESULTS", tmp_path)
    monkeypatch.setattr(small_sets, "fit_set", lambda name, *rest: _fake_row(name))
    argv = ["small_sets.py", "--seeds", "0", "--sets", "digits 3/5/8", "digits 0/1", "--tag", "t"]  # not the table's order
    monkeypatch.setattr(sys, "argv", argv)
    assert small_sets.main() == 0
    table = (tmp_path / "small_sets_t.md").read_text()
    assert table.index("| digits 0/1 |") < table.index("| digits 3/5/8 |")  # rows in the table's order
    with pytest.raises(SystemExit, match=r"small_sets_t.json exists; --resume goes on from it, --overwrite replaces it"):
        small_sets.main()
    monkeypatch.setattr(sys, "argv", argv + ["--overwrite"])
    assert small_sets.main() == 0
    monkeypatch.setattr(small_sets, "fit_set", lambda *args: pytest.fail("a finished set was fitted again"))
    monkeypatch.setattr(sys, "argv", argv + ["--resume"])  # everything finished: the table again, nothing fitted
    assert small_sets.main() == 0
    assert json.loads((tmp_path / "small_sets_t.json").read_text())["unfinished"] == []


def test_small_sets_partial_runs_without_a_tag_never_take_the_name_of_the_full_table():
    from small_sets import SETS, result_name

    assert result_name({}, "", None, list(SETS)) == "small_sets"
    assert result_name({}, "", None, list(reversed(SETS))) == "small_sets"  # every set, in any order: the full table
    assert result_name({}, "", None, ["digits 0/1"]) == "small_sets_some-sets"
    assert result_name({"combine": "ensemble"}, "x", 0.9, ["digits 0/1"]) == "small_sets_combine-ensemble_x_native-crop-0.9"


@pytest.mark.parametrize("side", [8, 28])
def test_jitter_screen_at_the_default_strength_trains_what_mmdc_defaults_train(side):
    from jitter_screen import grayscale_augmentation

    from mmdc_lib import MMDC
    from mmdc_lib.estimator import GRAYSCALE_JITTER

    images = torch.zeros((50, 1, side, side), dtype=torch.uint8)
    defaults = MMDC(n_clusters=2)._resolve_config(images, seed=0)
    screened = MMDC(n_clusters=2, augmentation=grayscale_augmentation(GRAYSCALE_JITTER, side))._resolve_config(images, seed=0)
    assert screened.to_dict() == defaults.to_dict()
    assert grayscale_augmentation(None, side).color_jitter is None
