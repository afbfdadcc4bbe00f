"""How faithful the published presets are: every setting beside the authors' value, and every difference.

The authors' code is guysrn/mmdc at commit 9cd5eb0 (read, never copied): the README's commands, the
defaults of ``main.py``, ``mmdc.py`` (training loop, optimiser, loss, refinement), ``architectures/``
and ``data_handling/transforms.py``. ``fidelity_markdown()`` prints the table that the README and
chapter 6 show; ``tests/test_fidelity.py`` checks every row against ``config.preset``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from .config import MMDCConfig, preset
from .train import KMEANS_N_INIT

AUTHORS_CODE = "guysrn/mmdc at 9cd5eb0"
PUBLISHED_PRESETS = ("mnist", "cifar10", "cifar100-20", "stl10")


def _each(mnist: Any, resnet: Any, **exceptions: Any) -> dict[str, Any]:
    values = {"mnist": mnist, "cifar10": resnet, "cifar100-20": resnet, "stl10": resnet}
    values.update({name.replace("_", "-"): value for name, value in exceptions.items()})
    return values


@dataclass(frozen=True)
class Setting:
    name: str
    ours: Callable[[MMDCConfig], Any]
    authors: dict[str, Any]  # preset -> the authors' value, in our units
    where: str  # where the authors' value is set


SETTINGS = (
    Setting("clusters k", lambda c: c.n_clusters, _each(10, 10, cifar100_20=20), "README commands, --k"),
    Setting("embedding dimension d", lambda c: c.dim, _each(10, 10, cifar100_20=20), "main.py --gmm_dim (default: k)"),
    Setting("mixture means", lambda c: "one-hot" if c.means in ("auto", "onehot") and c.dim == c.n_clusters else c.means,
            _each("one-hot", "one-hot"), "main.py --gmm_means one_hot; utils/gmm.py"),
    Setting("target noise sigma", lambda c: c.sigma, _each(0.0, 0.0), "main.py --sigma (default 0)"),
    Setting("targets per component", lambda c: c.target_counts, _each("random", "random"),
            "utils/gmm.py sample(): each target draws its component (random.randint)"),
    Setting("network", lambda c: c.network, _each("vgg", "resnet18"), "README --arch; architectures/"),
    Setting("input size (px)", lambda c: c.input_size, _each(32, 32, stl10=64), "README --input_size"),
    Setting("rotation task", lambda c: c.rotation, _each("none", "alternating"),
            "README --rotnet; mmdc.py train(): a rotation pass, then the clustering pass"),
    Setting("epochs", lambda c: c.epochs, _each(50, 400), "README --epochs"),
    Setting("batch size", lambda c: c.batch_size, _each(128, 128), "main.py --batch_size (default)"),
    Setting("learning rate", lambda c: c.lr, _each(0.05, 0.05), "README --lr"),
    Setting("momentum, Nesterov", lambda c: (c.momentum, c.nesterov), _each((0.9, False), (0.9, False)),
            "main.py --momentum; mmdc.py _get_optimizer (plain SGD)"),
    Setting("weight decay", lambda c: c.weight_decay, _each(5e-4, 5e-4, cifar100_20=1e-4),
            "README --wd; only on weights of more than one dimension (mmdc.py _get_optimizer)"),
    Setting("lr milestones, factor", lambda c: (c.lr_milestones, c.lr_gamma), _each(((40,), 0.1), ((300,), 0.2)),
            "README --lr_decay_epochs, --lr_decay_gamma (MultiStepLR)"),
    Setting("rotation-only warm-up epochs", lambda c: c.warmup_epochs, _each(0, 0),
            "mmdc.py train(): the clustering pass runs from the first epoch"),
    Setting("k-means refinement from epoch", lambda c: c.refine_epoch, _each(20, 350), "README --refine_epoch"),
    Setting("k-means restarts in refinement", lambda c: KMEANS_N_INIT, _each(10, 10),
            "mmdc.py: k_means(preds, k) with scikit-learn's default n_init"),
    Setting("MSE reduction", lambda c: c.mse_reduction, _each("mean", "mean"),
            "mmdc.py: nn.MSELoss() (mean over the batch and the d dimensions)"),
    Setting("training crop sizes (of the side)", lambda c: c.augment.crop_sizes,
            _each((24 / 28, 20 / 28, 16 / 28), (20 / 32,), stl10=(64 / 96,)),
            "README --crop_size; transforms.py: RandomChoice of RandomCrop, then Resize"),
    Setting("crop aspect ratio (width/height)", lambda c: c.augment.aspect_ratio, _each((1.0, 1.0), (1.0, 1.0)),
            "transforms.py: RandomCrop(crop_size) takes square crops"),
    Setting("clean view: centre crop", lambda c: c.augment.eval_crop, _each(24 / 28, 20 / 32, stl10=64 / 96),
            "transforms.py inference_transforms: CenterCrop(crop_size[0]), Resize"),
    Setting("horizontal flip", lambda c: c.augment.hflip, _each(False, True), "README --flip"),
    Setting("colour jitter", lambda c: c.augment.color_jitter, _each(None, (0.4, 0.4, 0.4, 0.125)),
            "README --color_jitter; transforms.py ColorJitter(0.4, 0.4, 0.4, 0.125)"),
    Setting("random grayscale p", lambda c: c.augment.grayscale_p, _each(0.0, 0.2), "transforms.py RandomGrayscale(p=0.2)"),
    Setting("random rotation (degrees)", lambda c: c.augment.rotation_degrees, _each(25.0, 0.0), "README --rot_degree"),
    Setting("cutout (side of the blanked square)", lambda c: c.augment.cutout, _each(0.0, 0.0),
            "transforms.py: no cutout or random erasing"),
)

# Structure that the tests pin (tests/test_models.py, tests/test_augment.py).
STRUCTURE = (
    ("ResNet-18: 3x3 stride-1 stem, then MaxPool2d(2, stride 2, padding 1): 17x17 before layer1 at 32 px; "
     "11,176,014 parameters for k = 10", "architectures/resnet.py"),
    ("small VGG 32-M-64-M-128-M-256-M with BatchNorm, flattened 2x2x256 = 1024 into Linear(1024, d)", "architectures/vgg.py"),
    ("initialisation: Kaiming-normal (fan-in, ReLU) convolutions, BatchNorm 1/0, linear N(0, 0.01), zero bias",
     "architectures/*.py _initialize_weights"),
    ("L2-normalised embedding; label = nearest mixture mean", "architectures/*.py forward; utils/gmm.py get_labels"),
    ("training view: colour jitter (random order) and grayscale on the whole image, flip, rotation, whole-pixel "
     "random crop, resize; rotation pass: each of the four rotations of an image gets its own random crop",
     "data_handling/transforms.py, datasets.py RotNetDataset"),
    ("per-batch assignment on the clean view in eval mode, Euclidean cost, optimal permutation", "mmdc.py train() (lap.lapjv)"),
    ("refinement: k-means on all clean embeddings each epoch, labels matched to the targets' components, "
     "targets set to them; no per-batch assignment", "mmdc.py train()"),
    ("train and test splits clustered together", "data_handling/dataset_loader.py"),
)

# (what, the authors' code, ours, why)
DIFFERENCES = (
    ("precision", "float32", "on GPUs with bf16 tensor cores (compute capability 8.0 or more), bf16 autocast for the "
     "backbone in every forward pass, the clean views for the Hungarian step and k-means included (heads and loss in "
     "float32); float32 elsewhere (CPU, T4)", "speed (benchmarks/throughput.py measures it where a GPU is lent); "
     "--precision fp32 (precision='fp32') gives theirs"),
    ("GPU kernels", "cuDNN defaults", "cudnn.benchmark, channels_last, fused SGD on CUDA (TF32 convolutions, PyTorch's "
     "default, in both)", "speed; the same computation up to floating-point rounding"),
    ("image ops", "PIL on uint8 images in 8 DataLoader worker processes (--workers); 8-bit rounding after each colour "
     "step; MNIST: a nearest-neighbour rotation, then a bilinear resize (two resamplings)",
     "the same transforms as float tensor ops on whole batches on the device; crop, rotation and resize in one "
     "bilinear grid_sample with interpolate's sampling rule",
     "no data-loading bottleneck. Colour and crops agree with torchvision's tensor ops (tests) and PIL's to within "
     "about 1/255; the MNIST rotation differs more (one bilinear resampling instead of nearest then bilinear: edges "
     "are smoother)"),
    ("k-means", "scikit-learn 0.22's k_means (elkan)", "today's KMeans (lloyd), seeded", "the same objective; the old "
     "module no longer exists"),
    ("refinement targets", "one-hot vectors, hard-coded", "the mixture means of the k-means labels",
     "identical for the published one-hot means; theirs disagrees with the read-out for random means or d != k"),
    ("randomness", "no seed anywhere; k-means unseeded", "one seed fixes a CPU run, k-means included",
     "reproducible runs and exact resume"),
    ("resume", "broken (an undefined name, or os.path.join(None, ...))", "exact on the CPU; refuses other settings or data",
     "long runs survive a disconnect"),
    ("assignment solver", "lap.lapjv", "scipy.optimize.linear_sum_assignment", "the same optimum; scipy is a listed dependency"),
    ("small VGG rotation head", "none (--arch vgg --rotnet fails)", "a Linear(1024, 4) head, unused by the MNIST preset",
     "other schedules work with the VGG; no effect on the preset (no gradient reaches it)"),
    ("last batch of one image", "kept", "dropped", "BatchNorm cannot train on one image; never happens for these data sets"),
    ("metrics", "ACC and NMI (arithmetic)", "ACC, NMI (arithmetic) and ARI", "ARI is the third number peers report"),
    ("several GPUs", "nn.DataParallel; checkpoints keep 'module.' prefixes", "one device per run; plain state dicts",
     "checkpoints load on any machine"),
)


def fidelity_rows(names=PUBLISHED_PRESETS) -> list[dict]:
    """One row per setting: ours and the authors' value per preset, and whether they agree."""
    rows = []
    for setting in SETTINGS:
        row = {"setting": setting.name, "where": setting.where}
        for name in names:
            ours, theirs = setting.ours(preset(name)), setting.authors[name]
            row[name] = {"ours": ours, "authors": theirs, "same": _same(ours, theirs)}
        rows.append(row)
    return rows


