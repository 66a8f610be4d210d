"""MinibatchIterator: deterministic, each image once per epoch, normalized, exactly resumable."""
import json

import numpy as np
import pytest

from numpy_adam.datasets import MinibatchIterator, channel_stats

N, B = 103, 10  # 10 full batches and one of 3


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(42)
    images = rng.integers(0, 256, size=(N, 3, 8, 8), dtype=np.uint8)
    images[:, 0] //= 2  # give the channels different statistics
    images[:, 2] = 200 + images[:, 2] // 8
    labels = rng.integers(0, 10, size=N)
    return images, labels


def _epoch(it):
    return [(x.copy(), y.copy()) for x, y in it]


def test_same_seed_same_batches(data):
    a = MinibatchIterator(*data, B, rng=np.random.default_rng(7))
    b = MinibatchIterator(*data, B, rng=np.random.default_rng(7))
    c = MinibatchIterator(*data, B, rng=np.random.default_rng(8))
    for epoch in range(3):
        ea, eb, ec = _epoch(a), _epoch(b), _epoch(c)
        for (xa, ya), (xb, yb) in zip(ea, eb):
            np.testing.assert_array_equal(xa, xb, err_msg=f"epoch {epoch}: same seed, other images")
            np.testing.assert_array_equal(ya, yb, err_msg=f"epoch {epoch}: same seed, other labels")
        assert not all(np.array_equal(ya, yc) for (_, ya), (_, yc) in zip(ea, ec)), \
            "a different seed gave the same order"


def test_every_image_exactly_once_per_epoch_and_reshuffled(data):
    images, labels = data
    ids = np.arange(N)
    # Tag each image with its index through the labels to identify it after the shuffle.
    it = MinibatchIterator(images, ids, B, rng=np.random.default_rng(0))
    orders = []
    for epoch in range(3):
        assert it.epoch == epoch, (it.epoch, epoch)
        batches = _epoch(it)
        assert len(batches) == it.steps_per_epoch == len(it) == 11, len(batches)
        assert [len(y) for _, y in batches] == [B] * 10 + [3], [len(y) for _, y in batches]
        order = np.concatenate([y for _, y in batches])
        np.testing.assert_array_equal(np.sort(order), ids, err_msg=f"epoch {epoch}: not each image once")
        for x, y in batches:  # each x row is the normalized image y points at
            np.testing.assert_allclose(x, it.normalize(images[y]), rtol=0, atol=0,
                                       err_msg="image and label out of step")
        orders.append(order)
    assert not np.array_equal(orders[0], orders[1]), "the order was not reshuffled between epochs"


def test_batch_types_and_normalization_over_an_epoch(data):
    images, labels = data
    it = MinibatchIterator(images, labels, B, rng=np.random.default_rng(1))
    xs, ys = zip(*_epoch(it))
    assert all(x.dtype == np.float32 and x.shape[1:] == (3, 8, 8) for x in xs), "x dtype/shape"
    assert all(y.dtype == np.int64 and y.ndim == 1 for y in ys), "y dtype/shape"
    x = np.concatenate(xs).astype(np.float64)
    mean, std = x.mean(axis=(0, 2, 3)), x.std(axis=(0, 2, 3))
    np.testing.assert_allclose(mean, 0.0, atol=1e-5, err_msg="per-channel mean over an epoch")
    np.testing.assert_allclose(std, 1.0, rtol=1e-5, err_msg="per-channel std over an epoch")


def test_channel_stats_exact_and_cached(data):
    images, _ = data
    mean, std = channel_stats(images)
    ref = images.astype(np.float64)
    np.testing.assert_allclose(mean, ref.mean(axis=(0, 2, 3)), rtol=1e-12, err_msg="mean")
    np.testing.assert_allclose(std, ref.std(axis=(0, 2, 3)), rtol=1e-12, err_msg="std")
    mean[:] = -1  # callers get copies: the cached value cannot be corrupted
    again, _ = channel_stats(images)
    np.testing.assert_allclose(again, ref.mean(axis=(0, 2, 3)), rtol=1e-12, err_msg="cache corrupted")
    assert again is not channel_stats(images)[0], "cache must hand out copies"


def test_given_mean_std_are_used(data):
    images, labels = data
    it = MinibatchIterator(images, labels, N, shuffle=False, mean=(1.0, 2.0, 3.0), std=(2.0, 4.0, 8.0))
    x, _ = it.next_batch()
    mean, std = np.array([1, 2, 3.0])[:, None, None], np.array([2, 4, 8.0])[:, None, None]
    want = (images.astype(np.float64) - mean) / std
    np.testing.assert_allclose(x, want, rtol=1e-6, err_msg="normalization with given mean/std")


