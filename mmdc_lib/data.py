"""Data sets as one uint8 array (N, H, W, C) plus labels, ready to live on the device.

Train and test splits are concatenated and clustered together, as in the paper.
The real torchvision loaders download for readers; here (no network) pass
``download=False`` and a ``data_dir`` that already holds the files.
"""
from __future__ import annotations

import contextlib
import gzip
import os
import pickle
import shutil
import urllib.error
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np

DATASETS = ("digits", "mnist", "fashion-mnist", "cifar10", "cifar100-20", "stl10", "folder")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# A folder's images are resized to the median of their shorter sides, at most this (``size=`` overrides).
MAX_DEFAULT_IMAGE_SIZE = 96
MAX_IMAGE_SIZE = 1024  # the largest side a folder's images may be resized to
PROGRESS_FROM = 1000  # show a progress bar when a folder holds at least this many images
# PIL modes of one channel; the high-bit-depth ones are scaled to 8 bits, not clipped.
GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F")
HIGH_DEPTH_MODES = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")

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

    def __post_init__(self) -> None:
        if self.labels is not None and len(self.labels) != len(self.images):
            raise ValueError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels; they should match one to one.")


def load_digits_images() -> ImageData:
    """scikit-learn's 1,797 handwritten digits (8x8, values 0..16) scaled to uint8."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    return ImageData(images, digits.target.astype(np.int64), "digits", [str(d) for d in range(10)])


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (optionally .gz): the format of MNIST and Fashion-MNIST.

    ValueError naming the file for a broken gzip stream, a bad header or a size
    that disagrees with the header.
    """
    compressed = str(path).endswith(".gz")
    try:
        with (gzip.open if compressed else open)(path, "rb") as handle:
            raw = handle.read()
    except (gzip.BadGzipFile, EOFError, zlib.error) as error:
        raise ValueError(f"{path} is not a valid gzip file or is truncated ({error}).") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an IDX file of unsigned bytes.")
    n_dims = raw[3]
    if not 1 <= n_dims <= 4:
        raise ValueError(f"{path} has a bad IDX header: {n_dims} dimensions (1 to 4 expected).")
    if len(raw) < 4 + 4 * n_dims:
        raise ValueError(f"{path} is truncated: its header ends after {len(raw)} bytes.")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(n_dims))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * n_dims)
    expected = int(np.prod(shape))
    if data.size < expected:
        raise ValueError(f"{path} is truncated: header says {shape}, found {data.size} values.")
    if data.size > expected:
        raise ValueError(f"{path} has {data.size - expected} bytes more than its header's shape {shape} holds.")
    return data.reshape(shape)


def _find_idx_folder(data_dir: Path) -> Optional[Path]:
    """A folder holding the four IDX files directly (plain or .gz), or None."""
    def present(folder: Path, stem: str) -> bool:
        return (folder / stem).exists() or (folder / f"{stem}.gz").exists()

    return data_dir if all(present(data_dir, stem) for stem in IDX_FILES.values()) else None


def _load_idx_folder(folder: Path, name: str, class_names: list[str]) -> ImageData:
    def read(stem: str, n_dims: int) -> np.ndarray:
        path = folder / stem if (folder / stem).exists() else folder / f"{stem}.gz"
        array = read_idx(path)
        if array.ndim != n_dims:
            kind = "images (N, H, W)" if n_dims == 3 else "labels (N,)"
            raise ValueError(f"{path} holds an array of shape {array.shape}; expected {kind}.")
        return array

    splits = []
    for split in ("train", "test"):
        images, labels = read(IDX_FILES[f"{split}_images"], 3), read(IDX_FILES[f"{split}_labels"], 1)
        if len(images) != len(labels):
            raise ValueError(
                f"{folder}: {IDX_FILES[f'{split}_images']} holds {len(images)} images but "
                f"{IDX_FILES[f'{split}_labels']} holds {len(labels)} labels."
            )
        splits.append((images, labels))
    images = np.concatenate([images for images, _ in splits])[..., None]
    labels = np.concatenate([labels for _, labels in splits]).astype(np.int64)
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


def _is_hidden(path: Path, folder: Path) -> bool:
    """Hidden files and folders, and what macOS archives leave (``._*`` files, ``__MACOSX/``)."""
    return any(part.startswith(".") or part == "__MACOSX" for part in path.relative_to(folder).parts)


class BadImageError(ValueError):
    """An image file that cannot be decoded."""


def _read_image(path: Path, size: int, mode: str) -> np.ndarray:
    """Decode one file (opened and closed here), resized to size x size.

    Returns uint8 (size, size[, 3]), or float32 (size, size) for 16/32-bit
    images, which the caller scales to 8 bits over the whole folder.
    """
    from PIL import Image

    try:
        with Image.open(path) as picture:
            picture.load()
            if picture.mode in HIGH_DEPTH_MODES:
                values = Image.fromarray(np.asarray(picture, dtype=np.float32), mode="F")
                return np.asarray(values.resize((size, size), Image.BILINEAR), dtype=np.float32)
            return np.asarray(picture.convert(mode).resize((size, size), Image.BILINEAR), dtype=np.uint8)
    except Exception as error:  # PIL raises many types for broken files (OSError, SyntaxError, ValueError, ...)
        raise BadImageError(f"cannot read image {path}: {error}") from None


