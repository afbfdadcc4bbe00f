"""``MMDC``: a scikit-learn-style estimator around the trainer, for any small image set."""
from __future__ import annotations

import copy
import math
import numbers
import warnings
from dataclasses import dataclass
from typing import Optional, Sequence, Union

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClusterMixin, TransformerMixin
from sklearn.cluster import KMeans
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from .config import AugmentConfig, MMDCConfig, check_int, check_seed
from .targets import nearest_mean
from .train import Trainer, embed_images, resolve_device

# Optimisation steps of a default fit (benchmarks/estimator_defaults.py measures it; the digits preset
# takes 80 epochs x 29 batches of 64 = 2,320): on small data sets count steps, not epochs.
TARGET_STEPS = 2000
# The defaults below were chosen with labels, on small sets of our own making (benchmarks/small_sets.py; never on a
# reader's data), in two studies of 2026-11-29 (benchmarks/results/small_sets_refinement_study.md):
# refine_epoch="auto": k-means refinement (the authors' last stage) over the last quarter of the epochs, from just
# before the learning rate drops. The authors refine the last eighth (ResNet presets, 350 of 400) or from 20 of 50
# (MNIST). From 75%: digits 0/1 1.000 on 3 of 3 seeds (0.984 without); from half-way one seed of 3 failed (0.508).
AUTO_REFINE_FRACTION = 0.75
# n_init="auto": restarts for data sets of at most this many images, one above it. The kept restart: the lowest fit
# score (no labels) among the balanced restarts, those whose every cluster holds at least BALANCED_SHARE of n/k
# images; among all when none is (e.g. truly unequal classes). The fit score flags a split: on digits 0/1 the one
# restart of nine that ended at ACC 0.506 had a fit score 30x its seed's others. It does not flag a collapse, whose
# few crowded clusters fit their targets tightly: on fashion tops the lowest fit score of seed 0 belonged to a
# restart with clusters of 494, 383 and 23 images and ACC 0.367 (restart_trajectories_fashion-tops.md). MMDC's
# targets are equal-sized, so a run far from equal sizes has left the method's own prior; half was set from that
# argument, not searched (section 3 of small_sets_refinement_study.md).
AUTO_RESTARTS, AUTO_RESTARTS_MAX_IMAGES = 3, 5000
BALANCED_SHARE = 0.5
# combine="ensemble" (ours): k-means on every restart's embeddings side by side instead of keeping one restart. On
# Fashion-MNIST (70,000 images, three 8-epoch trainings a seed) it scored 0.714 over seeds 0-4 where the fit rule
# kept 0.679 (benchmarks/results/restart_ensembles_fashion-mnist_epochs-8.md; chosen looking at ACC on seeds 0-2
# and on the 2026-11-29 machine's trainings, restart_ensembles_fashion-mnist.md);
# run by benchmarks/fashion_mnist.py --combine ensemble: 0.717 on seeds 0-2 and 0.711 on seeds 5-7, which chose
# nothing, against 0.686 and 0.698 for the fit rule (fashion_mnist_n-init-3_epochs-8_lr_milestones-6_combine-ensemble.md).
# On the eight small sets (small_sets_combine-ensemble.md, 2026-12-01) +0.014 over the fit rule on average, ahead on
# 6, behind on tinted digits; not the default: neither rule reached k-means on fashion tops on that machine (both
# before the grayscale jitter below, which the fit rule's defaults then needed there: results/small_sets.md).
COMBINE_RESTARTS = ("best", "ensemble")

