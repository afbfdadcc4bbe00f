"""Which single setting of the digits preset moves its ACC? A screen of one-setting variants (issue 13).

Each variant changes one setting of ``preset("digits")`` and trains every seed with the library's Trainer
(the preset itself is a variant too, so it is measured in the same run on the same machine). ACC is looked
at: a setting chosen here is tuned on the digits' labels, and is checked on seeds it was not chosen on
(``--seeds 5 6 7 8 9 --tag check``) before a preset takes it.
The clean-view study (``--tag clean_view``, seeds 0-9) ran while the preset's clean view was the pixels
(``eval_crop=1``) and chose its centre crop of 0.95; ``--tag clean_view_check`` compares the two on seeds 10-19.
``--set chapter5`` is chapter 5's ablation, all six variants and five seeds, with k-means on the pixels in the
same run: the chapter shows this file beside its own CPU run (two seeds, three variants).
Variants below the clean-view study (and "jitter 0.2", MMDC()'s grayscale jitter of 2026-12-01) run only when named
with ``--variants``.
Usage: python benchmarks/digits_study.py [--set screen|chapter5] [--seeds 0 1 2 3 4] [--variants preset ...] [--tag NAME]
"""
from __future__ import annotations

import argparse
import statistics

from common import change_settings, machine, pixel_baselines, save, summary, train_scored

from mmdc_lib.config import AugmentConfig, preset
from mmdc_lib.data import load_digits_images
from mmdc_lib.estimator import images_to_uint8_nchw

# One setting of the preset changed (the preset: batch 64, lr 0.05, rotation weight 0.5, d = k = 10 one-hot
# means, sigma 0, summed MSE, affine augmentation 0.8-1.2 / 0.2 / 25 degrees, 80 epochs x0.1 at 64, clean view a
# centre crop of 0.95).
VARIANTS = {
    "preset": {},
    "mse mean": {"mse_reduction": "mean"},
    "batch 128": {"batch_size": 128},
    "batch 32": {"batch_size": 32},
    "lr 0.1": {"lr": 0.1},
    "lr 0.025": {"lr": 0.025},
    "rotation weight 1": {"rotation_weight": 1.0},
    "rotation weight 0.25": {"rotation_weight": 0.25},
    "sigma 0.1": {"sigma": 0.1},
    "embedding 32": {"embedding_dim": 32},
    "refine from 60": {"refine_epoch": 60},
    "input 12": {"input_size": 12},
    "weaker augmentation": {"augment.crop_scale": (0.9, 1.1), "augment.translate": 0.1, "augment.rotation_degrees": 15.0},
    "aspect 3/4-4/3": {"augment.aspect_ratio": (3 / 4, 4 / 3)},
    # The clean view (which the assignment and the fit score use) at the images' own 8 px is their pixels
    # exactly, where every training view is resampled: a centre crop a little in or out resamples it too.
    # The study tagged clean_view ran when the preset's clean view was the pixels (eval_crop 1); the preset
    # took 0.95 from it, so "clean view 0.95" is now the preset and "clean view 1" the setting before.
    "clean view 1": {"augment.eval_crop": 1.0},
    "clean view 0.9": {"augment.eval_crop": 0.9},
    "clean view 0.95": {"augment.eval_crop": 0.95},
    "clean view 1.05": {"augment.eval_crop": 1.05},
    # Chapter 5's ablation (its CPU branch trains three of these with two seeds; this is the whole table).
    "no rotation": {"rotation": "none"},
    "alternating (authors')": {"rotation": "alternating"},
    "sigma 0.2": {"sigma": 0.2},
    "no augmentation": {"augment": AugmentConfig()},
    # The targets' counts: each draws its component (the authors'; N/k ± sqrt(N/k)) or exactly N/k each.
    "balanced targets": {"target_counts": "balanced"},
    # MMDC()'s grayscale jitter (estimator.GRAYSCALE_JITTER, 2026-12-01): brightness and contrast by 0.2.
    "jitter 0.2": {"augment.color_jitter": (0.2, 0.2, 0.0, 0.0)},
}

