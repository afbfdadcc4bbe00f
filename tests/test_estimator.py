import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits

from mmdc_lib import MMDC
from mmdc_lib.estimator import (NotFittedError, auto_refine_epoch, ensemble_of_embeddings, is_balanced, kept_restart,
                                restart_seeds)
from mmdc_lib.train import TrainResult

FAST = dict(epochs=2, batch_size=32, device="cpu", n_init=1)


@pytest.fixture(scope="module")
def digits_images():
    digits = load_digits()
    return digits.images[:120], digits.target[:120]


@pytest.fixture(scope="module")
def fitted(digits_images):
    return MMDC(n_clusters=10, **FAST).fit(digits_images[0])


def test_fit_returns_self_and_sets_labels_and_centers(digits_images):
    model = MMDC(n_clusters=10, **FAST)
    assert model.fit(digits_images[0]) is model
    assert model.labels_.shape == (120,) and model.labels_.min() >= 0 and model.labels_.max() < 10
    assert model.cluster_centers_.shape == (10, 10)
    assert len(model.history_) == 2 and model.n_iter_ == 2


def test_predict_on_the_training_images_gives_labels_(fitted, digits_images):
    assert np.array_equal(fitted.predict(digits_images[0]), fitted.labels_)


def test_transform_returns_unit_norm_embeddings_of_shape_n_by_d(fitted, digits_images):
    embeddings = fitted.transform(digits_images[0][:7])
    assert embeddings.shape == (7, 10)
    assert np.allclose(np.linalg.norm(embeddings, axis=1), 1, atol=1e-5)


def test_fit_predict_equals_fit_labels(digits_images):
    images = digits_images[0]
    assert np.array_equal(MMDC(n_clusters=10, **FAST).fit_predict(images), MMDC(n_clusters=10, **FAST).fit(images).labels_)


def test_same_seed_gives_identical_cpu_runs_and_another_seed_does_not(digits_images):
    images = digits_images[0]
    first = MMDC(n_clusters=10, seed=3, **FAST).fit(images)
    second = MMDC(n_clusters=10, seed=3, **FAST).fit(images)
    other = MMDC(n_clusters=10, seed=4, **FAST).fit(images)
    assert np.array_equal(first.embedding_, second.embedding_)
    assert first.history_[-1]["mse"] == second.history_[-1]["mse"]
    assert not np.array_equal(first.embedding_, other.embedding_)


def test_embedding_dim_different_from_n_clusters_works(digits_images):
    model = MMDC(n_clusters=4, embedding_dim=7, sigma=0.1, **FAST).fit(digits_images[0])
    assert model.cluster_centers_.shape == (4, 7)
    assert model.transform(digits_images[0][:3]).shape == (3, 7)


def test_colour_images_uint8_nhwc_are_accepted():
    images = np.random.default_rng(0).integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    model = MMDC(n_clusters=3, **FAST).fit(images)
    assert model.labels_.shape == (40,)
    assert model.config_.augment.color_jitter[2] > 0 and model.config_.augment.grayscale_p > 0  # "auto": the colour one


def test_grayscale_images_get_brightness_and_contrast_jitter_only():
    # so that clusters follow shapes, not how dark the images are (mmdc_lib/estimator.py, AUGMENTATIONS)
    config = MMDC(n_clusters=2)._resolve_config(torch.zeros((10, 1, 12, 12), dtype=torch.uint8), seed=0)
    assert config.augment.color_jitter == (0.2, 0.2, 0.0, 0.0) and config.augment.grayscale_p == 0


@pytest.mark.parametrize("rotation", ["alternating", "none"])
def test_other_rotation_schedules_and_refinement_run(digits_images, rotation):
    model = MMDC(n_clusters=10, rotation=rotation, refine_epoch=1, **FAST).fit(digits_images[0])
    assert model.history_[-1]["rotation_loss"] > 0 if rotation == "alternating" else model.history_[-1]["rotation_loss"] == 0


@pytest.mark.parametrize("epochs,first_refining_epoch", [(1, None), (2, None), (4, 3), (5, 4), (8, 6), (125, 94)])
def test_refine_epoch_auto_refines_the_last_quarter_of_the_epochs(epochs, first_refining_epoch):
    assert auto_refine_epoch(epochs) == first_refining_epoch