# "affine" (grayscale) jitters brightness and contrast by 0.2 (2026-12-01; "color" by 0.4). Without it MMDC can
# split a grayscale set by how dark the images are: on fashion tops (T-shirt/top, Pullover, Shirt) one training
# scored ACC 0.453 over seeds 0-5 with NMI under 0.08 on four of six (clusters unrelated to the garments), with a
# jitter of 0.4 0.637 (NMI 0.23-0.40; k-means on pixels 0.547). But 0.4 hid the ink of 8x8 digits: the defaults
# fell to 0.940 on digits 0/1 (results/small_sets_jitter-0.4.md), one training 0.884 over seeds 0-7 where 0.2
# gave 0.972 (no jitter 0.881, with two collapses the restart rule drops). Screens of one training a seed
# (results/jitter_screen.md; fashion tops was not screened at 0.2), labels looked at, our own sets;
# benchmarks/small_sets.py checks the defaults (results/small_sets.md: at least k-means on all ten sets, fashion
# tops 0.641 against 0.547).
# On 10,000 Fashion-MNIST images a jitter of 0.4 tied the fashion-mnist preset (0.679 against 0.677,
# fashion_settle_10000_invariance_summary.md), which keeps none.
GRAYSCALE_JITTER = 0.2
AUGMENTATIONS = {
    "affine": AugmentConfig(crop_scale=(0.8, 1.2), translate=0.2, rotation_degrees=25.0,
                           color_jitter=(GRAYSCALE_JITTER, GRAYSCALE_JITTER, 0.0, 0.0)),
    "color": AugmentConfig(
        crop_scale=(0.7, 1.0), translate=0.1, rotation_degrees=10.0, hflip=True,
        color_jitter=(0.4, 0.4, 0.4, 0.1), grayscale_p=0.2,
    ),
    "none": AugmentConfig(),
}
# With input_size the images' own side, eval_crop=1 would make the clean view (the Hungarian step's input) the
# pixels themselves, while every augmented view is resampled; a centre crop of 0.95 resamples it too. From the
# digits preset (benchmarks/results/digits_study_clean_view*.md); for the named augmentations other than "none".
NATIVE_SIZE_EVAL_CROP = 0.95
# input_size=None: the images' shorter side, clipped to this range (small networks; a CPU-sized step).
INPUT_SIZE_RANGE = (8, 20)


def default_input_size(height: int, width: int) -> int:
    """The side ``MMDC(input_size=None)`` trains at: the images' shorter side, clipped to ``INPUT_SIZE_RANGE``."""
    low, high = INPUT_SIZE_RANGE
    return min(max(min(height, width), low), high)


def images_to_uint8_nchw(X, input_range: Optional[tuple[float, float]] = None) -> tuple[torch.Tensor, tuple[float, float]]:
    """Validate an image array and return it as a uint8 tensor (N, C, H, W) plus its value range.

    X: (N, H, W) or (N, H, W, C) with C in {1, 3}; uint8 is used as is, any
    other real dtype is scaled linearly from ``input_range`` (default: its own
    min and max) to 0..255.
    """
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu().numpy()
    try:
        X = np.asarray(X)
    except ValueError:  # numpy's "inhomogeneous shape": a list of images of different sizes
        raise ValueError("X should hold images of one shape, got a sequence of differently shaped arrays; "
                         "resize them to one size first (e.g. load_image_folder(..., image_size=S)).") from None
    if X.dtype == object or not (np.issubdtype(X.dtype, np.integer) or np.issubdtype(X.dtype, np.floating)) or X.dtype == bool:
        raise TypeError(f"X should be a numeric array of images (uint8 or float), got dtype {X.dtype}.")
    if X.ndim not in (3, 4):
        raise ValueError(
            f"X should be images of shape (N, H, W) or (N, H, W, C), got a {X.ndim}-d array of shape {X.shape}."
        )
    if X.shape[0] == 0:
        raise ValueError(f"X is empty: found array with 0 images (shape {X.shape}).")
    if X.ndim == 3:
        X = X[..., None]
    if X.shape[3] not in (1, 3):
        hint = ("; this looks like channels first (N, C, H, W), as PyTorch stores images: pass "
                "X.transpose(0, 2, 3, 1)" if X.shape[1] in (1, 3) else "")
        raise ValueError(f"images should have 1 or 3 channels (last axis), got {X.shape[3]} (shape {X.shape}){hint}.")
    if min(X.shape[1:3]) < 2:
        raise ValueError(f"images should be at least 2x2 pixels, got {X.shape[1]}x{X.shape[2]}.")
    if X.dtype == np.uint8:
        scaled, value_range = X, (0.0, 255.0)
    else:
        X = X.astype(np.float64)
        if not np.isfinite(X).all():
            raise ValueError("Input X contains NaN or infinity.")
        value_range = input_range if input_range is not None else (float(X.min()), float(X.max()))
        low, high = value_range
        scaled = np.round(np.clip((X - low) / max(high - low, 1e-12), 0, 1) * 255).astype(np.uint8)
    return torch.from_numpy(np.ascontiguousarray(scaled.transpose(0, 3, 1, 2))), value_range