CHAPTER_5 = ["preset", "no rotation", "alternating (authors')", "sigma 0.2", "refine from 60", "no augmentation"]
SCREEN = list(VARIANTS)[:list(VARIANTS).index("clean view 1")]  # the variants above the clean-view study
SETS = {"screen": SCREEN, "chapter5": CHAPTER_5}


def score_cells(s: dict) -> str:
    """A table's "ACC mean ± std (min-max) | NMI | ARI" cells from ``summary(runs)``."""
    return (f"{s['acc']['mean']:.3f} ± {s['acc']['std']:.3f} ({s['acc']['min']:.3f}-{s['acc']['max']:.3f}) "
            f"| {s['nmi']['mean']:.3f} | {s['ari']['mean']:.3f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--set", choices=list(SETS), default="screen",
                        help="screen: the 14 one-setting variants; chapter5: chapter 5's ablation, with k-means beside it")
    parser.add_argument("--variants", nargs="+", choices=list(VARIANTS),
                        help="instead of the set's (the clean-view variants are a study of their own)")
    parser.add_argument("--tag", help="suffix of the results' file name (default: the set's name)")
    parser.add_argument("--reference", default="preset", choices=list(VARIANTS),
                        help="the variant the 'ahead of' column compares with (run it too)")
    args = parser.parse_args()
    args.variants = args.variants or SETS[args.set]
    args.tag = args.tag or args.set
    data = load_digits_images()
    images, _ = images_to_uint8_nchw(data.images)
    rows = {}
    for name in args.variants:
        runs = []
        for seed in args.seeds:
            config = change_settings(preset("digits"), {**VARIANTS[name], "seed": seed})
            _, record = train_scored(config.validate(), images, data.labels)
            runs.append(record)
            print(f"{name:<22} seed {seed}: ACC {record['acc']:.3f} fit {record['fit']:.3f} {record['seconds']:.0f} s", flush=True)
        rows[name] = {"runs": runs, "summary": summary(runs)}
    base = {r["seed"]: r["acc"] for r in rows[args.reference]["runs"]} if args.reference in rows else {}
    lines = [f"# Digits preset, one setting changed: seeds {args.seeds} (ACC looked at; tag {args.tag!r})", "",
             f"| variant | ACC mean ± std (min-max) | NMI | ARI | ahead of the {args.reference} | fit score (mean) | s a run (max) |",
             "|---|---|---|---|---|---|---|"]
    kmeans = pixel_baselines(data.images, data.labels, 10, args.seeds, ward=False)["kmeans"]
    lines.append(f"| k-means on pixels | {score_cells(summary(kmeans))} | - | - | - |")
    for name, row in rows.items():
        runs = row["runs"]
        ahead = "-" if name == args.reference or not base else f"{sum(r['acc'] > base[r['seed']] for r in runs)} of {len(runs)}"
        lines.append(f"| {name} | {score_cells(row['summary'])} | {ahead} | {statistics.fmean(r['fit'] for r in runs):.3f} "
                     f"| {max(r['seconds'] for r in runs):.0f} |")
    lines += ["", "Per seed ACC: " + "; ".join(f"{name}: " + ", ".join(f"{r['acc']:.3f}" for r in row["runs"]) for name, row in rows.items()),
              "", f"NMI: arithmetic averaging. Machine: {machine()}"]
    save(f"digits_study_{args.tag}", {"machine": machine(), "seeds": args.seeds,
                                      "kmeans": kmeans,
                                      "variants": {n: {"changes": repr(VARIANTS[n]), **r} for n, r in rows.items()}}, lines)
    print(f"best mean ACC: {max(rows, key=lambda n: statistics.fmean(r['acc'] for r in rows[n]['runs']))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