def test_a_warmup_places_the_lr_cut_and_the_refinement_in_the_clustering_epochs_after_it():
    images = torch.zeros((70, 1, 28, 28), dtype=torch.uint8)
    warm = MMDC(n_clusters=10, epochs=20, warmup_epochs=4)._resolve_config(images, seed=0)
    assert (warm.warmup_epochs, warm.lr_milestones, warm.refine_epoch) == (4, (4 + 13,), 4 + 12)  # 80%, 75% of 16
    plain = MMDC(n_clusters=10, epochs=16)._resolve_config(images, seed=0)
    assert (plain.warmup_epochs, plain.lr_milestones, plain.refine_epoch) == (0, (13,), 12)
    auto = MMDC(n_clusters=10, warmup_epochs=2)._resolve_config(images, seed=0)  # epochs=None: on top of the schedule
    assert auto.epochs == 2 + MMDC(n_clusters=10)._resolve_config(images, seed=0).epochs
    with pytest.raises(ValueError, match="epochs=0 should be >= 1"):  # named as epochs, not as a too long warm-up
        MMDC(n_clusters=10, epochs=0)._resolve_config(images, seed=0)
    # with_warmup (the command line's --warmup-epochs) moves a preset's schedule the same way
    from mmdc_lib.config import preset, with_warmup

    moved = with_warmup(preset("fashion-mnist"), 5)
    assert (moved.epochs, moved.lr_milestones, moved.warmup_epochs) == (20, (17,), 5)
    moved.augment.color_jitter = (0.2, 0.2, 0.0, 0.0)  # the estimator's grayscale jitter, not in the preset
    assert MMDC(n_clusters=10, epochs=20, warmup_epochs=5, refine_epoch=None)._resolve_config(
        images, seed=0).to_dict() == moved.validate().to_dict()


def test_the_fitted_config_names_the_refinement_it_ran(digits_images):
    images = digits_images[0][:200]
    assert MMDC(n_clusters=10, **{**FAST, "epochs": 4}).fit(images).config_.refine_epoch == 3  # "auto", the default
    assert MMDC(n_clusters=10, refine_epoch=None, **{**FAST, "epochs": 4}).fit(images).config_.refine_epoch is None
    assert MMDC(n_clusters=10, refine_epoch=2, **{**FAST, "epochs": 4}).fit(images).config_.refine_epoch == 2


def test_defaults_restart_three_times_on_a_small_set_and_refine_the_last_quarter(digits_images):
    model = MMDC(n_clusters=10, epochs=4, batch_size=32, device="cpu").fit(digits_images[0][:200])
    assert model.n_init_ == 3 and model.config_.refine_epoch == 3


def test_n_init_keeps_the_balanced_restart_with_the_lowest_fit_score(digits_images):
    images = digits_images[0]
    best = MMDC(n_clusters=10, **{**FAST, "n_init": 2}).fit(images)
    singles = [MMDC(n_clusters=10, seed=s, **FAST).fit(images) for s in restart_seeds(0, 2)]
    sizes = [np.bincount(single.labels_, minlength=10).tolist() for single in singles]
    kept = kept_restart([single.fit_score_ for single in singles], sizes)
    assert best.fit_score_ == pytest.approx(singles[kept].fit_score_)
    assert np.array_equal(best.labels_, singles[kept].labels_)
    assert [r["seed"] for r in best.restarts_] == restart_seeds(0, 2)
    assert [r["cluster_sizes"] for r in best.restarts_] == sizes
    assert [r["kept"] for r in best.restarts_] == [i == kept for i in range(2)]
    assert [r["balanced"] for r in best.restarts_] == [is_balanced(s) for s in sizes]