def test_no_shuffle_is_sequential_and_drop_last(data):
    images, labels = data
    it = MinibatchIterator(images, labels, B, shuffle=False, drop_last=True)
    assert it.steps_per_epoch == 10, it.steps_per_epoch
    ys = [y for _, y in it]
    np.testing.assert_array_equal(np.concatenate(ys), labels[:100], err_msg="sequential order")
    assert it.epoch == 1 and it.position == 0, (it.epoch, it.position)


@pytest.mark.parametrize("stop_after", [0, 4, 10, 11, 25])
def test_state_round_trip_resumes_bitwise(data, stop_after):
    """Stop after `stop_after` batches, save (through JSON), resume in a fresh iterator."""
    images, labels = data
    reference = MinibatchIterator(images, labels, B, rng=np.random.default_rng(3))
    want = [reference.next_batch() for _ in range(40)]

    first = MinibatchIterator(images, labels, B, rng=np.random.default_rng(3))
    for _ in range(stop_after):
        first.next_batch()
    state = json.loads(json.dumps(first.state_dict()))
    resumed = MinibatchIterator(images, labels, B, rng=np.random.default_rng(999))
    resumed.load_state_dict(state)
    assert (resumed.epoch, resumed.position) == divmod(stop_after, 11), (resumed.epoch, resumed.position)
    for k in range(stop_after, 40):
        x, y = resumed.next_batch()
        np.testing.assert_array_equal(x, want[k][0], err_msg=f"batch {k}: images differ after resume")
        np.testing.assert_array_equal(y, want[k][1], err_msg=f"batch {k}: labels differ after resume")


def test_epoch_loop_resumes_mid_epoch(data):
    images, labels = data
    it = MinibatchIterator(images, labels, B, rng=np.random.default_rng(5))
    for step, _ in enumerate(it):
        if step == 3:
            break
    state = it.state_dict()
    rest = [y for _, y in it]  # the remaining batches of epoch 0
    assert len(rest) == 11 - 4, len(rest)
    again = MinibatchIterator(images, labels, B, rng=np.random.default_rng(5))
    again.load_state_dict(state)
    np.testing.assert_array_equal(np.concatenate([y for _, y in again]), np.concatenate(rest),
                                  err_msg="for-loop after resume differs")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"batch_size": 0}, ValueError, r"batch_size must be a positive integer, got 0"),
    ({"batch_size": 2.5}, ValueError, r"batch_size must be a positive integer"),
    ({"batch_size": 200, "drop_last": True}, ValueError, r"exceeds the 103 samples"),
    ({"rng": None}, TypeError, r"rng must be a numpy.random.Generator"),
    ({"rng": 0}, TypeError, r"rng must be a numpy.random.Generator"),
    ({"shuffle": 1}, TypeError, r"shuffle and drop_last must be bool"),
    ({"mean": (0, 0)}, ValueError, r"mean must be 3 finite numbers"),
    ({"std": (1, 0, 1)}, ValueError, r"std must be > 0"),
    ({"std": (1, np.nan, 1)}, ValueError, r"std must be 3 finite numbers"),
    ({"images": np.zeros((3, 3, 2, 2), np.float32)}, TypeError, r"images must be a uint8 ndarray"),
    ({"labels": np.zeros(5, np.int64)}, ValueError, r"labels must be integers of shape \(103,\)"),
    ({"labels": np.zeros(103)}, ValueError, r"labels must be integers"),
])
def test_bad_arguments(data, kwargs, error, message):
    args = {"images": data[0], "labels": data[1], "batch_size": B, "rng": np.random.default_rng(0),
            **kwargs}
    with pytest.raises(error, match=message):
        MinibatchIterator(args.pop("images"), args.pop("labels"), args.pop("batch_size"), **args)


def test_load_state_dict_rejects_mismatch(data):
    images, labels = data
    state = MinibatchIterator(images, labels, B, rng=np.random.default_rng(0)).state_dict()
    other = MinibatchIterator(images, labels, B + 1, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"state has batch_size=10 but this iterator has 11"):
        other.load_state_dict(state)
    with pytest.raises(KeyError, match=r"missing \['position'\]"):
        other.load_state_dict({k: v for k, v in state.items() if k != "position"})
