"""Against the real CIFAR-10 ($NUMPY_ADAM_DATA or ../shared/datasets); skipped when absent.

Load time of the train split is reported by the benchmark, not asserted here.
"""
import pickletools
import warnings

import numpy as np
import pytest

from numpy_adam.datasets import ChecksumWarning, MinibatchIterator, channel_stats, load_cifar10
from numpy_adam.datasets.formats import BATCH_FILES, OFFICIAL_MD5, md5_file
from numpy_adam.datasets.locate import PYTHON, find_layout
from numpy_adam.datasets.safe_pickle import ALLOWED_GLOBALS

pytestmark = pytest.mark.slow

# Per-channel pixel means of the CIFAR-10 training set (R, G, B), commonly quoted values.
TRAIN_MEANS = (125.3, 123.0, 113.9)


@pytest.fixture(scope="module")
def train(real_root):
    return load_cifar10(real_root, "train", download=False)


def test_train_split(train):
    images, labels = train
    assert images.shape == (50000, 3, 32, 32) and images.dtype == np.uint8, (images.shape, images.dtype)
    assert labels.shape == (50000,) and labels.dtype == np.int64, (labels.shape, labels.dtype)
    counts = np.bincount(labels, minlength=10)
    assert counts.tolist() == [5000] * 10, f"images per class: {counts}"
    mean, _ = channel_stats(images)
    np.testing.assert_allclose(mean, TRAIN_MEANS, atol=1.0, err_msg="per-channel pixel means")


def test_test_split(real_root):
    images, labels = load_cifar10(real_root, "test", download=False)
    assert images.shape == (10000, 3, 32, 32) and images.dtype == np.uint8, (images.shape, images.dtype)
    assert labels.shape == (10000,) and labels.dtype == np.int64, (labels.shape, labels.dtype)
    counts = np.bincount(labels, minlength=10)
    assert counts.tolist() == [1000] * 10, f"images per class: {counts}"


def test_real_pickles_need_only_allowed_globals(real_root):
    layout = find_layout(real_root.absolute())
    if layout.fmt != PYTHON:
        pytest.skip(f"{layout.folder} is the binary version; no pickles to inspect")
    allowed = {g.rsplit(".", 1)[0] + " " + g.rsplit(".", 1)[1] for g in ALLOWED_GLOBALS}
    for name in BATCH_FILES[PYTHON]["test"] + ("batches.meta",):
        data = (layout.folder / name).read_bytes()
        found = {arg for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL")}
        assert found <= allowed, f"{name} references {found - allowed}"


def test_verify_md5_warns_per_file_without_failing(real_root):
    layout = find_layout(real_root.absolute())
    expected = OFFICIAL_MD5[layout.fmt].get(BATCH_FILES[layout.fmt]["test"][0])
    official = expected is not None and md5_file(layout.folder / "test_batch") == expected
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images, _ = load_cifar10(real_root, "test", download=False, verify_md5=True)
    assert images.shape[0] == 10000, images.shape
    messages = [str(w.message) for w in caught if issubclass(w.category, ChecksumWarning)]
    # The shared copy is a re-encoding: its MD5 differs from the official release by design.
    assert len(messages) == (0 if official else 1), messages
    assert all("test_batch" in m for m in messages), messages


def test_an_epoch_of_real_batches_is_normalized(train):
    images, labels = train
    subset = slice(0, 10000)  # one epoch over 10k images keeps this to about a second
    it = MinibatchIterator(images[subset], labels[subset], 500, rng=np.random.default_rng(0),
                           mean=channel_stats(images)[0], std=channel_stats(images)[1])
    total = np.zeros(3)
    total_sq = np.zeros(3)
    for x, _ in it:
        total += x.sum(axis=(0, 2, 3), dtype=np.float64)
        total_sq += (x.astype(np.float64) ** 2).sum(axis=(0, 2, 3))
    count = 10000 * 32 * 32
    mean = total / count
    std = np.sqrt(total_sq / count - mean ** 2)
    np.testing.assert_allclose(mean, 0.0, atol=0.05, err_msg="mean of a 10k subset, train stats")
    np.testing.assert_allclose(std, 1.0, atol=0.05, err_msg="std of a 10k subset, train stats")