def restart_seeds(seed: int, n_init: int) -> list[int]:
    """The seed of each of ``n_init`` restarts: ``seed`` itself first, then seeds drawn from it.

    Drawn (numpy's SeedSequence of (seed, restart)), not seed + 1, seed + 2, ...: two fits with
    neighbouring seeds then share no restart, so their results stay independent.
    """
    return [seed] + [int(np.random.SeedSequence((seed, restart)).generate_state(1)[0]) for restart in range(1, n_init)]


def auto_refine_epoch(epochs: int) -> Optional[int]:
    """The first refining epoch of ``refine_epoch="auto"``: 75% of the way (None when that leaves no epoch to refine)."""
    refine_epoch = round(AUTO_REFINE_FRACTION * epochs)
    return refine_epoch if 1 <= refine_epoch < epochs else None


def is_balanced(cluster_sizes: Sequence[int]) -> bool:
    """Every cluster holds at least ``BALANCED_SHARE`` of its equal share: cluster_sizes (k,) counts images, n in all."""
    sizes = np.asarray(cluster_sizes)
    if sizes.ndim != 1 or sizes.size == 0 or (sizes < 0).any():
        raise ValueError(f"cluster_sizes should be a non-empty list of counts >= 0, got {cluster_sizes!r}.")
    return bool(sizes.min() >= BALANCED_SHARE * sizes.sum() / sizes.size)


def kept_restart(fit_scores: Sequence[float], cluster_sizes: Sequence[Sequence[int]]) -> int:
    """Index of the restart that ``MMDC.fit`` keeps: the lowest fit score among the balanced restarts
    (:func:`is_balanced`), or among all of them when none is; the first of equals. No labels are used.

    A balanced restart is kept even when an unbalanced one fits better: on truly unequal classes a reader
    who wants the best fit alone sets ``n_init=1`` and compares ``fit_score_`` across seeds.
    """
    if len(fit_scores) == 0 or len(fit_scores) != len(cluster_sizes):
        raise ValueError(f"kept_restart needs one fit score per restart and at least one restart, got "
                         f"{len(fit_scores)} fit scores and {len(cluster_sizes)} lists of cluster sizes.")
    balanced = [i for i, sizes in enumerate(cluster_sizes) if is_balanced(sizes)]
    return min(balanced or range(len(fit_scores)), key=lambda i: fit_scores[i])


def ensemble_of_embeddings(embeddings: Sequence[np.ndarray], n_clusters: int, seed: int) -> KMeans:
    """k-means (10 starts, ``random_state=seed``) on several trainings' embeddings side by side, as
    ``MMDC(combine="ensemble")`` clusters its restarts: R arrays (N, d) -> a fitted KMeans, its ``labels_`` (N,)
    and ``cluster_centers_`` (k, R*d). No labels are used.
    """
    return KMeans(n_clusters, n_init=10, random_state=seed).fit(np.concatenate(embeddings, axis=1))


@dataclass
class CombinedRestarts:
    """How several trainings of one run were combined (:func:`combine_restarts`)."""
    kept: list[int]  # indices of the trainings kept: the one of the fit rule, or all of them in an ensemble
    records: list[dict]  # one per training: seed, fit_score, cluster_sizes, balanced, kept
    labels: Optional[np.ndarray] = None  # ensemble: k-means' clusters (N,) int64; best: None (the kept one's own)
    centers: Optional[np.ndarray] = None  # ensemble: k-means' centres (k, R*d) float32
    fit_score: Optional[float] = None  # ensemble: mean squared distance to them (not comparable with one training's)