def test_combine_ensemble_clusters_every_restarts_embeddings_side_by_side_with_k_means(digits_images):
    images = digits_images[0]
    together = MMDC(n_clusters=10, combine="ensemble", **{**FAST, "n_init": 2}).fit(images)
    singles = [MMDC(n_clusters=10, seed=s, **FAST).fit(images) for s in restart_seeds(0, 2)]
    kmeans = ensemble_of_embeddings([single.embedding_ for single in singles], 10, seed=0)
    assert np.array_equal(together.labels_, kmeans.labels_)
    assert np.array_equal(together.embedding_, np.concatenate([single.embedding_ for single in singles], axis=1))
    assert together.cluster_centers_.shape == (10, 20) and together.fit_score_ == pytest.approx(kmeans.inertia_ / 120)
    assert [r["kept"] for r in together.restarts_] == [True, True]
    assert [e["mse"] for e in together.history_] == [e["mse"] for e in singles[0].history_]  # the first restart's
    assert np.allclose(together.transform(images[:7]), together.embedding_[:7], atol=1e-6)
    assert np.array_equal(together.predict(images), together.labels_)  # nearest k-means centre
    assert together.labels_.dtype == np.int64 and together.cluster_centers_.dtype == np.float32
    restored = pickle.loads(pickle.dumps(together))
    assert all(next(m.parameters()).device.type == "cpu" for m in restored._models) and len(restored._models) == 2
    assert np.array_equal(restored.predict(images), together.labels_)


def test_a_restart_is_balanced_when_every_cluster_holds_half_its_equal_share():
    assert is_balanced([50, 25, 25]) and is_balanced([34, 50, 17])  # 17 >= 100 / 3 / 2
    assert not is_balanced([60, 24, 16]) and not is_balanced([100, 0, 0])


def test_fit_keeps_a_balanced_restart_over_a_collapsed_one_with_a_lower_fit_score(monkeypatch):
    seeds = restart_seeds(0, 3)
    labels = {seeds[0]: [0] * 28 + [1, 2], seeds[1]: [0, 1, 2] * 10, seeds[2]: [2, 1, 0] * 10}
    fits = dict(zip(seeds, (0.01, 0.02, 0.03)))  # the collapsed restart fits best

    class FakeTrainer:  # returns a made-up result per restart seed, without training
        def __init__(self, config, images, **kwargs):
            self.seed = config.seed

        def fit(self):
            return TrainResult(model=torch.nn.Identity(), means=torch.eye(3), embeddings=torch.zeros(30, 3),
                               labels=np.array(labels[self.seed]), fit_score=fits[self.seed])

    monkeypatch.setattr("mmdc_lib.estimator.Trainer", FakeTrainer)
    model = MMDC(n_clusters=3, n_init=3, epochs=2, device="cpu").fit(np.zeros((30, 8, 8), dtype=np.uint8))
    assert model.config_.seed == seeds[1] and model.fit_score_ == 0.02
    assert model.labels_.tolist() == labels[seeds[1]]
    assert [(r["seed"], r["balanced"], r["kept"]) for r in model.restarts_] == [
        (seeds[0], False, False), (seeds[1], True, True), (seeds[2], True, False)]
    assert model.restarts_[0]["cluster_sizes"] == [28, 1, 1]


def test_the_restart_rule_names_bad_input():
    with pytest.raises(ValueError, match="one fit score per restart and at least one restart, got 2 fit scores and 1 "):
        kept_restart([0.1, 0.2], [[5, 5]])
    with pytest.raises(ValueError, match="got 0 fit scores"):
        kept_restart([], [])
    with pytest.raises(ValueError, match=r"cluster_sizes should be a non-empty list of counts >= 0, got \[\]"):
        is_balanced([])


def test_the_kept_restart_is_the_lowest_fit_among_balanced_ones_else_among_all():
    # a collapsed restart fits its few crowded clusters tightly: its low fit score does not win
    assert kept_restart([0.01, 0.03, 0.02], [[98, 1, 1], [40, 30, 30], [34, 33, 33]]) == 2
    assert kept_restart([0.02, 0.01], [[90, 5, 5], [80, 19, 1]]) == 1  # none balanced: the lowest fit


