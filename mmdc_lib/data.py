"""Data sets as one uint8 array (N, H, W, C) plus labels, ready to live on the device.

Train and test splits are concatenated and clustered together, as in the paper.
The real torchvision loaders download for readers; here (no network) pass
``download=False`` and a ``data_dir`` that already holds the files.
"""
from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100-20", "stl10", "folder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")

# The IDX files of MNIST and Fashion-MNIST, as published and as Debian's dataset-fashion-mnist installs them.
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


@dataclass
class ImageData:
    images: np.ndarray  # (N, H, W, C) uint8
    labels: Optional[np.ndarray]  # (N,) int64, or None
    name: str
    class_names: list[str] = field(default_factory=list)


def load_digits_images() -> ImageData:
    """scikit-learn's 1,797 handwritten digits (8x8, values 0..16) scaled to uint8."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return ImageData(images, digits.target.astype(np.int64), "digits", [str(d) for d in range(10)])


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally .gz): the format of MNIST and Fashion-MNIST."""
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    n_dims = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: header says {shape}, found {data.size} values.")
    return data.reshape(shape)


def _find_idx_folder(data_dir: Path) -> Optional[Path]:
    """A folder holding the four IDX files directly (plain or .gz), or None."""
    def present(folder: Path, stem: str) -> bool:
        return (folder / stem).exists() or (folder / f"{stem}.gz").exists()

    return data_dir if all(present(data_dir, stem) for stem in IDX_FILES.values()) else None


def _load_idx_folder(folder: Path, name: str, class_names: list[str]) -> ImageData:
    def read(stem: str) -> np.ndarray:
        plain = folder / stem
        return read_idx(plain if plain.exists() else folder / f"{stem}.gz")

    images = np.concatenate([read(IDX_FILES["train_images"]), read(IDX_FILES["test_images"])])[..., None]
    labels = np.concatenate([read(IDX_FILES["train_labels"]), read(IDX_FILES["test_labels"])]).astype(np.int64)
    return ImageData(images, labels, name, class_names)


def _load_mnist_like(dataset_class: Callable, name: str, data_dir: Path, download: bool) -> ImageData:
    """A flat folder of the four IDX files (e.g. Debian's), else torchvision's own layout."""
    folder = _find_idx_folder(data_dir)
    if folder is not None:
        return _load_idx_folder(folder, name, list(dataset_class.classes))
    splits = [dataset_class(str(data_dir), train=train, download=download) for train in (True, False)]
    images = np.concatenate([split.data.numpy() for split in splits])[..., None]
    labels = np.concatenate([split.targets.numpy() for split in splits]).astype(np.int64)
    return ImageData(images, labels, name, list(splits[0].classes))


def _load_cifar(dataset_class: Callable, name: str, data_dir: Path, download: bool, coarse: bool = False) -> ImageData:
    splits = [dataset_class(str(data_dir), train=train, download=download) for train in (True, False)]
    images = np.concatenate([split.data for split in splits])
    if not coarse:
        labels = np.concatenate([np.asarray(split.targets) for split in splits])
        return ImageData(images, labels.astype(np.int64), name, list(splits[0].classes))
    # CIFAR-100's 20 superclasses: torchvision reads the fine labels, so read the coarse ones from the pickles.
    folder = data_dir / dataset_class.base_folder
    labels = []
    for file_name, _ in dataset_class.train_list + dataset_class.test_list:
        with open(folder / file_name, "rb") as handle:
            labels.append(np.asarray(pickle.load(handle, encoding="latin1")["coarse_labels"]))
    with open(folder / dataset_class.meta["filename"], "rb") as handle:
        class_names = list(pickle.load(handle, encoding="latin1")["coarse_label_names"])
    return ImageData(images, np.concatenate(labels).astype(np.int64), name, class_names)


def _load_stl10(data_dir: Path, download: bool) -> ImageData:
    from torchvision.datasets import STL10

    splits = [STL10(str(data_dir), split=split, download=download) for split in ("train", "test")]
    images = np.concatenate([split.data for split in splits]).transpose(0, 2, 3, 1)  # (N, 3, 96, 96) -> NHWC
    labels = np.concatenate([split.labels for split in splits]).astype(np.int64)
    return ImageData(np.ascontiguousarray(images), labels, "stl10", list(splits[0].classes))


def load_image_folder(folder: str | os.PathLike, size: Optional[int] = None) -> ImageData:
    """Every image file under ``folder``; sub-folder names become labels when every image has one.

    Images are decoded once with PIL, converted to RGB (or kept grayscale when
    all are), and resized to ``size`` x ``size`` (default: the first image's size).
    """
    from PIL import Image

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist.")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not paths:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found under {folder}.")
    pictures = [Image.open(p) for p in paths]
    mode = "L" if all(p.mode in ("L", "1", "I;16") for p in pictures) else "RGB"
    if size is None:
        size = min(pictures[0].size)
    arrays = [np.asarray(p.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.uint8) for p in pictures]
    images = np.stack(arrays)
    if images.ndim == 3:
        images = images[..., None]
    parents = [p.parent for p in paths]
    if all(parent != folder for parent in parents):
        class_names = sorted({p.relative_to(folder).parts[0] for p in paths})
        labels = np.array([class_names.index(p.relative_to(folder).parts[0]) for p in paths], dtype=np.int64)
    else:
        class_names, labels = [], None
    return ImageData(images, labels, folder.name, class_names)


def load_dataset(name: str, data_dir: Optional[str | os.PathLike] = None, download: bool = True) -> ImageData:
    """Load a data set by name (see ``DATASETS``); ``data_dir`` defaults to ./data."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if name == "digits":
        return load_digits_images()
    data_dir = Path(data_dir) if data_dir is not None else Path("data")
    if not download and not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist (and downloading is off).")
    from torchvision import datasets

    try:
        if name == "mnist":
            return _load_mnist_like(datasets.MNIST, name, data_dir, download)
        if name == "fashion-mnist":
            return _load_mnist_like(datasets.FashionMNIST, name, data_dir, download)
        if name == "cifar10":
            return _load_cifar(datasets.CIFAR10, name, data_dir, download)
        if name == "cifar100-20":
            return _load_cifar(datasets.CIFAR100, name, data_dir, download, coarse=True)
        if name == "stl10":
            return _load_stl10(data_dir, download)
        return load_image_folder(data_dir)
    except RuntimeError as error:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
        raise FileNotFoundError(f"{name} not found in {data_dir}: {error}") from None
