"""``MMDC()`` with its defaults against k-means and Ward on pixels, on small image sets of our own making.

A teacher's data set is small: a few hundred to a few thousand images, two to twenty kinds. These sets are built
from what ships with the dependencies (scikit-learn's digits and its two sample photographs) and from
Fashion-MNIST (Debian's ``dataset-fashion-mnist``; its sets are skipped, and said so, where it is not on disk).
They were fixed before any result was seen; labels only score the result.

| set | k | images | side | channels | how it is made |
|---|---|---|---|---|---|
| digits 0/1 | 2 | 360 | 8 | 1 | every 0 and 1 of the digits |
| digits 3/5/8 | 3 | 539 | 8 | 1 | every 3, 5 and 8 |
| tinted digits 0/1/2 | 3 | 537 | 8 | 3 | every 0, 1, 2, each drawn in a random colour (shape decides, not colour) |
| photo patches | 2 | 400 | 24 | 3 | random 24x24 patches of china.jpg and flower.jpg, 200 each |
| fashion trouser/bag | 2 | 400 | 28 | 1 | 200 of each, a fixed random draw |
| fashion tops | 3 | 900 | 28 | 1 | T-shirt/top, Pullover, Shirt: 300 each (hard: they look alike) |
| fashion five | 5 | 1000 | 28 | 1 | T-shirt/top, Trouser, Sandal, Bag, Ankle boot: 200 each |
| fashion ten | 10 | 2000 | 28 | 1 | 200 of every class |
| photo patches 96 | 2 | 400 | 96 | 3 | as photo patches, 96x96 (added 2026-12-01, with the next, for the largest side and k) |
| digits and fashion | 20 | 2000 | 28 | 1 | 100 of each digit, upsampled to 28x28, and 100 of each Fashion-MNIST class |

Each set: MMDC(n_clusters=k, seed=s) for seeds 0-2, k-means (n_init=10, the same seeds) and Ward on pixels
scaled to 0..1, all in the same run. Bar (issue 13): MMDC's mean ACC >= k-means' on every set, and above it on
average.

Usage: python benchmarks/small_sets.py [--seeds 0 1 2] [--sets NAME ...] [--mmdc KEY=VALUE ...] [--tag NAME]
       [--native-size-crop CROP] [--resume | --overwrite]

The files are saved after every set (marked UNFINISHED until the last): a run stopped midway keeps its finished
sets, and the same command with ``--resume`` runs only the sets left (it refuses a file of other seeds, settings or
library defaults). An existing file is replaced only with ``--overwrite``.

``--mmdc`` changes the estimator's settings for a study (e.g. ``--mmdc embedding_dim=16 means=orthogonal``); the
figures are then saved as ``results/small_sets_<settings>.*``, never over the defaults' file. With
``--mmdc combine=ensemble`` every fit also reports, from the same three trainings, the restart the defaults keep
(``combine="best"``: the same clusters as ``MMDC()``) and the mean of the single trainings: the two rules side by
side at the cost of one. ``--native-size-crop``
sets the clean view's centre crop of images trained at their own side (``mmdc_lib.estimator.NATIVE_SIZE_EVAL_CROP``,
0.95; 1 before 2026-11-30), saved with the suffix ``_native-crop-<CROP>``.
"""
from __future__ import annotations

import argparse
import colorsys
import json
import time

import numpy as np
import torch
import torch.nn.functional as F
from common import FASHION_DIR, RESULTS, machine, parse_setting, save
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.datasets import load_sample_images

from mmdc_lib import MMDC, estimator
from mmdc_lib.data import load_dataset, load_digits_images
from mmdc_lib.metrics import evaluate_clustering
from mmdc_lib.targets import mixture_means, nearest_mean


def pick(labels: np.ndarray, classes: list[int], per_class: int | None, seed: int = 0) -> np.ndarray:
    """Indices of ``per_class`` images of each class (all of them when None), a fixed random draw."""
    rng = np.random.default_rng(seed)
    chosen = [rng.permutation(np.flatnonzero(labels == c))[:per_class] for c in classes]
    return np.sort(np.concatenate(chosen))


