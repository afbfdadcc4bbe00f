"""Training throughput of one CIFAR-10-shaped epoch: the library against a reference in the authors' style.

Both paths train the same network (the cifar10 preset's ResNet-18, or --network) with the same optimiser on
the same random uint8 images of CIFAR-10's shape (CIFAR-10 cannot be downloaded here: the figures are speed
only, never accuracy), for one epoch of the authors' alternating schedule: a rotation pass (all four
rotations of every image, random crops) and a clustering pass (clean view -> Hungarian -> augmented step).

- library: ``mmdc_lib.train.Trainer`` (data on the device, whole-batch tensor augmentation, parameters drawn
  per epoch, losses read once per epoch, the Hungarian step overlapped with the forward pass, bf16 autocast
  on CUDA);
- reference: the authors' pipeline style: torchvision PIL transforms in a ``DataLoader`` with worker processes
  and pinned memory, float32, the Hungarian step on a ``.cpu()`` copy before the augmented forward pass, a
  loss ``.item()`` per step; the same ``train_step``.

Images per second counts data-set images per epoch (N / epoch seconds), after a warm-up epoch (cuDNN
autotuning, worker start-up) for both paths. Also: the CPU time of the Hungarian step per library epoch
(on a GPU it overlaps the forward pass, so it is not a share of wall time), the cost of one k-means
refinement (10 restarts on N embeddings), peak memory (on a CPU: the process's peak so far), and a
projection of the 400-epoch preset: 400 plain epochs (an upper bound: the 50 refining ones skip the
Hungarian step) + 400 end-of-epoch evaluations and checkpoints + 50 k-means runs.

Usage: python benchmarks/throughput.py [--device auto] [--images N] [--preset cifar10] [--epochs E]
"""
from __future__ import annotations

import argparse
import gc
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from common import machine, require_cuda_for_graphs, save, synchronize, timed_epoch
from PIL import Image
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

from mmdc_lib.config import preset
from mmdc_lib.models import MMDCNet, parameter_groups
from mmdc_lib.step import resolve_device, train_step
from mmdc_lib.train import Trainer, check_finite

PAPER_EPOCHS, PAPER_REFINE_EPOCHS, CIFAR_IMAGES = 400, 50, 60_000