def combine_restarts(seeds: Sequence[int], fit_scores: Sequence[float], cluster_sizes: Sequence[Sequence[int]],
                     combine: str, embeddings: Optional[Sequence[np.ndarray]] = None, n_clusters: int = 0,
                     seed: int = 0) -> CombinedRestarts:
    """Combine R trainings as ``MMDC(n_init=R, combine=...)`` and ``train --n-init R --combine ...`` do, without
    labels: ``"best"`` keeps :func:`kept_restart`'s; ``"ensemble"`` keeps all and clusters their ``embeddings``
    (R arrays (N, d)) side by side (:func:`ensemble_of_embeddings` with ``n_clusters`` and the run's ``seed``)."""
    if combine not in COMBINE_RESTARTS:
        raise ValueError(f"combine={combine!r} should be one of {', '.join(map(repr, COMBINE_RESTARTS))}.")
    combined = CombinedRestarts(kept=list(range(len(seeds))) if combine == "ensemble" else
                                [kept_restart(fit_scores, cluster_sizes)], records=[])
    combined.records = [{"seed": int(restart_seed), "fit_score": float(fit), "cluster_sizes": list(map(int, sizes)),
                         "balanced": is_balanced(sizes), "kept": index in combined.kept}
                        for index, (restart_seed, fit, sizes) in enumerate(zip(seeds, fit_scores, cluster_sizes))]
    if combine == "ensemble":
        kmeans = ensemble_of_embeddings(embeddings, n_clusters, seed)
        combined.labels, combined.centers = kmeans.labels_.astype(np.int64), kmeans.cluster_centers_.astype(np.float32)
        combined.fit_score = float(kmeans.inertia_ / len(kmeans.labels_))
    return combined


def _image_shape(images: torch.Tensor) -> tuple[int, int, int]:
    """(H, W, C) of a uint8 batch (N, C, H, W)."""
    return (images.shape[2], images.shape[3], images.shape[1])