def relabel(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1]


def digits_set(classes: list[int], tinted: bool = False) -> tuple[np.ndarray, np.ndarray]:
    digits = load_digits_images()
    chosen = pick(digits.labels, classes, None)
    images, labels = digits.images[chosen], relabel(digits.labels[chosen])
    if tinted:  # each digit in a random fully saturated colour on black
        rng = np.random.default_rng(1)
        colours = np.array([colorsys.hsv_to_rgb(h, 1.0, 1.0) for h in rng.random(len(images))])  # (N, 3)
        images = (images.astype(np.float32) * colours[:, None, None, :]).round().astype(np.uint8)
    return images, labels


def photo_patches(side: int = 24, per_photo: int = 200) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    patches, labels = [], []
    for label, photo in enumerate(load_sample_images().images):  # china.jpg, flower.jpg: (427, 640, 3) uint8
        for _ in range(per_photo):
            top, left = rng.integers(0, photo.shape[0] - side), rng.integers(0, photo.shape[1] - side)
            patches.append(photo[top:top + side, left:left + side])
            labels.append(label)
    return np.stack(patches), np.array(labels)


def fashion_set(names: list[str], per_class: int):
    data = load_dataset("fashion-mnist", FASHION_DIR, download=False)
    chosen = pick(data.labels, [data.class_names.index(n) for n in names], per_class)
    return data.images[chosen], relabel(data.labels[chosen])


FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]