def _same(ours: Any, theirs: Any) -> bool:
    if isinstance(ours, float) and isinstance(theirs, float):
        return abs(ours - theirs) < 1e-9
    if isinstance(ours, tuple) and isinstance(theirs, tuple):
        return len(ours) == len(theirs) and all(_same(a, b) for a, b in zip(ours, theirs))
    return ours == theirs


def _show(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, tuple):
        return "(" + ", ".join(_show(v) for v in value) + ("," if len(value) == 1 else "") + ")"
    return str(value)


def fidelity_markdown(names=PUBLISHED_PRESETS) -> str:
    """The fidelity table as Markdown: settings (ours = theirs marked "="), structure, deliberate differences."""
    lines = [f"Settings of the published presets against the authors' code ({AUTHORS_CODE}); \"=\" marks ours = theirs.", "",
             "| setting | " + " | ".join(names) + " | where in the authors' code |", "|---" * (len(names) + 2) + "|"]
    for row in fidelity_rows(names):
        cells = [(_show(row[n]["ours"]) + " =") if row[n]["same"] else
                 f"ours {_show(row[n]['ours'])}, theirs {_show(row[n]['authors'])}" for n in names]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + f" | {row['where']} |")
    lines += ["", "Structure, the same as theirs (pinned by tests):", ""]
    lines += [f"- {what} ({where})" for what, where in STRUCTURE]
    lines += ["", "Deliberate differences:", "", "| what | authors' code | ours | why |", "|---|---|---|---|"]
    lines += [f"| {what} | {theirs} | {ours} | {why} |" for what, theirs, ours, why in DIFFERENCES]
    return "\n".join(lines)