def test_n_init_auto_trains_three_models_on_a_small_set_and_one_on_a_large_one(digits_images, monkeypatch):
    images = digits_images[0][:60]
    settings = {**FAST, "n_init": "auto"}
    small = MMDC(n_clusters=3, **settings).fit(images)
    assert small.n_init_ == 3
    singles = [MMDC(n_clusters=3, seed=s, **FAST).fit(images) for s in restart_seeds(0, 3)]
    kept = kept_restart([m.fit_score_ for m in singles], [np.bincount(m.labels_, minlength=3) for m in singles])
    assert small.fit_score_ == pytest.approx(singles[kept].fit_score_) and len(small.restarts_) == 3
    monkeypatch.setattr("mmdc_lib.estimator.AUTO_RESTARTS_MAX_IMAGES", 59)
    assert MMDC(n_clusters=3, **settings).fit(images).n_init_ == 1
    assert MMDC(n_clusters=3, combine="ensemble", **settings).fit(images).n_init_ == 3  # an ensemble of one is none


def test_restart_seeds_start_with_the_seed_and_are_not_shared_by_neighbouring_seeds():
    assert restart_seeds(7, 1) == [7]
    first, second = restart_seeds(0, 3), restart_seeds(1, 3)
    assert first[0] == 0 and second[0] == 1
    assert not set(first) & set(second)
    assert all(0 <= s < 2**32 for s in first + second)


def test_estimator_clones_and_repr_like_scikit_learn():
    model = MMDC(n_clusters=5, sigma=0.2)
    assert clone(model).get_params()["sigma"] == 0.2
    assert "n_clusters=5" in repr(model)


# --- bad input: each message names the problem -------------------------------
@pytest.mark.parametrize(
    "X,kwargs,error,message",
    [
        (np.full((20, 8, 8), np.nan), {}, ValueError, "Input X contains NaN or infinity"),
        (np.full((20, 8, 8), np.inf), {}, ValueError, "Input X contains NaN or infinity"),
        (np.zeros((5, 8, 8)), {"n_clusters": 10}, ValueError, r"n_samples=5 should be >= n_clusters=10\."),
        (np.zeros((20, 8, 8)), {"n_clusters": 1}, ValueError, "n_clusters=1 should be >= 2"),
        (np.zeros((20, 8, 8)), {"n_clusters": 2.5}, TypeError, "n_clusters should be an int"),
        (np.zeros(64), {}, ValueError, r"should be images of shape \(N, H, W\) or \(N, H, W, C\), got a 1-d array"),
        (np.zeros((20, 64)), {}, ValueError, "got a 2-d array"),
        (np.zeros((0, 8, 8)), {}, ValueError, "X is empty"),
        (np.zeros((20, 8, 8, 2)), {}, ValueError, "1 or 3 channels"),
        (np.array([["a"] * 4] * 4, dtype=object).reshape(1, 4, 4), {}, TypeError, "numeric array"),
        (np.zeros((20, 8, 8)), {"sigma": -1.0}, ValueError, "sigma=-1.0 should be a number >= 0"),
        (np.zeros((20, 8, 8)), {"rotation": "sometimes"}, ValueError, "rotation='sometimes' should be one of"),
        (np.zeros((20, 8, 8)), {"augmentation": "heavy"}, ValueError, "augmentation='heavy' should be"),
        (np.zeros((20, 8, 8)), {"means": "onehot", "embedding_dim": 3, "n_clusters": 4}, ValueError, "needs embedding_dim == n_clusters"),
        (np.zeros((20, 8, 8)), {"device": "tpu"}, ValueError, "device='tpu' is not a device"),
        ([np.zeros((8, 8)), np.zeros((9, 9))], {}, ValueError, "X should hold images of one shape"),
        (np.zeros((20, 3, 8, 8)), {}, ValueError, r"looks like channels first \(N, C, H, W\).*X\.transpose\(0, 2, 3, 1\)"),
        (np.zeros((20, 8, 8)), {"augmentation": ["affine"]}, TypeError, "augmentation should be 'auto'.*got list"),
        (np.zeros((20, 8, 8)), {"verbose": "yes"}, TypeError, "verbose should be a bool or an int, got str"),
    ],
)
def test_bad_input_raises_an_error_that_names_the_problem(X, kwargs, error, message):
    with pytest.raises(error, match=message):
        MMDC(**{"epochs": 1, **kwargs}).fit(X)


def test_verbose_takes_numpy_bools_and_ints(digits_images):
    for verbose in (np.True_, 0):
        assert MMDC(n_clusters=10, verbose=verbose, **{**FAST, "epochs": 1}).fit(digits_images[0]).labels_.shape == (120,)