def digits_and_fashion(per_class: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Twenty kinds: the ten digits (8x8, upsampled bilinearly to 28x28) and the ten Fashion-MNIST classes."""
    digits = load_digits_images()
    chosen = pick(digits.labels, list(range(10)), per_class)
    small = torch.from_numpy(digits.images[chosen]).permute(0, 3, 1, 2).float()  # (N, 1, 8, 8)
    large = F.interpolate(small, size=28, mode="bilinear", align_corners=False).round().clamp(0, 255).to(torch.uint8)
    fashion_images, fashion_labels = fashion_set(FASHION_CLASSES, per_class)
    images = np.concatenate([large.permute(0, 2, 3, 1).numpy(), fashion_images.reshape(-1, 28, 28, 1)])
    return images, np.concatenate([digits.labels[chosen], 10 + fashion_labels])


SETS = {
    "digits 0/1": lambda: digits_set([0, 1]),
    "digits 3/5/8": lambda: digits_set([3, 5, 8]),
    "tinted digits 0/1/2": lambda: digits_set([0, 1, 2], tinted=True),
    "photo patches": photo_patches,
    "fashion trouser/bag": lambda: fashion_set(["Trouser", "Bag"], 200),
    "fashion tops": lambda: fashion_set(["T-shirt/top", "Pullover", "Shirt"], 300),
    "fashion five": lambda: fashion_set(["T-shirt/top", "Trouser", "Sandal", "Bag", "Ankle boot"], 200),
    "fashion ten": lambda: fashion_set(FASHION_CLASSES, 200),
    "photo patches 96": lambda: photo_patches(96),
    "digits and fashion": digits_and_fashion,
}
ORIGINAL_SETS = list(SETS)[:8]  # the sets of 2026-11-29, on which refinement_study.py chose the defaults


def restart_labels(model: MMDC) -> list[np.ndarray]:
    """Each restart's own clusters (N,) from a ``combine="ensemble"`` fit: its slice of ``embedding_`` labelled by
    its nearest mixture mean, as ``combine="best"`` labels the restart it keeps. One-hot means (d == k, the
    defaults) only: random means are drawn inside each training and not kept."""
    config = model.config_
    if config.means not in ("auto", "onehot") or config.dim != config.n_clusters:
        raise ValueError(f"restart_labels needs one-hot means (d == k), got means={config.means!r}, d={config.dim}.")
    means = mixture_means(config.n_clusters, config.dim, "onehot")
    slices = torch.from_numpy(model.embedding_).split(config.dim, dim=1)
    return [nearest_mean(part, means).numpy() for part in slices]


def summary(values: list[float]) -> str:
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}"


def result_name(settings: dict, tag: str, native_size_crop: float | None, sets: list[str]) -> str:
    """The results' file name: the settings changed, the tag, the clean-view crop, and "_some-sets" for a partial
    run without a tag (it never replaces the file of all sets; every set in another order is the full table)."""
    name = "small_sets" + "".join(f"_{k}-{v}" for k, v in settings.items()) + (f"_{tag}" if tag else "")
    if native_size_crop is not None:
        name += f"_native-crop-{native_size_crop:g}"
    if sorted(sets) != sorted(SETS) and not tag:
        name += "_some-sets"
    return name


def library_defaults() -> dict[str, str]:
    """What decides ``MMDC()``'s defaults besides its code: the estimator's constants, as text (saved with the
    results, so that ``--resume`` never puts rows of other defaults in one table)."""
    names = ["TARGET_STEPS", "AUTO_REFINE_FRACTION", "AUTO_RESTARTS", "AUTO_RESTARTS_MAX_IMAGES", "BALANCED_SHARE",
             "GRAYSCALE_JITTER", "AUGMENTATIONS", "NATIVE_SIZE_EVAL_CROP", "INPUT_SIZE_RANGE"]
    return {name: repr(getattr(estimator, name)) for name in names}


def resumable_rows(payload: dict, seeds: list[int], settings: dict, native_size_crop: float) -> list[dict]:
    """The finished sets of an earlier run of the same study (``--resume``): its rows, or a ValueError naming what
    differs (seeds, settings, the clean-view crop or the library's defaults), so that one table never mixes two
    studies."""
    earlier = {key: payload.get(key) for key in ("seeds", "settings", "native_size_crop", "library_defaults")}
    now = json.loads(json.dumps({"seeds": seeds, "settings": settings, "native_size_crop": native_size_crop,
                                 "library_defaults": library_defaults()}))  # as saved: tuples become lists
    differ = [key for key in now if earlier[key] != now[key]]
    if differ:
        raise ValueError("--resume: the saved run differs in " + ", ".join(
            "library_defaults (saved " + ("without them" if earlier[key] is None else "with others") + ")"
            if key == "library_defaults" else f"{key} ({earlier[key]!r}, now {now[key]!r})" for key in differ))
    return payload["rows"]


def fit_set(name: str, seeds: list[int], settings: dict, ensemble: bool) -> dict:
    """MMDC for each seed, k-means (same seeds) and Ward on one set: its row of the table."""
    images, labels = SETS[name]()
    k = len(np.unique(labels))
    pixels = images.reshape(len(images), -1) / 255
    kmeans = [evaluate_clustering(labels, KMeans(k, n_init=10, random_state=s).fit_predict(pixels)) for s in seeds]
    ward = evaluate_clustering(labels, AgglomerativeClustering(k, linkage="ward").fit_predict(pixels))
    mmdc, seconds, fits, restarts, kept_acc, single_acc = [], [], [], [], [], []
    for seed in seeds:
        start = time.perf_counter()
        model = MMDC(n_clusters=k, seed=seed, **settings).fit(images)
        seconds.append(time.perf_counter() - start)
        mmdc.append(evaluate_clustering(labels, model.labels_))
        fits.append(model.fit_score_)
        restarts.append(model.restarts_)
        if ensemble:  # the same trainings under the defaults' rule, and one training's mean
            singles = [evaluate_clustering(labels, part).acc for part in restart_labels(model)]
            kept = estimator.kept_restart([r["fit_score"] for r in model.restarts_],
                                          [r["cluster_sizes"] for r in model.restarts_])
            kept_acc.append(singles[kept])
            single_acc.append(float(np.mean(singles)))
    row = {"set": name, "k": k, "n_images": len(images), "shape": list(images.shape[1:]),
           "mmdc_acc": [s.acc for s in mmdc], "mmdc_nmi": [s.nmi for s in mmdc], "mmdc_ari": [s.ari for s in mmdc],
           "mmdc_fit": fits, "mmdc_restarts": restarts,
           "kmeans_acc": [s.acc for s in kmeans], "kmeans_nmi": [s.nmi for s in kmeans], "ward_acc": ward.acc,
           "ward_nmi": ward.nmi, "seconds_per_fit": float(np.mean(seconds)), "finished_at": time.strftime("%Y-%m-%d %H:%M"),
           "commit": machine()["commit"]}
    if ensemble:
        row.update(best_rule_acc=kept_acc, one_training_acc=single_acc)
    print(f"{name:<22} k={k:<2} n={len(images):<5} MMDC {summary(row['mmdc_acc'])} (min {min(row['mmdc_acc']):.3f}) | "
          + (f"defaults' rule {summary(kept_acc)} | one training {summary(single_acc)} | " if ensemble else "")
          + f"k-means {summary(row['kmeans_acc'])} | Ward {ward.acc:.3f} | {row['seconds_per_fit']:.0f} s a fit", flush=True)
    return row


def report(rows: list[dict], seeds: list[int], settings: dict, native_size_crop: float | None, skipped: list[str],
           unfinished: list[str]) -> list[str]:
    """The table and its verdicts, as the results' .md file holds them."""
    ensemble = settings.get("combine") == "ensemble"
    rows = sorted(rows, key=lambda row: list(SETS).index(row["set"]))  # the table's order whatever the run's
    gaps = [np.mean(r["mmdc_acc"]) - np.mean(r["kmeans_acc"]) for r in rows]
    behind = [r["set"] for r, gap in zip(rows, gaps) if gap < 0]
    what = f"MMDC({', '.join(f'{k}={v!r}' for k, v in settings.items())})" if settings else "MMDC() defaults"
    if native_size_crop is not None:
        what += f", clean view of native-size images cropped to {native_size_crop:g}"
    lines = [f"# {what} on small sets, against k-means and Ward on pixels", "",
             f"ACC mean ± std over seeds {seeds} (NMI beside it); k-means n_init=10 with the same seeds; Ward is deterministic.", "",
             "| set | k | images | shape | MMDC ACC | MMDC min | MMDC NMI | k-means ACC | k-means NMI | Ward ACC | s a fit |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['set']} | {r['k']} | {r['n_images']} | {'x'.join(map(str, r['shape']))} | {summary(r['mmdc_acc'])} "
                     f"| {min(r['mmdc_acc']):.3f} | {np.mean(r['mmdc_nmi']):.3f} | {summary(r['kmeans_acc'])} "
                     f"| {np.mean(r['kmeans_nmi']):.3f} | {r['ward_acc']:.3f} | {r['seconds_per_fit']:.0f} |")
    met = rows and not behind and np.mean(gaps) > 0
    # fits where the balance rule kept another restart than the lowest fit score (MMDC.restarts_)
    overruled = [f"{r['set']} (seed {seed})" for r in rows for seed, runs in zip(seeds, r["mmdc_restarts"])
                 if not min(runs, key=lambda run: run["fit_score"])["kept"]]
    if ensemble:
        lines += ["", "The same trainings under the defaults' rule (the restart `combine=\"best\"` keeps, what `MMDC()` "
                  "gives) and one training alone (the mean over the fit's restarts):", "",
                  "| set | ensemble ACC | defaults' rule ACC | one training ACC | k-means ACC |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['set']} | {summary(r['mmdc_acc'])} | {summary(r['best_rule_acc'])} "
                         f"| {summary(r['one_training_acc'])} | {summary(r['kmeans_acc'])} |")
        best_gaps = [np.mean(r["best_rule_acc"]) - np.mean(r["kmeans_acc"]) for r in rows]
        best_behind = [r["set"] for r, gap in zip(rows, best_gaps) if gap < 0]
        lines += ["", f"Defaults' rule: mean ACC gap over k-means {np.mean(best_gaps):+.3f}; behind k-means on: "
                      f"{', '.join(best_behind) or 'none'}; bar {'MET' if rows and not best_behind and np.mean(best_gaps) > 0 else 'NOT MET'}. "
                      f"Ensemble minus defaults' rule, mean over sets: "
                      f"{np.mean([np.mean(r['mmdc_acc']) - np.mean(r['best_rule_acc']) for r in rows]):+.3f}."]
    lines += ["", f"Mean ACC gap MMDC - k-means over {len(rows)} sets: {np.mean(gaps):+.3f}; "
                  f"sets where MMDC is behind k-means: {', '.join(behind) or 'none'}.",
              f"Restarts: the lowest fit score was unbalanced (a cluster under half of n/k images) and another restart "
              f"kept in {len(overruled)} of {len(rows) * len(seeds)} fits" + (f": {', '.join(overruled)}." if overruled else "."),
              f"Bar (MMDC >= k-means on every set, ahead on average): {'MET' if met else 'NOT MET'}"
              + (f" on the {len(rows)} sets finished so far." if unfinished else ".")
              + (f" Skipped (no Fashion-MNIST): {', '.join(skipped)}." if skipped else "")]
    if unfinished:
        lines.append(f"UNFINISHED: {len(unfinished)} set(s) not run yet ({', '.join(unfinished)}); "
                     "`--resume` with the same arguments runs them.")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--mmdc", nargs="+", default=[], metavar="KEY=VALUE", help="estimator settings other than the defaults")
    parser.add_argument("--tag", default="", help="suffix of the results' file name")
    parser.add_argument("--native-size-crop", type=float, default=None, metavar="CROP",
                        help="a study: the clean view's centre crop for images kept at their own size (default: the library's)")
    parser.add_argument("--resume", action="store_true",
                        help="keep the sets an earlier run of the same arguments finished (the file is saved after each set)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing results file")
    args = parser.parse_args()
    if args.native_size_crop is not None:
        estimator.NATIVE_SIZE_EVAL_CROP = args.native_size_crop
    settings = dict(parse_setting(item) for item in args.mmdc)
    ensemble = settings.get("combine") == "ensemble"
    if ensemble and (settings.get("means", "auto") not in ("auto", "onehot") or settings.get("embedding_dim") is not None):
        raise SystemExit("combine=ensemble scores each restart by its nearest one-hot mean: leave means and embedding_dim at their defaults")
    name = result_name(settings, args.tag, args.native_size_crop, args.sets)
    done: dict[str, dict] = {}
    saved = RESULTS / f"{name}.json"
    if args.resume and saved.is_file():
        try:
            rows = resumable_rows(json.loads(saved.read_text()), args.seeds, settings, estimator.NATIVE_SIZE_EVAL_CROP)
        except ValueError as error:
            raise SystemExit(str(error)) from None
        done = {row["set"]: row for row in rows if row["set"] in args.sets}
        print(f"resuming {saved}: kept {', '.join(done) or 'no set'}")
    elif saved.is_file() and not args.overwrite:
        raise SystemExit(f"small_sets.py: {saved} exists; --resume goes on from it, --overwrite replaces it")
    skipped = [s for s in args.sets if "fashion" in s and not FASHION_DIR.is_dir()]
    for set_name in skipped:
        print(f"{set_name}: skipped: Fashion-MNIST is not in {FASHION_DIR} (apt-get install dataset-fashion-mnist)")
    to_run = [s for s in args.sets if s not in skipped and s not in done]
    rows = [done[s] for s in args.sets if s in done]  # kept rows first: every save below holds them
    if not to_run and not rows:
        raise SystemExit("small_sets.py: no set to run (every set asked for needs Fashion-MNIST)")

    def save_rows(unfinished: list[str]) -> None:
        lines = report(rows, args.seeds, settings, args.native_size_crop, skipped, unfinished) + [f"Machine: {machine()}"]
        save(name, {"machine": machine(), "seeds": args.seeds, "settings": settings, "native_size_crop": estimator.NATIVE_SIZE_EVAL_CROP,
                    "library_defaults": library_defaults(), "rows": rows, "skipped": skipped, "unfinished": unfinished},
             lines, quiet=bool(unfinished))

    for position, set_name in enumerate(to_run):
        rows.append(fit_set(set_name, args.seeds, settings, ensemble))
        save_rows(to_run[position + 1:])  # after every set: a run stopped midway keeps its finished sets
    if not to_run:
        save_rows([])  # every set was kept: the table again
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