def _header(path: Path) -> tuple[tuple[int, int], str]:
    """(width, height) and PIL mode, from the file's header only."""
    from PIL import Image

    try:
        with Image.open(path) as picture:
            return picture.size, picture.mode
    except Exception as error:
        raise BadImageError(f"cannot read image {path}: {error}") from None


def load_image_folder(
    folder: str | os.PathLike, size: Optional[int] = None, skip_bad: bool = False, progress: Optional[bool] = None,
) -> ImageData:
    """Every image file under ``folder``; sub-folder names become labels when every image has one.

    Files are opened, decoded and closed one at a time (any number of images
    loads), converted to RGB (or kept grayscale when all are), and resized to
    ``size`` x ``size``: by default the median of the images' shorter sides, at
    most ``MAX_DEFAULT_IMAGE_SIZE`` (96). 16-bit (and 32-bit) grayscale images
    are scaled to 8 bits linearly, 0 staying 0 and the largest value among them
    becoming 255. Hidden files and folders and macOS's ``__MACOSX``/``._*``
    leftovers are ignored. A file that cannot be decoded raises ValueError
    naming it; with ``skip_bad=True`` it is skipped and a UserWarning counts
    the skipped files. ``progress``: a progress bar (default: from 1,000 images).
    """
    from tqdm.auto import tqdm

    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder {folder} does not exist.")
    if size is not None:
        from .config import check_int

        size = check_int("size", size, minimum=2)
        if size > MAX_IMAGE_SIZE:
            raise ValueError(f"size={size} should be <= {MAX_IMAGE_SIZE}.")
    candidates = sorted(
        p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not _is_hidden(p, folder) and p.is_file()
    )
    if not candidates:
        raise ValueError(f"no image files ({', '.join(IMAGE_SUFFIXES)}) found under {folder}.")
    show = progress if progress is not None else len(candidates) >= PROGRESS_FROM
    skipped: list[Path] = []

    headers = {}
    for path in tqdm(candidates, desc="reading headers", unit="image", disable=not show):
        try:
            headers[path] = _header(path)
        except BadImageError as error:
            if not skip_bad:
                raise BadImageError(f"{error} (pass skip_bad=True, or --skip-bad-images, to skip such files)") from None
            skipped.append(path)
    paths = list(headers)
    if not paths:
        raise ValueError(f"none of the {len(candidates)} image files under {folder} could be read.")
    mode = "L" if all(m in GRAY_MODES for _, m in headers.values()) else "RGB"
    if size is None:
        size = min(int(np.median([min(wh) for wh, _ in headers.values()])), MAX_DEFAULT_IMAGE_SIZE)
    arrays, kept = [], []
    for path in tqdm(paths, desc="loading images", unit="image", disable=not show):
        try:
            arrays.append(_read_image(path, size, mode))
        except BadImageError as error:
            if not skip_bad:
                raise BadImageError(f"{error} (pass skip_bad=True, or --skip-bad-images, to skip such files)") from None
            skipped.append(path)
            continue
        kept.append(path)
    if not kept:
        raise ValueError(f"none of the {len(candidates)} image files under {folder} could be read.")
    if skipped:
        names = ", ".join(str(p.relative_to(folder)) for p in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        lost = sorted({p.relative_to(folder).parts[0] for p in skipped if p.parent != folder}
                      - {p.relative_to(folder).parts[0] for p in kept})
        warnings.warn(
            f"skipped {len(skipped)} of {len(candidates)} image files that could not be read: {names}"
            + (f"; no image of {', '.join(lost)} is left, so that sub-folder is not a class" if lost else ""),
            UserWarning, stacklevel=2,
        )
    deep = [a for a in arrays if a.dtype != np.uint8]
    if deep:
        top = max(float(a.max()) for a in deep)
        scale = 255.0 / top if top > 0 else 0.0
        arrays = [a if a.dtype == np.uint8 else _gray_to_mode(np.round(np.clip(a * scale, 0, 255)).astype(np.uint8), mode)
                  for a in arrays]
    images = np.stack(arrays)
    if images.ndim == 3:
        images = images[..., None]
    parents = [p.parent for p in kept]
    if all(parent != folder for parent in parents):
        class_names = sorted({p.relative_to(folder).parts[0] for p in kept})
        labels = np.array([class_names.index(p.relative_to(folder).parts[0]) for p in kept], dtype=np.int64)
    else:
        class_names, labels = [], None
    return ImageData(images, labels, folder.name, class_names)


def _gray_to_mode(gray: np.ndarray, mode: str) -> np.ndarray:
    """uint8 (H, W) -> (H, W) for "L", (H, W, 3) for "RGB"."""
    return np.repeat(gray[..., None], 3, axis=2) if mode == "RGB" else gray


def _first_missing(path: Path) -> Optional[Path]:
    """The outermost folder of ``path`` (itself included) that does not exist yet, or None."""
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def _load_torchvision(datasets, name: str, data_dir: Path, download: bool) -> ImageData:
    """One of torchvision's data sets by our name (``datasets`` is ``torchvision.datasets``)."""
    if name == "mnist":
        return _load_mnist_like(datasets.MNIST, name, data_dir, download)
    if name == "fashion-mnist":
        return _load_mnist_like(datasets.FashionMNIST, name, data_dir, download)
    if name == "cifar10":
        return _load_cifar(datasets.CIFAR10, name, data_dir, download)
    if name == "cifar100-20":
        return _load_cifar(datasets.CIFAR100, name, data_dir, download, coarse=True)
    return _load_stl10(data_dir, download)


DOWNLOAD_LOCK = ".download.lock"


@contextlib.contextmanager
def download_lock(data_dir: Path):
    """Hold ``data_dir/.download.lock`` while a data set may download there: another process downloading into the
    same folder (two chapters run at once, say) waits, then finds the files complete instead of writing them too.
    POSIX file locks (``fcntl``: Linux, macOS, Colab); no lock where there are none (Windows) or where the folder
    cannot hold one (read-only, or a file system that refuses locks)."""
    handle = _locked_file(data_dir / DOWNLOAD_LOCK)
    try:
        yield
    finally:
        if handle is not None:
            handle.close()  # releases the lock


def _locked_file(path: Path):
    """``path`` opened and locked (exclusive), or None where it cannot be. A lock file that its holder deleted
    (a failed download removes the folder it made) is not taken: the lock is taken again on the path's new file."""
    try:
        import fcntl
    except ImportError:  # Windows
        return None
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            handle = open(path, "w")
        except OSError:  # read-only: nothing can be downloaded there either
            return None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            if os.stat(path).st_ino == os.fstat(handle.fileno()).st_ino:
                return handle
        except FileNotFoundError:  # deleted while this process waited: lock the new one
            pass
        except OSError:  # a file system without locks (some network mounts)
            handle.close()
            return None
        handle.close()


def load_dataset(
    name: str, data_dir: Optional[str | os.PathLike] = None, download: bool = True,
    image_size: Optional[int] = None, skip_bad: bool = False, progress: Optional[bool] = None,
) -> ImageData:
    """Load a data set by name (see ``DATASETS``); ``data_dir`` defaults to ./data.

    ``image_size``, ``skip_bad`` and ``progress`` apply to ``folder`` (see ``load_image_folder``).
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}.")
    if name == "digits":
        return load_digits_images()
    data_dir = Path(data_dir) if data_dir is not None else Path("data")
    if data_dir.exists() and not data_dir.is_dir():
        raise NotADirectoryError(f"data directory {data_dir} is a file, not a folder.")
    if not download and not data_dir.is_dir():
        raise FileNotFoundError(f"data directory {data_dir} does not exist (and downloading is off).")
    if name == "folder":  # no download: its errors name their files (load_image_folder)
        return load_image_folder(data_dir, size=image_size, skip_bad=skip_bad, progress=progress)
    from torchvision import datasets

    created = _first_missing(data_dir)  # the folder a failed download would leave behind, empty
    with download_lock(data_dir) if download else contextlib.nullcontext():  # held until the clean-up is done
        return _load_or_explain(datasets, name, data_dir, download, created)


def _load_or_explain(datasets, name: str, data_dir: Path, download: bool, created: Optional[Path]) -> ImageData:
    """``_load_torchvision``, its errors named: a data set not found, or a download that failed (whose empty
    folders, ``created`` by it, are removed)."""
    try:
        return _load_torchvision(datasets, name, data_dir, download)
    except (RuntimeError, urllib.error.URLError, TimeoutError, ConnectionError) as error:
        # No network, a proxy, a server down: urllib's URLError, a timeout or a reset, or torchvision's MNIST
        # loaders' RuntimeError("Error downloading FILE:\nTried MIRROR, got:\nERROR\n...") after every mirror.
        failed_download = download and (not isinstance(error, RuntimeError) or str(error).startswith("Error downloading"))
        if not failed_download:  # torchvision: "Dataset not found or corrupted. You can use download=True ..."
            raise FileNotFoundError(f"{name} not found in {data_dir}: {error}") from None
        if created is not None and not any(path.is_file() and path.name != DOWNLOAD_LOCK for path in created.rglob("*")):
            shutil.rmtree(created, ignore_errors=True)  # the download made it and left nothing in it
        # the last mirror's error for torchvision's RuntimeError, else urllib's reason
        reason = str(error).rsplit("got:", 1)[-1] if isinstance(error, RuntimeError) else getattr(error, "reason", error)
        raise ConnectionError(f"could not download {name} to {data_dir} ({' '.join(str(reason).split())}); put its "
                              "files there and run again without downloading (--no-download, download=False).") from None
