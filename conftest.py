"""pytest: chapters that need Fashion-MNIST on disk are skipped, with the reason, where it is not.

Chapters 6 and 7 read Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package (``.ci/run`` installs
it) or from ``book/data/fashion-mnist``; in Colab they download it. The README's two commands must pass on a
fresh clone with no network and no system data packages, so there the two chapters are reported as
skipped instead of failing on a download that cannot happen.
"""
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent
# Where the chapters look (they run with book/ as their working directory).
FASHION_MNIST_COPIES = (Path("/usr/share/datasets/fashion-mnist"), ROOT / "book" / "data" / "fashion-mnist")
NEEDS_FASHION_MNIST = {"06_benchmarks.ipynb", "07_your_images.ipynb"}


def on_disk(folder: Path) -> bool:
    """The four IDX files in ``folder`` (Debian's layout) or under torchvision's ``FashionMNIST/raw``.

    An empty folder is not enough: a download that failed offline leaves one behind.
    """
    from mmdc_lib.data import _find_idx_folder

    return folder.is_dir() and any(_find_idx_folder(f) is not None for f in (folder, folder / "FashionMNIST" / "raw"))


def pytest_collection_modifyitems(config, items):
    if any(on_disk(folder) for folder in FASHION_MNIST_COPIES):
        return
    skip = pytest.mark.skip(reason="Fashion-MNIST is not on disk (apt-get install dataset-fashion-mnist, "
                                   "or put its IDX files in book/data/fashion-mnist)")
    for item in items:
        if Path(str(item.fspath)).name in NEEDS_FASHION_MNIST:
            item.add_marker(skip)