def test_channels_last_images_with_eight_channels_get_no_channels_first_hint():
    with pytest.raises(ValueError, match=r"got 8 \(shape \(20, 8, 8, 8\)\)\.$"):
        MMDC(epochs=1).fit(np.zeros((20, 8, 8, 8)))


def test_a_failed_refit_leaves_the_earlier_fit_as_it_was(digits_images):
    model = MMDC(n_clusters=10, **FAST).fit(digits_images[0])  # floats 0..16
    fitted = {name: getattr(model, name) for name in ("input_range_", "restarts_", "labels_", "config_")}
    with pytest.raises(ValueError, match="lr=-1.0 should be"):
        model.set_params(lr=-1.0).fit(digits_images[0] / 16)
    with pytest.raises(ValueError, match="training diverged"):
        model.set_params(lr=1e4).fit(digits_images[0] / 16)
    assert model.input_range_ == fitted["input_range_"] == (0.0, 16.0)
    assert model.restarts_ is fitted["restarts_"] and model.labels_ is fitted["labels_"] and model.config_ is fitted["config_"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # still scales 0..16 images as fitted: no warning
        assert np.array_equal(model.predict(digits_images[0]), fitted["labels_"])


def test_the_scale_warning_names_the_callers_line(digits_images):
    model = MMDC(n_clusters=10, **FAST).fit(np.round(digits_images[0] / 16 * 255).astype(np.uint8))
    for method in (model.predict, model.transform):
        with pytest.warns(UserWarning, match="fitted on values spanning 0..255") as caught:
            method(digits_images[0][:5] / 16)
        assert caught[0].filename == __file__, (method.__name__, caught[0].filename)


def test_predict_and_transform_before_fit_raise_not_fitted_error():
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MMDC().predict(np.zeros((3, 8, 8)))
    with pytest.raises(NotFittedError, match="not fitted yet"):
        MMDC().transform(np.zeros((3, 8, 8)))


def test_images_of_another_size_than_fitted_are_rejected(fitted):
    with pytest.raises(ValueError, match=r"X has images of shape \(10, 10, 1\), but MMDC was fitted on images of shape \(8, 8, 1\)"):
        fitted.predict(np.zeros((3, 10, 10)))


def test_float_images_are_rescaled_from_their_own_range(digits_images):
    raw = digits_images[0]  # floats 0..16, as scikit-learn ships them
    as_uint8 = np.round(raw / 16 * 255).astype(np.uint8)
    from_floats = MMDC(n_clusters=10, **FAST).fit(raw)
    from_bytes = MMDC(n_clusters=10, **FAST).fit(as_uint8)
    assert from_floats.input_range_ == (0.0, 16.0)
    assert np.array_equal(from_floats.embedding_, from_bytes.embedding_)


def test_default_epochs_aim_at_about_two_thousand_steps():
    images = np.zeros((640, 8, 8), dtype=np.uint8)
    config = MMDC(n_clusters=10)._resolve_config(torch_images(images), seed=0)
    assert config.epochs == 200 and config.lr_milestones == (160,)  # 10 batches of 64 per epoch


@pytest.mark.parametrize("shape, augmentation, crop", [
    ((8, 8), "auto", 0.95), ((16, 16, 3), "color", 0.95),  # kept at their own side: the clean view is resampled
    ((28, 28), "auto", 1.0), ((12, 16), "affine", 1.0),  # resized to 20 px, or stretched: resampled already
    ((8, 8), "none", 1.0),  # no augmentation: training views are the pixels too
])
def test_images_kept_at_their_own_size_get_a_resampled_clean_view(shape, augmentation, crop):
    images = torch_images(np.zeros((20, *shape), dtype=np.uint8))
    config = MMDC(n_clusters=2, augmentation=augmentation)._resolve_config(images, seed=0)
    assert config.augment.eval_crop == crop


def test_a_given_augmentation_keeps_its_own_clean_view():
    from mmdc_lib.config import AugmentConfig

    images = torch_images(np.zeros((20, 8, 8), dtype=np.uint8))
    given = AugmentConfig(translate=0.1)
    assert MMDC(n_clusters=2, augmentation=given)._resolve_config(images, seed=0).augment.eval_crop == 1.0
    assert MMDC(n_clusters=2, input_size=12)._resolve_config(images, seed=0).augment.eval_crop == 1.0  # upscaled


@pytest.mark.parametrize("side", [8, 28])
def test_an_input_size_given_equal_to_the_image_side_gets_the_resampled_clean_view_too(side):
    images = torch_images(np.zeros((20, side, side), dtype=np.uint8))
    assert MMDC(n_clusters=2, input_size=side)._resolve_config(images, seed=0).augment.eval_crop == 0.95


def torch_images(images):
    from mmdc_lib.estimator import images_to_uint8_nchw

    return images_to_uint8_nchw(images)[0]


# --- robustness ------------------------------------------------------------------
import pickle
import warnings


def test_numpy_integers_and_floats_are_accepted_where_python_numbers_are(digits_images):
    images, labels = digits_images
    model = MMDC(n_clusters=labels.max() + 1, epochs=np.int64(1), batch_size=np.int64(32), n_init=np.int64(1),
                 lr=np.float32(0.05), seed=np.int64(3), device="cpu").fit(images)
    assert model.labels_.shape == (120,) and type(model.config_.n_clusters) is int
    as_numpy = MMDC(n_clusters=np.int64(10), epochs=np.int64(5))._resolve_config(torch_images(images), seed=np.int64(0))
    as_python = MMDC(n_clusters=10, epochs=5)._resolve_config(torch_images(images), seed=0)
    assert as_numpy == as_python and as_numpy.lr_milestones == (4,)


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"seed": None}, TypeError, "seed should be an int"),
        ({"seed": "0"}, TypeError, "seed should be an int"),
        ({"seed": 0.5}, TypeError, "seed should be an int"),
        ({"seed": -1}, ValueError, r"seed=-1 should be in \[0, 2\*\*32\)"),
        ({"n_init": 0}, ValueError, "n_init=0 should be >= 1"),
        ({"n_init": "three"}, ValueError, "n_init='three' should be 'auto' or an int >= 1"),
        ({"n_init": 2.0}, TypeError, "n_init should be an int"),
        ({"combine": "mean"}, ValueError, "combine='mean' should be one of 'best', 'ensemble'"),
        ({"combine": "ensemble", "n_init": 1}, ValueError, r"combine='ensemble' needs n_init >= 2 \(or 'auto'\), got n_init=1"),
        ({"batch_size": 2.0}, TypeError, "batch_size should be an int"),
        ({"weight_decay": -1.0}, ValueError, "weight_decay=-1.0 should be"),
        ({"refine_epoch": 1}, ValueError, "refine_epoch=1 should be < epochs=1"),
        ({"refine_epoch": "late"}, ValueError, "refine_epoch='late' should be 'auto', None or an int >= 0"),
        ({"warmup_epochs": 1}, ValueError, r"warmup_epochs=1 should be < epochs=1 \(no epoch would cluster\)"),
        ({"warmup_epochs": -1}, ValueError, "warmup_epochs=-1 should be >= 0"),
        ({"warmup_epochs": 0.5}, TypeError, "warmup_epochs should be an int"),
        ({"network": "vgg"}, ValueError, "network='vgg' halves the image four times and needs input_size >= 16, got 8"),
        ({"augmentation": __import__("mmdc_lib").AugmentConfig(grayscale_p=-0.1)}, ValueError, "grayscale_p=-0.1"),
    ],
)
def test_bad_settings_are_named_before_training(kwargs, error, message):
    with pytest.raises(error, match=message):
        MMDC(n_clusters=3, epochs=1, device="cpu", **kwargs).fit(np.zeros((20, 8, 8), dtype=np.uint8))


