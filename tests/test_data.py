"""Loaders on small files written here in the exact on-disk formats of the real data sets.

Nothing can be downloaded in CI, so each test writes a miniature copy of the
data set. torchvision verifies CIFAR and STL files against the MD5 sums of the
real releases; these tests get past that check deliberately, by replacing the
expected sums with those of the files they wrote (``patch_md5``), and nothing else.
"""
import gzip
import hashlib
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from torchvision import datasets

from mmdc_lib.data import load_dataset, load_image_folder, read_idx


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def patch_md5(monkeypatch, dataset_class, folder: Path, *list_names: str) -> None:
    """Point torchvision's integrity check at the MD5 sums of the miniature files (visible on purpose)."""
    for list_name in list_names:
        entries = getattr(dataset_class, list_name)
        if isinstance(entries, dict):  # the `meta` entry of CIFAR
            monkeypatch.setattr(dataset_class, list_name, {**entries, "md5": md5(folder / entries["filename"])})
        else:
            monkeypatch.setattr(dataset_class, list_name, [[name, md5(folder / name)] for name, _ in entries])


def write_idx(path: Path, array: np.ndarray, compress: bool) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape)
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def write_mnist_files(folder: Path, compress: bool, n_train: int = 12, n_test: int = 5):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, array in arrays.items():
        write_idx(folder / name, array, compress)
    return arrays


@pytest.mark.parametrize("compress", [True, False])
def test_fashion_mnist_loads_from_a_flat_folder_of_idx_files_like_debians(tmp_path, compress):
    arrays = write_mnist_files(tmp_path, compress)
    data = load_dataset("fashion-mnist", tmp_path, download=False)
    assert data.images.shape == (17, 28, 28, 1) and data.images.dtype == np.uint8
    assert np.array_equal(data.images[12:, ..., 0], arrays["t10k-images-idx3-ubyte"])  # test split after train
    assert np.array_equal(data.labels[:12], arrays["train-labels-idx1-ubyte"])
    assert data.class_names[0] == "T-shirt/top"


@pytest.mark.parametrize("name,folder", [("mnist", "MNIST"), ("fashion-mnist", "FashionMNIST")])
def test_mnist_like_sets_load_from_torchvisions_own_layout(tmp_path, name, folder):
    arrays = write_mnist_files(tmp_path / folder / "raw", compress=False)
    data = load_dataset(name, tmp_path, download=False)
    assert data.images.shape == (17, 28, 28, 1)
    assert np.array_equal(data.images[:12, ..., 0], arrays["train-images-idx3-ubyte"])


def test_read_idx_rejects_a_truncated_file(tmp_path):
    path = tmp_path / "bad-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + b"\x00" * 10)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def write_pickle(path: Path, content: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(content, handle)