class MMDC(ClusterMixin, TransformerMixin, BaseEstimator, auto_wrap_output_keys=None):
    """Multi-Modal Deep Clustering (Shiran & Weinshall, ICPR 2020) as a scikit-learn estimator.

    Parameters mirror :class:`mmdc_lib.config.MMDCConfig`; ``None`` means
    "choose from the data": ``input_size`` the image side, clipped to 8..20,
    ``epochs`` so that training takes about 2,000 optimisation steps
    (at least 5 epochs), with the learning rate cut ten-fold at 80%,
    ``augmentation="auto"`` affine + brightness/contrast jitter for grayscale ("affine"), affine + colour
    jitter + random grayscale for RGB ("color"); with ``"auto"``, ``"affine"`` or
    ``"color"``, square images trained at their own side (``input_size`` chosen or given equal to it) get a
    centre crop of 0.95 (``mmdc_lib.estimator.NATIVE_SIZE_EVAL_CROP``) as their clean view, so that it is
    resampled like every augmented view; an ``AugmentConfig`` is used as given, its ``eval_crop`` included
    (pass one to keep the pixels themselves as the clean view),
    ``refine_epoch="auto"`` k-means refinement for the last quarter of the epochs (``None``: none).
    ``warmup_epochs`` (ours, default 0) epochs of the rotation task alone before the clustering starts; they
    count in ``epochs``, and the learning-rate cut and the refinement are placed in the epochs after them
    (with ``epochs=None`` the warm-up comes on top of the chosen schedule; a ``refine_epoch`` given as an int
    is an epoch number, not moved).
    ``n_init`` trains that many models (seeds from :func:`restart_seeds`) and keeps
    the one whose clean embeddings lie closest to their targets among those whose
    clusters are all at least half their equal share (:func:`kept_restart`; no labels
    are used); ``"auto"`` (the default): 3 for at most 5,000 images, else 1 (always 3 with ``combine="ensemble"``,
    which needs at least 2).
    ``combine`` (ours): ``"best"`` (the default) keeps that one restart; ``"ensemble"`` keeps every restart and
    clusters their embeddings side by side with k-means (:func:`ensemble_of_embeddings`): ``transform`` then
    gives (N, n_init * d), ``cluster_centers_`` are the k-means centres (k, n_init * d), ``fit_score_`` is the
    mean squared distance to them (not comparable with one training's), ``restarts_`` marks every restart
    kept, and ``history_`` and ``config_`` are the first restart's (seed ``seed``).

    Attributes after ``fit``: ``labels_`` (N,), ``cluster_centers_`` (k, d),
    ``embedding_`` (N, d), ``fit_score_``, ``history_``, ``config_``, ``n_iter_``, ``n_init_``, ``device_``,
    ``restarts_`` (one dict per restart: its ``seed``, ``fit_score``, ``cluster_sizes``, ``balanced``, ``kept``),
    ``input_range_`` (the value range of the fitted X, scaled to 0..255; ``transform`` and ``predict`` scale
    new images the same way) and ``image_shape_`` ((H, W, C) of the fitted images).
    """

    def __init__(
        self,
        n_clusters: int = 10,
        *,
        embedding_dim: Optional[int] = None,
        sigma: float = 0.0,
        means: str = "auto",
        network: str = "small",
        input_size: Optional[int] = None,
        epochs: Optional[int] = None,
        batch_size: int = 64,
        lr: float = 0.05,
        weight_decay: float = 5e-4,
        rotation: str = "joint",
        rotation_weight: float = 0.5,
        warmup_epochs: int = 0,
        refine_epoch: Union[int, str, None] = "auto",
        augmentation: Union[str, AugmentConfig] = "auto",
        n_init: Union[int, str] = "auto",
        combine: str = "best",
        device: str = "auto",
        seed: int = 0,
        verbose: bool = False,
    ):
        self.n_clusters = n_clusters
        self.embedding_dim = embedding_dim
        self.sigma = sigma
        self.means = means
        self.network = network
        self.input_size = input_size
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.rotation = rotation
        self.rotation_weight = rotation_weight
        self.warmup_epochs = warmup_epochs
        self.refine_epoch = refine_epoch
        self.augmentation = augmentation
        self.n_init = n_init
        self.combine = combine
        self.device = device
        self.seed = seed
        self.verbose = verbose

    def _resolve_config(self, images: torch.Tensor, seed: int) -> MMDCConfig:
        n_samples, channels, height, width = images.shape
        if isinstance(self.augmentation, AugmentConfig):
            augment = copy.deepcopy(self.augmentation)  # validate() normalises in place: never the caller's object
        elif not isinstance(self.augmentation, str):
            raise TypeError(f"augmentation should be 'auto', {', '.join(map(repr, AUGMENTATIONS))} or an AugmentConfig, "
                            f"got {type(self.augmentation).__name__} {self.augmentation!r}.")
        elif self.augmentation == "auto":
            augment = copy.deepcopy(AUGMENTATIONS["affine" if channels == 1 else "color"])
        elif self.augmentation in AUGMENTATIONS:
            augment = copy.deepcopy(AUGMENTATIONS[self.augmentation])
        else:
            raise ValueError(f"augmentation={self.augmentation!r} should be 'auto', {', '.join(map(repr, AUGMENTATIONS))} or an AugmentConfig.")
        batch_size = check_int("batch_size", self.batch_size, minimum=2)
        steps_per_epoch = math.ceil(n_samples / batch_size)
        warmup = check_int("warmup_epochs", self.warmup_epochs, minimum=0)
        epochs = self.epochs if self.epochs is not None else warmup + max(5, math.ceil(TARGET_STEPS / steps_per_epoch))
        epochs_are_int = isinstance(epochs, numbers.Integral) and not isinstance(epochs, bool)  # else validate() names it
        input_size = self.input_size if self.input_size is not None else default_input_size(height, width)
        # The schedule of the clustering epochs, those after the warm-up: lr x0.1 at 80% of them, refinement from 75%.
        refine_epoch = self.refine_epoch
        if isinstance(refine_epoch, str):
            if refine_epoch != "auto":
                raise ValueError(f"refine_epoch={refine_epoch!r} should be 'auto', None or an int >= 0.")
            auto = auto_refine_epoch(check_int("epochs", epochs, minimum=1) - warmup)
            refine_epoch = None if auto is None else warmup + auto
        config = MMDCConfig(
            n_clusters=self.n_clusters, embedding_dim=self.embedding_dim, sigma=self.sigma, means=self.means,
            network=self.network, input_size=input_size, epochs=epochs,
            batch_size=batch_size, lr=self.lr, weight_decay=self.weight_decay,
            lr_milestones=(warmup + max(1, round(0.8 * (epochs - warmup))),) if epochs_are_int else (),
            rotation=self.rotation, rotation_weight=self.rotation_weight, warmup_epochs=warmup,
            refine_epoch=refine_epoch, augment=augment, seed=seed,
        ).validate()
        if not isinstance(self.augmentation, AugmentConfig) and self.augmentation != "none" and height == width == config.input_size:
            config.augment.eval_crop = NATIVE_SIZE_EVAL_CROP  # a named augmentation's copy, never the caller's object
        return config

    def fit(self, X, y=None) -> "MMDC":
        """Train on images X ((N, H, W) or (N, H, W, C)); ``y`` is ignored (unsupervised).

        The fitted attributes are set together at the end: a fit that fails (bad input or settings, a
        diverged training, an interruption) leaves an earlier fit's attributes as they were.
        """
        MMDCConfig(n_clusters=self.n_clusters).validate()  # names a bad n_clusters before anything else
        if not isinstance(self.verbose, (bool, np.bool_, numbers.Integral)):
            raise TypeError(f"verbose should be a bool or an int, got {type(self.verbose).__name__} {self.verbose!r}.")
        images, input_range = images_to_uint8_nchw(X)
        if images.shape[0] < self.n_clusters:
            raise ValueError(f"n_samples={images.shape[0]} should be >= n_clusters={self.n_clusters}.")
        if self.combine not in COMBINE_RESTARTS:
            raise ValueError(f"combine={self.combine!r} should be one of {', '.join(map(repr, COMBINE_RESTARTS))}.")
        ensemble = self.combine == "ensemble"
        n_init = self._n_restarts(images.shape[0], ensemble)
        if ensemble and n_init < 2:
            raise ValueError(f"combine='ensemble' needs n_init >= 2 (or 'auto'), got n_init={n_init}.")
        seed = check_seed(self.seed)
        seeds = restart_seeds(seed, n_init)
        runs, fits, sizes = {}, [], []
        for i, restart_seed in enumerate(seeds):
            config = self._resolve_config(images, seed=restart_seed)
            result = Trainer(config, images, device=self.device, progress=bool(self.verbose)).fit()
            fits.append(result.fit_score)
            sizes.append(np.bincount(result.labels, minlength=self.n_clusters).tolist())
            runs[i] = (config, result)
            if not ensemble:  # only the best balanced restart so far and the lowest fit so far can still be kept
                candidates = {kept_restart(fits, sizes), int(np.argmin(fits))}
                runs = {j: run for j, run in runs.items() if j in candidates}
        parts = [runs[i][1].embeddings.numpy() for i in runs] if ensemble else None
        combined = combine_restarts(seeds, fits, sizes, self.combine, parts, self.n_clusters, seed)
        self.config_, result = runs[combined.kept[0]]
        if ensemble:
            embedding = np.concatenate(parts, axis=1)
            centers, labels, fit_score = combined.centers, combined.labels, combined.fit_score
        else:
            embedding, centers = result.embeddings.numpy(), result.means.numpy()
            labels, fit_score = result.labels, result.fit_score
        self.input_range_ = input_range
        self.restarts_ = combined.records
        self._models = [runs[i][1].model.eval() for i in combined.kept]
        self.device_ = resolve_device(self.device)  # where it was fitted
        self.image_shape_ = _image_shape(images)
        self.cluster_centers_ = centers
        self.embedding_ = embedding
        self.labels_ = labels
        self.fit_score_ = fit_score
        self.history_ = result.history
        self.n_iter_ = self.config_.epochs
        self.n_init_ = n_init  # restarts trained (n_init="auto" resolved)
        return self

    def _n_restarts(self, n_samples: int, ensemble: bool = False) -> int:
        if isinstance(self.n_init, str):
            if self.n_init != "auto":
                raise ValueError(f"n_init={self.n_init!r} should be 'auto' or an int >= 1.")
            return AUTO_RESTARTS if ensemble or n_samples <= AUTO_RESTARTS_MAX_IMAGES else 1
        return check_int("n_init", self.n_init, minimum=1)

    def _images_like_fit(self, X) -> torch.Tensor:
        check_is_fitted(self, "cluster_centers_")
        images, _ = images_to_uint8_nchw(X, self.input_range_)
        shape = _image_shape(images)
        if shape != self.image_shape_:
            raise ValueError(f"X has images of shape {shape}, but MMDC was fitted on images of shape {self.image_shape_}.")
        self._warn_if_scaled_differently(X)
        return images

    # The warnings name the line of the caller's code that called transform or predict: both call _embed, which
    # calls _images_like_fit, which calls _warn_if_scaled_differently (transform is not wrapped by scikit-learn's
    # set_output: auto_wrap_output_keys=None in the class statement).
    _CALLER = 5

    def _warn_if_scaled_differently(self, X) -> None:
        """UserWarning when X's value range lies mostly outside the fitted range, or entirely in its bottom 2%.

        Images scaled unlike the fitted ones (floats 0..1 after fitting on uint8 0..255, say) would
        otherwise come out nearly black or white and land in one cluster without a word. uint8 X is
        compared with 0..255, the range it is used in. Dark or low-contrast images do not warn, nor
        does a blank one (a single value).
        """
        values = X.detach().cpu().numpy() if isinstance(X, torch.Tensor) else np.asarray(X)
        low, high = (0.0, 255.0) if values.dtype == np.uint8 else self.input_range_
        span = max(high - low, 1e-12)
        smallest, largest = float(values.min()), float(values.max())
        inside = max(0.0, min(high, largest) - max(low, smallest))  # length of X's range within the fitted one
        mostly_outside = largest - smallest - inside > 0.5 * (largest - smallest)
        scaled_down = smallest < largest <= low + 0.02 * span
        if mostly_outside or scaled_down:
            warnings.warn(
                f"X's values span {smallest:g}..{largest:g}, but MMDC was fitted on values spanning {low:g}..{high:g}: "
                "scale X as the images given to fit, or most images may fall into one cluster.",
                UserWarning, stacklevel=self._CALLER,
            )

    def transform(self, X) -> np.ndarray:
        """Unit-norm embeddings of the clean views, (N, d) float32, computed on ``device``; with
        ``combine="ensemble"`` every kept restart's side by side, (N, n_init * d)."""
        return self._embed(X)

    def _embed(self, X) -> np.ndarray:
        images = self._images_like_fit(X)
        try:
            device = resolve_device(self.device)
        except ValueError:  # e.g. fitted with device="cuda" on Colab, unpickled on a laptop
            warnings.warn(f"device={self.device!r} is not available here; computing on the CPU.", UserWarning,
                          stacklevel=self._CALLER - 2)
            device = torch.device("cpu")
        config = self.config_  # the restarts differ only in their seed
        return np.concatenate([embed_images(model.to(device), images, config.input_size, config.augment.eval_crop,
                                            whole_pixel=config.augment.authors_pipeline,
                                            precision=config.precision).cpu().numpy() for model in self._models], axis=1)

    def predict(self, X) -> np.ndarray:
        """Cluster of each image: the nearest mixture mean to its embedding (with ``combine="ensemble"`` the
        nearest k-means centre: ``labels_`` on the training images, up to float rounding at near-ties), (N,) int64."""
        embeddings = torch.from_numpy(self._embed(X))
        return nearest_mean(embeddings, torch.from_numpy(self.cluster_centers_)).numpy()

    def fit_predict(self, X, y=None) -> np.ndarray:
        """``fit(X)``, then the cluster of each training image: ``labels_``, (N,) int64."""
        return self.fit(X).labels_

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "cluster_centers_")

    def __getstate__(self) -> dict:
        """Pickle the fitted network on the CPU: a model fitted on a GPU (Colab) unpickles on a CPU-only machine.

        The network moves to the CPU in place (no copy on the GPU); ``transform`` moves it back to ``device``.
        """
        state = super().__getstate__()
        if "_models" in state:
            state["_models"] = [model.cpu() for model in self._models]
        return state

    def __setstate__(self, state: dict) -> None:
        if "_model" in state:  # pickled before combine="ensemble" existed: one network, no combine parameter
            state["_models"] = [state.pop("_model")]
            state.setdefault("combine", "best")
        super().__setstate__(state)


__all__ = ["MMDC", "CombinedRestarts", "NotFittedError", "auto_refine_epoch", "combine_restarts", "ensemble_of_embeddings",
           "images_to_uint8_nchw", "is_balanced", "kept_restart", "restart_seeds"]