def test_the_largest_seed_works_with_refinement_and_restarts(digits_images):
    model = MMDC(n_clusters=10, seed=2**32 - 1, refine_epoch=1, **{**FAST, "n_init": 2}).fit(digits_images[0])
    assert model.labels_.shape == (120,)


def test_fit_does_not_reseed_the_callers_global_torch_rng(digits_images):
    torch.manual_seed(5)
    expected = torch.rand(4)
    torch.manual_seed(5)
    MMDC(n_clusters=10, **FAST).fit(digits_images[0])
    assert torch.equal(torch.rand(4), expected)


def test_divergence_is_a_clear_error_not_nan_labels(digits_images):
    with pytest.raises(ValueError, match=r"training diverged in epoch 1.*lower learning rate than lr=10000"):
        MMDC(n_clusters=10, lr=1e4, **FAST).fit(digits_images[0])


def test_predict_on_data_scaled_unlike_fit_warns_naming_both_ranges(digits_images):
    as_uint8 = np.round(digits_images[0] / 16 * 255).astype(np.uint8)
    model = MMDC(n_clusters=10, **FAST).fit(as_uint8)
    with pytest.warns(UserWarning, match=r"X's values span 0\.\.1, but MMDC was fitted on values spanning 0\.\.255"):
        model.predict(as_uint8 / 255.0)
    floats = MMDC(n_clusters=10, **FAST).fit(digits_images[0])  # floats 0..16
    with pytest.warns(UserWarning, match=r"span 0\.\.255, but MMDC was fitted on values spanning 0\.\.16"):
        floats.transform(digits_images[0] * 255 / 16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict(as_uint8[:10])  # same scale: no warning
        floats.predict(digits_images[0][:10])
        floats.predict(as_uint8[:10])  # uint8 is taken as 0..255 pixels, the range fit scaled to


def test_pickled_model_predicts_the_same_labels(fitted, digits_images):
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.predict(digits_images[0]), fitted.labels_)
    assert next(restored._models[0].parameters()).device.type == "cpu"