def peak_memory_gb(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # Linux: KiB


# --- the reference: the authors' pipeline style ---------------------------------------------------------
class PairDataset(Dataset):
    """(clean view, training view, index) of each image, with torchvision's PIL transforms (as the authors)."""

    def __init__(self, images: np.ndarray, clean, train):
        self.images, self.clean, self.train = images, clean, train

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = Image.fromarray(self.images[index])
        return self.clean(image), self.train(image), index


class RotationDataset(Dataset):
    """The four rotations of each image, each with its own random crop (the authors' RotNetDataset)."""

    def __init__(self, images: np.ndarray, crops):
        self.images, self.crops = images, crops

    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        image = self.images[index]
        return torch.stack([self.crops(Image.fromarray(np.ascontiguousarray(np.rot90(image, k)))) for k in range(4)])


def reference_epoch(config, images_nhwc: np.ndarray, model, optimizer, targets: torch.Tensor, device, workers: int) -> float:
    """One epoch in the authors' style; returns its seconds."""
    augment, size = config.augment, config.input_size
    crop = round(augment.crop_sizes[0] * images_nhwc.shape[1])
    resize = [transforms.Resize(size), transforms.ToTensor()]
    clean = transforms.Compose([transforms.CenterCrop(crop), *resize])
    crops = transforms.Compose([transforms.RandomChoice([transforms.RandomCrop(crop)]), *resize])
    train = transforms.Compose([transforms.ColorJitter(*augment.color_jitter), transforms.RandomGrayscale(augment.grayscale_p),
                                transforms.RandomHorizontalFlip(), transforms.RandomChoice([transforms.RandomCrop(crop)]), *resize])
    options = dict(batch_size=config.batch_size, shuffle=True, num_workers=workers, pin_memory=device.type == "cuda",
                   persistent_workers=False)
    from scipy.optimize import linear_sum_assignment

    synchronize(device)
    start = time.perf_counter()
    for rotated in DataLoader(RotationDataset(images_nhwc, crops), **options):
        rotated = rotated.transpose(0, 1).reshape(-1, *rotated.shape[2:]).to(device)  # rotation-major, as rotate_quarters
        labels = torch.arange(4, device=device).repeat_interleave(len(rotated) // 4)
        _, loss = train_step(model, optimizer, None, None, rotated, labels, rotation_weight=1.0)
        check_finite(loss.item(), "the rotation loss")
    for clean_views, train_views, indices in DataLoader(PairDataset(images_nhwc, clean, train), **options):
        model.eval()
        with torch.no_grad():
            predictions = model(clean_views.to(device)).cpu().numpy()
        batch_targets = targets[indices]
        cost = ((predictions[:, None, :] - batch_targets.numpy()[None]) ** 2).sum(-1) ** 0.5
        _, assignment = linear_sum_assignment(cost)
        targets[indices] = batch_targets[assignment]
        mse, _ = train_step(model, optimizer, train_views.to(device), targets[indices].to(device), mse_reduction="mean")
        check_finite(mse.item(), "the MSE")
    synchronize(device)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--device", default="auto")
    parser.add_argument("--images", type=int, default=None, help="data-set size (default: 60,000 on a GPU, 256 on a CPU)")
    parser.add_argument("--preset", default="cifar10", choices=["cifar10", "cifar100-20", "stl10"])
    parser.add_argument("--network", default=None, help="override the preset's network (e.g. small, for a quick CPU check)")
    parser.add_argument("--epochs", type=int, default=3,
                        help="library epochs to time, at least 3: a warm-up, steady ones, and a last one that refines (k-means)")
    parser.add_argument("--workers", type=int, default=os.cpu_count(), help="reference DataLoader workers")
    parser.add_argument("--compile", action="store_true", help="also time the library with torch.compile")
    parser.add_argument("--cuda-graphs", action="store_true",
                        help="also time the library with whole-step CUDA graphs (Trainer(cuda_graphs=True); CUDA only)")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    if args.epochs < 3:
        parser.error("--epochs should be at least 3 (a warm-up epoch, a steady one, a refining one)")
    device = resolve_device(args.device)
    n_images = args.images or (CIFAR_IMAGES if device.type == "cuda" else 256)
    side = 96 if args.preset == "stl10" else 32
    config = preset(args.preset)
    if args.network:
        config.network = args.network
    config.epochs, config.refine_epoch, config.lr_milestones = args.epochs, args.epochs - 1, (args.epochs,)
    images_nhwc = np.random.default_rng(0).integers(0, 256, (n_images, side, side, 3), dtype=np.uint8)
    images = torch.from_numpy(images_nhwc).permute(0, 3, 1, 2).contiguous()
    payload = {"machine": machine(), "device": str(device), "preset": args.preset, "network": config.network,
               "n_images": n_images, "image_side": side, "input_size": config.input_size, "batch_size": config.batch_size,
               "data": "random uint8 images of the data set's shape (speed only)"}

    # Library: epochs 1..E-1 without refinement, the last with it; the first epoch includes warm-up (cuDNN autotuning).
    # With --cuda-graphs the first epoch also warms up and captures the graphs.
    require_cuda_for_graphs(parser, args.cuda_graphs, device)

    def time_library(name: str, **options) -> None:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        trainer = Trainer(config, images, device=device, progress=False, **options)
        epoch_seconds = [timed_epoch(trainer) for _ in range(args.epochs)]
        with tempfile.TemporaryDirectory() as scratch:  # what every epoch adds: evaluation and the checkpoint
            trainer.out_dir = Path(scratch)
            synchronize(device)
            start = time.perf_counter()
            trainer._end_of_epoch(0.0, config.lr, 0.0, 0.0)
            trainer.save_checkpoint()
            synchronize(device)
            evaluation = time.perf_counter() - start
        plain = epoch_seconds[1:-1]  # steady-state epochs: after the warm-up, without refinement
        kmeans = trainer.timings["kmeans"]
        hungarian_per_epoch = trainer.timings["hungarian"] / max(1, args.epochs - 1)
        epoch = float(np.median(plain))
        scale = CIFAR_IMAGES / n_images if args.preset != "stl10" else 13_000 / n_images
        projected = scale * (PAPER_EPOCHS * (epoch + evaluation) + PAPER_REFINE_EPOCHS * kmeans)
        payload[name] = {
            "epoch_seconds": epoch_seconds, "images_per_second": n_images / epoch, "evaluation_seconds": evaluation,
            "hungarian_seconds_per_epoch": hungarian_per_epoch, "hungarian_share": hungarian_per_epoch / epoch, "kmeans_seconds": kmeans,
            "kmeans_share_of_400_epochs": scale * PAPER_REFINE_EPOCHS * kmeans / projected,
            "peak_memory_gb": peak_memory_gb(device), "projected_preset_hours": projected / 3600,
        }
        print(f"{name}: {payload[name]}", flush=True)
        del trainer
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()

    runs = ["library"]
    time_library("library")
    if args.compile:
        runs.append("library, torch.compile")
        time_library("library, torch.compile", compile=True)

    if not args.skip_reference:
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        torch.backends.cudnn.benchmark = False  # the authors' setting (the library's Trainer switched it on)
        model = MMDCNet(config.network, 3, config.dim, config.input_size).to(device)
        optimizer = torch.optim.SGD(parameter_groups(model, config.weight_decay), lr=config.lr, momentum=0.9)
        targets = torch.eye(config.n_clusters)[torch.randint(config.n_clusters, (n_images,))]
        seconds = [reference_epoch(config, images_nhwc, model, optimizer, targets, device, args.workers) for _ in range(2)]
        payload["reference"] = {"epoch_seconds": seconds, "images_per_second": n_images / seconds[1], "workers": args.workers,
                                "peak_memory_gb": peak_memory_gb(device)}
        print(f"reference: {payload['reference']}", flush=True)
        del model, optimizer

    name = f"throughput_{args.preset}_{'gpu' if device.type == 'cuda' else 'cpu'}"
    if args.cuda_graphs:  # last, after the other figures are saved: a failure here is reported, not a lost run
        add_speedups(payload, runs)
        save(name, payload, report(args, payload, runs, config, n_images, side), quiet=True)
        runs.append("library, CUDA graphs")
        try:
            time_library("library, CUDA graphs", cuda_graphs=True)
        except Exception as error:  # noqa: BLE001 (any failure: printed and saved beside the other figures)
            payload["library, CUDA graphs"] = {"error": f"{type(error).__name__}: {error}"}
            print(f"library, CUDA graphs FAILED: {type(error).__name__}: {error}", flush=True)
    add_speedups(payload, runs)
    save(name, payload, report(args, payload, runs, config, n_images, side))
    if "error" in payload.get("library, CUDA graphs", {}):
        raise SystemExit(1)


def timed_paths(payload: dict, runs: list[str]) -> list[str]:
    """The library paths and the reference that were timed (not those that failed), in the table's order."""
    return [name for name in [*runs, "reference"] if name in payload and "error" not in payload[name]]


def add_speedups(payload: dict, runs: list[str]) -> None:
    """Each timed library path's images/s over the reference's (same run), when the reference was timed."""
    if "reference" in payload:
        reference = payload["reference"]["images_per_second"]
        payload["speedup"] = payload["library"]["images_per_second"] / reference
        payload["speedups"] = {name: payload[name]["images_per_second"] / reference
                               for name in timed_paths(payload, runs) if name != "reference"}


def report(args: argparse.Namespace, payload: dict, runs: list[str], config, n_images: int, side: int) -> list[str]:
    """The results file's lines: a table of the paths timed, the ratios to the reference, the projections."""
    gpu = payload["machine"]["gpu"] or f"{payload['machine']['cpus']} CPUs, no GPU"
    lib = payload["library"]
    timed = timed_paths(payload, runs)
    lines = [f"# Throughput: one {args.preset}-shaped epoch ({n_images} random images {side}x{side}, {config.network}, "
             f"batch {config.batch_size}, alternating rotation) on {gpu}", "",
             "| path | images/s | epoch s | peak memory GiB |", "|---|---|---|---|"]
    for name in timed:
        row = payload[name]
        seconds = n_images / row["images_per_second"]
        lines.append(f"| {name} | {row['images_per_second']:.1f} | {seconds:.2f} | {row['peak_memory_gb']:.2f} |")
    lines += [f"| {name} | failed: {payload[name]['error']} | | |" for name in runs if "error" in payload.get(name, {})]
    if "speedup" in payload:
        lines += ["", f"Library / reference: {payload['speedup']:.2f}x (same run, same device)."]
        lines += [f"{name} / reference: {ratio:.2f}x." for name, ratio in payload["speedups"].items() if name != "library"]
    lines += ["", f"Hungarian step: {lib['hungarian_seconds_per_epoch']:.2f} s of CPU time per library epoch "
              f"({100 * lib['hungarian_share']:.1f}% of its wall time; on a GPU it overlaps the forward pass); "
              f"one k-means refinement (10 restarts, {n_images} embeddings): {lib['kmeans_seconds']:.2f} s.",
              "Both paths are timed after a warm-up epoch; peak memory on a CPU is the process's peak so far.",
              f"Projected {PAPER_EPOCHS}-epoch preset on all images of the data set on this device: "
              f"{lib['projected_preset_hours']:.2f} h (epochs + per-epoch evaluation + {PAPER_REFINE_EPOCHS} k-means "
              f"refinements, scaled linearly from {n_images} images; k-means share {100 * lib['kmeans_share_of_400_epochs']:.1f}%).",
              *[f"{name}: projected {payload[name]['projected_preset_hours']:.2f} h." for name in timed
                if name not in ("library", "reference")],
              "", f"Data: {payload['data']}. Machine: {payload['machine']}"]
    return lines


if __name__ == "__main__":
    main()
