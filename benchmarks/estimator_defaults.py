"""The estimator's defaults on 10,000 images of 28x28: must fit within 10 minutes on a 2-core CPU.

Uses the first 10,000 Fashion-MNIST images (Debian's dataset-fashion-mnist) with `MMDC()` untuned,
beside k-means on the same pixels. Usage: python benchmarks/estimator_defaults.py [--data-dir DIR]
"""
from __future__ import annotations

import argparse
import time

from common import FASHION_DIR, machine, pixel_baselines, save

from mmdc_lib import MMDC, evaluate_clustering
from mmdc_lib.data import load_dataset


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", default=str(FASHION_DIR))
    parser.add_argument("--n-images", type=int, default=10_000)
    args = parser.parse_args()
    data = load_dataset("fashion-mnist", args.data_dir, download=False)
    images, labels = data.images[: args.n_images, ..., 0], data.labels[: args.n_images]

    start = time.perf_counter()
    model = MMDC(n_clusters=10, seed=0).fit(images)
    seconds = time.perf_counter() - start
    scores = evaluate_clustering(labels, model.labels_)
    kmeans = pixel_baselines(images[..., None], labels, 10, [0], ward=False)["kmeans"][0]
    payload = {"machine": machine(), "n_images": len(images), "seconds": seconds, "epochs": model.n_iter_,
               "restarts": model.n_init_, "refine_epoch": model.config_.refine_epoch,
               "input_size": model.config_.input_size, "acc": scores.acc, "nmi": scores.nmi, "ari": scores.ari,
               "kmeans": kmeans, "within_10_minutes": seconds <= 600}
    lines = [f"# MMDC() defaults on {len(images)} Fashion-MNIST images (28x28), device {model.device_}", "",
             f"- fit time: {seconds:.0f} s ({model.n_init_} restart(s) of {model.n_iter_} epochs, k-means refinement from epoch "
             f"{model.config_.refine_epoch}, input {model.config_.input_size}x{model.config_.input_size}); "
             f"within 10 minutes: {'yes' if seconds <= 600 else 'NO'}",
             f"- MMDC: ACC {scores.acc:.3f}, NMI {scores.nmi:.3f}, ARI {scores.ari:.3f}",
             f"- k-means on pixels: ACC {kmeans['acc']:.3f}, NMI {kmeans['nmi']:.3f}, ARI {kmeans['ari']:.3f}",
             f"\nMachine: {payload['machine']}"]
    save("estimator_defaults", payload, lines)


if __name__ == "__main__":
    main()