def test_cifar10_loads_train_and_test_batches_in_the_python_pickle_format(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batches[name] = {"data": rng.integers(0, 256, (3, 3072), dtype=np.uint8), "labels": rng.integers(0, 10, 3).tolist()}
        write_pickle(folder / name, batches[name])
    write_pickle(folder / "batches.meta", {"label_names": [f"class{i}" for i in range(10)]})
    patch_md5(monkeypatch, datasets.CIFAR10, folder, "train_list", "test_list", "meta")
    data = load_dataset("cifar10", tmp_path, download=False)
    assert data.images.shape == (18, 32, 32, 3)
    first = batches["data_batch_1"]["data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    assert np.array_equal(data.images[0], first)
    assert data.labels[-3:].tolist() == batches["test_batch"]["labels"]


def test_cifar10_with_wrong_checksums_is_reported_as_missing_or_corrupt(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    (folder / "data_batch_1").write_bytes(b"not a pickle")
    with pytest.raises(FileNotFoundError, match="cifar10 not found in"):
        load_dataset("cifar10", tmp_path, download=False)


def test_cifar100_20_reads_the_coarse_superclass_labels(tmp_path, monkeypatch):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    coarse = {}
    for name in ("train", "test"):
        coarse[name] = rng.integers(0, 20, 4).tolist()
        write_pickle(folder / name, {"data": rng.integers(0, 256, (4, 3072), dtype=np.uint8),
                                     "fine_labels": rng.integers(0, 100, 4).tolist(), "coarse_labels": coarse[name]})
    write_pickle(folder / "meta", {"fine_label_names": [f"f{i}" for i in range(100)],
                                   "coarse_label_names": [f"super{i}" for i in range(20)]})
    patch_md5(monkeypatch, datasets.CIFAR100, folder, "train_list", "test_list", "meta")
    data = load_dataset("cifar100-20", tmp_path, download=False)
    assert data.labels.tolist() == coarse["train"] + coarse["test"]
    assert data.class_names[3] == "super3" and len(data.class_names) == 20


def test_stl10_loads_the_labelled_train_and_test_binaries(tmp_path, monkeypatch):
    folder = tmp_path / "stl10_binary"
    folder.mkdir()
    rng = np.random.default_rng(0)
    images = {}
    for split, n in (("train", 3), ("test", 2), ("unlabeled", 1)):
        # STL-10 stores each image as 3 x 96 x 96 bytes in column-major order.
        images[split] = rng.integers(0, 256, (n, 96, 96, 3), dtype=np.uint8)
        images[split].transpose(0, 3, 2, 1).tofile(folder / f"{split}_X.bin")
        if split != "unlabeled":
            (rng.integers(1, 11, n).astype(np.uint8)).tofile(folder / f"{split}_y.bin")  # labels are 1-based
    (folder / "class_names.txt").write_text("\n".join(f"c{i}" for i in range(10)))
    patch_md5(monkeypatch, datasets.STL10, folder, "train_list", "test_list")
    data = load_dataset("stl10", tmp_path, download=False)
    assert data.images.shape == (5, 96, 96, 3)
    assert np.array_equal(data.images[:3], images["train"]) and np.array_equal(data.images[3:], images["test"])
    assert data.labels.min() >= 0 and data.labels.max() <= 9


def test_image_folder_loads_files_with_subfolder_labels_and_resizes(tmp_path):
    for label, color in (("cats", 30), ("dogs", 200)):
        (tmp_path / label).mkdir()
        for i in range(3):
            Image.new("RGB", (20 + i, 20), (color, color, 0)).save(tmp_path / label / f"{i}.png")
    data = load_image_folder(tmp_path, size=16)
    assert data.images.shape == (6, 16, 16, 3)
    assert data.class_names == ["cats", "dogs"] and data.labels.tolist() == [0, 0, 0, 1, 1, 1]


def test_image_folder_without_images_raises(tmp_path):
    with pytest.raises(ValueError, match="no image files"):
        load_image_folder(tmp_path)


def test_digits_are_embedded_and_scaled_to_uint8():
    data = load_dataset("digits")
    assert data.images.shape == (1797, 8, 8, 1) and data.images.dtype == np.uint8
    assert data.images.max() == 255 and len(set(data.labels.tolist())) == 10


def test_unknown_dataset_and_missing_directory_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_dataset("cifar10", tmp_path / "nowhere", download=False)


# --- robustness: folders as users have them ------------------------------------
def write_gray_images(folder: Path, count: int, side: int = 8) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (side, side), dtype=np.uint8)).save(folder / f"{i:05d}.png")


def test_folder_of_more_images_than_the_open_file_limit_loads(tmp_path):
    import subprocess
    import sys

    write_gray_images(tmp_path / "many", 300)
    script = (
        "import resource, sys\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (128, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))\n"
        "from mmdc_lib.data import load_image_folder\n"
        "print(load_image_folder(sys.argv[1]).images.shape)\n"
    )
    result = subprocess.run([sys.executable, "-c", script, str(tmp_path / "many")], capture_output=True, text=True,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert "(300, 8, 8, 1)" in result.stdout


def test_folder_images_take_the_median_shorter_side_not_the_first_files(tmp_path):
    Image.new("L", (400, 300)).save(tmp_path / "0_big_photo.png")  # sorted first
    for i in range(4):
        Image.new("L", (24, 20 + i)).save(tmp_path / f"{i + 1}.png")
    assert load_image_folder(tmp_path).images.shape == (5, 22, 22, 1)  # shorter sides 300, 20, 21, 22, 23: median 22
    assert load_image_folder(tmp_path, size=12).images.shape == (5, 12, 12, 1)


def test_folder_default_size_is_capped_for_large_photos(tmp_path):
    for i in range(2):
        Image.new("RGB", (640, 480)).save(tmp_path / f"{i}.jpg")
    assert load_image_folder(tmp_path).images.shape == (2, 96, 96, 3)


def test_sixteen_bit_grayscale_pngs_are_scaled_to_eight_bits_not_clipped(tmp_path):
    ramp = np.tile(np.arange(0, 4096, 64, dtype=np.uint16), (64, 1))  # a 12-bit microscope ramp, 0..4032
    Image.fromarray(ramp).save(tmp_path / "a.png")
    Image.fromarray(ramp // 2).save(tmp_path / "b.png")
    assert Image.open(tmp_path / "a.png").mode.startswith("I")
    images = load_image_folder(tmp_path, size=64).images[..., 0]
    assert images[0].max() == 255 and images[0].min() == 0
    assert len(np.unique(images[0])) > 32  # a ramp, not 0/255
    assert abs(int(images[1].max()) - 127) <= 1  # half as bright stays half as bright


def test_hidden_files_and_macos_archive_leftovers_are_ignored(tmp_path):
    write_gray_images(tmp_path / "cats", 2)
    write_gray_images(tmp_path / "dogs", 2)
    (tmp_path / "cats" / "._00000.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / "__MACOSX" / "cats").mkdir(parents=True)
    (tmp_path / "__MACOSX" / "cats" / "._00001.png").write_bytes(b"\x00\x05\x16\x07 AppleDouble")
    (tmp_path / ".thumbnails").mkdir()
    (tmp_path / ".thumbnails" / "x.png").write_bytes(b"junk")
    data = load_image_folder(tmp_path)
    assert data.images.shape[0] == 4 and data.class_names == ["cats", "dogs"]


@pytest.mark.parametrize("content", ["not an image", "truncated"])
def test_a_file_that_cannot_be_decoded_is_an_error_naming_it(tmp_path, content):
    write_gray_images(tmp_path, 3, side=32)
    good = (tmp_path / "00000.png").read_bytes()
    (tmp_path / "bad.png").write_bytes(b"plain text, png suffix" if content == "not an image" else good[: len(good) // 2])
    with pytest.raises(ValueError, match=r"cannot read image .*bad\.png.*skip_bad=True"):
        load_image_folder(tmp_path)


def test_skip_bad_skips_undecodable_files_and_counts_them(tmp_path):
    write_gray_images(tmp_path, 3)
    (tmp_path / "bad.png").write_bytes(b"plain text")
    with pytest.warns(UserWarning, match=r"skipped 1 of 4 image files that could not be read: bad\.png"):
        data = load_image_folder(tmp_path, skip_bad=True)
    assert data.images.shape[0] == 3


def test_idx_image_and_label_counts_must_match(tmp_path):
    write_mnist_files(tmp_path, compress=True)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(13), compress=True)  # 12 images, 13 labels
    with pytest.raises(ValueError, match="train-images-idx3-ubyte holds 12 images but train-labels-idx1-ubyte holds 13 labels"):
        load_dataset("fashion-mnist", tmp_path, download=False)


def test_idx_gz_that_is_not_gzip_or_is_truncated_names_the_file(tmp_path):
    write_mnist_files(tmp_path, compress=True)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    whole = path.read_bytes()
    path.write_bytes(b"plain bytes, not gzip")
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file or is truncated"):
        load_dataset("fashion-mnist", tmp_path, download=False)
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte\.gz is not a valid gzip file or is truncated"):
        read_idx(path)


def test_idx_bad_dimension_byte_and_extra_bytes_are_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 200]) + b"\x00" * 16)
    with pytest.raises(ValueError, match="bad IDX header: 200 dimensions"):
        read_idx(path)
    path.write_bytes(bytes([0, 0, 8, 1]) + (3).to_bytes(4, "big") + b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="1 bytes more than its header's shape"):
        read_idx(path)


def test_idx_file_of_the_wrong_rank_is_named(tmp_path):
    write_mnist_files(tmp_path, compress=False)
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros((12, 2)), compress=False)
    with pytest.raises(ValueError, match=r"train-labels-idx1-ubyte holds an array of shape \(12, 2\); expected labels"):
        load_dataset("mnist", tmp_path, download=False)


def test_image_data_with_more_labels_than_images_is_refused():
    from mmdc_lib.data import ImageData

    with pytest.raises(ValueError, match="120 images but 121 labels"):
        ImageData(np.zeros((120, 8, 8, 1), np.uint8), np.zeros(121, np.int64), "mine")


def test_data_dir_that_is_a_file_is_named(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="is a file, not a folder"):
        load_dataset("cifar10", tmp_path / "file")


def test_a_failed_download_names_the_data_set_and_folder_and_leaves_no_empty_folder(tmp_path, monkeypatch):
    import urllib.error

    import torchvision

    def unreachable(root, *args, **kwargs):  # as torchvision: make the folder, then fail to reach the server
        Path(root).mkdir(parents=True, exist_ok=True)
        raise urllib.error.URLError("Name or service not known")

    def mirrors_unreachable(root, *args, **kwargs):  # as torchvision's MNIST: each mirror's error kept, then raised
        (Path(root) / "FashionMNIST" / "raw").mkdir(parents=True, exist_ok=True)
        errors = []
        for mirror in ("https://one/", "https://two/"):
            try:
                raise urllib.error.URLError("Name or service not known")
            except urllib.error.URLError as error:
                errors.append(f"Tried {mirror}, got:\n{error}\n")
        raise RuntimeError("Error downloading train-images-idx3-ubyte.gz:\n" + "".join(errors))

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", unreachable)
    monkeypatch.setattr(torchvision.datasets, "FashionMNIST", mirrors_unreachable)
    for name, folder, reason in (("cifar10", tmp_path / "nowhere", "Name or service not known"),
                                 ("fashion-mnist", tmp_path / "data" / "fashion-mnist", "<urlopen error Name or service not known>")):
        with pytest.raises(ConnectionError, match=rf"could not download {name} to .*{folder.name} \({reason}\); "
                                                  r"put its files there and run again without downloading"):
            load_dataset(name, folder, download=True)
        assert not folder.exists() and tmp_path.exists()
    assert not (tmp_path / "data").exists()  # made for the download, left empty: removed too


def test_a_corrupt_data_set_found_while_downloading_is_still_named_as_not_found_and_its_folder_kept(tmp_path, monkeypatch):
    import torchvision

    def corrupt(root, *args, **kwargs):
        raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", corrupt)
    (tmp_path / "cifar10").mkdir()
    with pytest.raises(FileNotFoundError, match="cifar10 not found in .*Dataset not found or corrupted"):
        load_dataset("cifar10", tmp_path / "cifar10", download=True)
    assert (tmp_path / "cifar10").is_dir()


def test_a_download_holds_the_folders_lock_so_another_process_waits_for_it(tmp_path, monkeypatch):
    """Two chapters run at once (the tests' workers) would otherwise download into one folder together."""
    import fcntl

    import torchvision

    from mmdc_lib.data import DOWNLOAD_LOCK

    def lock_is_free(folder: Path) -> bool:
        with open(folder / DOWNLOAD_LOCK, "w") as other:  # another open file: as another process's lock
            try:
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                return False

    seen = []

    def downloading(root, *args, download, **kwargs):
        if download:
            seen.append(lock_is_free(Path(root)))
        raise RuntimeError("Dataset not found or corrupted. You can use download=True to download it")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", downloading)
    with pytest.raises(FileNotFoundError, match="cifar10 not found in"):
        load_dataset("cifar10", tmp_path / "cifar10", download=True)
    assert seen == [False] and lock_is_free(tmp_path / "cifar10")  # held while downloading, released after
    (tmp_path / "no-download").mkdir()
    with pytest.raises(FileNotFoundError, match="cifar10 not found in"):  # no download: no lock, no file written
        load_dataset("cifar10", tmp_path / "no-download", download=False)
    assert not (tmp_path / "no-download" / DOWNLOAD_LOCK).exists()


def test_a_lock_file_deleted_by_its_holder_is_locked_afresh_and_a_lockless_file_system_goes_on(tmp_path, monkeypatch):
    """A failed download removes the folder it made, lock file and all, while a second process waits on that file."""
    import fcntl
    import os
    import threading

    from mmdc_lib.data import DOWNLOAD_LOCK, _locked_file

    path = tmp_path / "fresh" / DOWNLOAD_LOCK
    holder = _locked_file(path)
    waiter = {}
    thread = threading.Thread(target=lambda: waiter.setdefault("handle", _locked_file(path)))
    thread.start()  # blocks on the holder's lock (another open file: as another process)
    thread.join(timeout=0.5)
    assert thread.is_alive()
    path.unlink()
    path.parent.rmdir()
    holder.close()
    thread.join(timeout=10)
    assert not thread.is_alive() and os.fstat(waiter["handle"].fileno()).st_ino == os.stat(path).st_ino
    waiter["handle"].close()

    def refused(handle, operation):
        raise OSError(37, "No locks available")

    monkeypatch.setattr(fcntl, "flock", refused)
    assert _locked_file(path) is None  # no lock, and the load goes on