def test_a_model_pickled_with_one_network_attribute_still_predicts(fitted, digits_images):
    state = fitted.__getstate__()
    state["_model"] = state.pop("_models")[0]  # as pickled before combine="ensemble" existed
    del state["combine"]
    restored = MMDC.__new__(MMDC)
    restored.__setstate__(state)
    assert np.array_equal(restored.predict(digits_images[0]), fitted.labels_)
    assert restored.get_params()["combine"] == "best" and "MMDC(" in repr(restored)


def test_dark_blank_and_low_contrast_images_do_not_warn(digits_images):
    as_uint8 = np.round(digits_images[0] / 16 * 255).astype(np.uint8)
    model = MMDC(n_clusters=10, **FAST).fit(as_uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.predict((as_uint8[:1] / 12).astype(np.uint8))  # one dark image, values 0..21
        model.predict(np.zeros((1, 8, 8), dtype=np.uint8))  # a blank image
        model.predict(np.full((2, 8, 8), 120.0) + np.eye(8) * 10)  # low contrast floats, in range


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_a_model_whose_device_is_missing_here_predicts_on_the_cpu_with_a_warning(fitted, digits_images):
    restored = pickle.loads(pickle.dumps(fitted)).set_params(device="cuda")  # as if fitted with device="cuda" on Colab
    with pytest.warns(UserWarning, match="device='cuda' is not available here; computing on the CPU") as caught:
        labels = restored.predict(digits_images[0])
    assert np.array_equal(labels, fitted.labels_)
    assert caught[0].filename == __file__  # the caller's line


def test_the_estimator_with_fifteen_epochs_and_no_refinement_trains_the_fashion_mnist_preset():
    # benchmarks/fashion_mnist.py spells out MMDC(epochs=15, refine_epoch=None, n_init=N, augmentation=<the preset's>)
    from mmdc_lib.config import preset

    images = torch.zeros((70, 1, 28, 28), dtype=torch.uint8)
    augment = preset("fashion-mnist").augment  # no brightness/contrast jitter, unlike the estimator's grayscale default
    resolved = MMDC(n_clusters=10, epochs=15, refine_epoch=None, augmentation=augment)._resolve_config(images, seed=5)
    expected = preset("fashion-mnist")
    expected.seed = 5
    assert resolved.to_dict() == expected.validate().to_dict()
    # and its --set epochs=8 --set 'lr_milestones=[6]' --combine ensemble runs are MMDC(epochs=8, ...) resolved
    short = MMDC(n_clusters=10, epochs=8, refine_epoch=None, combine="ensemble",
                 augmentation=augment)._resolve_config(images, seed=5)
    expected.epochs, expected.lr_milestones = 8, (6,)
    assert short.to_dict() == expected.validate().to_dict()
