"""Deterministic minibatches: uint8 images in memory, one float32 normalized batch at a time.

Normalization per channel c, with the *training set's* mean μ_c and standard deviation σ_c
(population, over all images and pixels)::

    x[n, c, h, w] = (image[n, c, h, w] - μ_c) / σ_c          (float32)

so an epoch of training batches has mean ≈ 0 and std ≈ 1 per channel. Only the current
batch is converted (B x 3 x 32 x 32 x 4 bytes); the dataset stays uint8 (147 MB for the
train split), so memory stays near the dataset's size.

Order: epoch e visits the samples in ``rng.permutation(N)``, drawn from the iterator's
generator at the start of the epoch (``arange(N)`` without shuffle); batch k of the epoch
is ``order[k*B:(k+1)*B]``. The last, smaller batch is kept unless ``drop_last``.
Resumption is exact: :meth:`MinibatchIterator.state_dict` stores the epoch, the position
in it and the generator state from just before that epoch's permutation was drawn, so an
iterator restored from it yields bitwise the same batches as the uninterrupted one.
"""
from __future__ import annotations

import copy
import numbers
import weakref

import numpy as np

from numpy_adam.nn.checks import check_positive_int

_NAME = "MinibatchIterator"
_STATS_CHUNK = 4096  # images per histogram chunk: bounds the temporary int64 copy (~32 MB)

# id(images) -> (weakref to images, (shape, strides, data pointer), (mean, std)).
_stats_cache: dict[int, tuple] = {}


def _check_images(images, who: str) -> np.ndarray:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4:
        raise TypeError(f"{who}: images must be a uint8 ndarray of shape (N, C, H, W), got "
                        f"{type(images).__name__} {getattr(images, 'dtype', '')} "
                        f"{getattr(images, 'shape', '')}")
    if images.shape[0] == 0:
        raise ValueError(f"{who}: images is empty (shape {images.shape})")
    return images


def channel_stats(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean μ_c and standard deviation σ_c of uint8 images, exact.

    images: uint8 (N, C, H, W).
    Returns mean float64 (C,) and std float64 (C,), population (ddof=0) over N*H*W values:
    with counts[c, v] the number of pixels of channel c equal to v (a 256-bin histogram),
    μ_c = Σ_v v counts[c, v] / M and σ_c² = Σ_v (v - μ_c)² counts[c, v] / M, M = N*H*W.

    Computed once per array object and cached in memory (never on disk): later calls with
    the same, unmodified array return copies of the cached result. The cache is keyed on
    the object's identity; do not modify the images in place after computing statistics.
    """
    images = _check_images(images, "channel_stats")
    key = id(images)
    layout = (images.shape, images.strides, images.__array_interface__["data"][0])
    hit = _stats_cache.get(key)
    if hit is not None and hit[0]() is images and hit[1] == layout:
        return hit[2][0].copy(), hit[2][1].copy()

    channels = images.shape[1]
    counts = np.zeros((channels, 256), dtype=np.int64)  # (C, 256) histogram
    for start in range(0, images.shape[0], _STATS_CHUNK):
        block = images[start:start + _STATS_CHUNK]  # (n, C, H, W)
        for c in range(channels):
            counts[c] += np.bincount(block[:, c].reshape(-1), minlength=256)
    values = np.arange(256, dtype=np.float64)
    total = counts.sum(axis=1)  # (C,) = N*H*W
    mean = counts @ values / total  # (C,)
    var = ((values[None, :] - mean[:, None]) ** 2 * counts).sum(axis=1) / total  # (C,)
    std = np.sqrt(var)

    _stats_cache[key] = (weakref.ref(images, lambda _ref, k=key: _stats_cache.pop(k, None)),
                         layout, (mean, std))
    return mean.copy(), std.copy()


def _check_stat(value, name: str, channels: int, positive: bool) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape != (channels,) or not np.all(np.isfinite(arr)):
        raise ValueError(f"{_NAME}: {name} must be {channels} finite numbers (one per channel), "
                         f"got {value!r}")
    if positive and not np.all(arr > 0):
        raise ValueError(f"{_NAME}: {name} must be > 0 for every channel, got {value!r}")
    return arr


class MinibatchIterator:
    """Shuffled (or sequential) minibatches of normalized float32 images and int64 labels.

    images: uint8 (N, C, H, W), kept by reference, never copied or modified.
    labels: integer (N,), stored as int64.
    batch_size: B, a positive integer.
    rng: ``np.random.Generator`` of the data order (required when ``shuffle``); the
        iterator draws one permutation per epoch from it and nothing else.
    shuffle: a new random order each epoch; ``False`` visits 0..N-1 in order.
    drop_last: drop the last batch of an epoch when it has fewer than B samples.
    mean, std: per-channel μ, σ (C,) to normalize with; default
        :func:`channel_stats` of ``images``. For a test set pass the training set's.

    Attributes:
        epoch: index of the current epoch = number of completed epochs (from 0).
        position: batches already served in the current epoch (0 .. steps_per_epoch-1).
        steps_per_epoch: ⌊N/B⌋ with ``drop_last``, else ⌈N/B⌉; also ``len(iterator)``.
        mean, std: float64 (C,) used for normalization.

    Use ``for x, y in it`` for the rest of the current epoch (a new epoch each time the
    loop is re-entered), or ``it.next_batch()`` for an endless stream across epochs.
    Both yield x float32 (b, C, H, W) and y int64 (b,), b = B except maybe the last batch.
    """

    def __init__(self, images, labels, batch_size, *, rng=None, shuffle=True, drop_last=False,
                 mean=None, std=None):
        self.images = _check_images(images, _NAME)
        labels = np.asarray(labels)
        if labels.ndim != 1 or labels.dtype.kind not in "iu" or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{_NAME}: labels must be integers of shape ({images.shape[0]},), got "
                             f"dtype {labels.dtype} and shape {labels.shape}")
        self.labels = labels.astype(np.int64, copy=False)  # (N,)
        self.batch_size = check_positive_int(batch_size, "batch_size", _NAME)
        if not isinstance(shuffle, bool) or not isinstance(drop_last, bool):
            raise TypeError(f"{_NAME}: shuffle and drop_last must be bool, got {shuffle!r}, "
                            f"{drop_last!r}")
        if shuffle and not isinstance(rng, np.random.Generator):
            raise TypeError(f"{_NAME}: rng must be a numpy.random.Generator (e.g. "
                            f"np.random.default_rng(seed)) when shuffle=True, got {rng!r}")
        self.rng, self.shuffle, self.drop_last = rng, shuffle, drop_last
        self.num_samples = images.shape[0]
        full, rest = divmod(self.num_samples, self.batch_size)
        self.steps_per_epoch = full if drop_last or rest == 0 else full + 1
        if self.steps_per_epoch == 0:
            raise ValueError(f"{_NAME}: batch_size={batch_size} exceeds the {self.num_samples} "
                             f"samples and drop_last=True: an epoch would have no batch")

        channels = images.shape[1]
        if mean is None or std is None:
            stats = channel_stats(images)
            mean = stats[0] if mean is None else mean
            std = stats[1] if std is None else std
        self.mean = _check_stat(mean, "mean", channels, positive=False)
        self.std = _check_stat(std, "std", channels, positive=True)
        self._mean4 = self.mean.astype(np.float32).reshape(1, channels, 1, 1)
        self._inv_std4 = (1.0 / self.std).astype(np.float32).reshape(1, channels, 1, 1)

        self.epoch = 0
        self.position = 0
        self._start_epoch()

    def _start_epoch(self) -> None:
        """Draw this epoch's order, remembering the generator state it was drawn from."""
        if self.shuffle:
            self._epoch_rng_state = copy.deepcopy(self.rng.bit_generator.state)
            self._order = self.rng.permutation(self.num_samples)  # (N,)
        else:
            self._epoch_rng_state = None
            self._order = np.arange(self.num_samples)

    def __len__(self) -> int:
        return self.steps_per_epoch

    def normalize(self, batch: np.ndarray) -> np.ndarray:
        """uint8 (b, C, H, W) -> float32 (b, C, H, W): (batch - μ) / σ per channel."""
        x = np.subtract(batch, self._mean4, dtype=np.float32)  # (b, C, H, W) float32
        x *= self._inv_std4
        return x

    def next_batch(self) -> tuple[np.ndarray, np.ndarray]:
        """The next batch (x float32 (b, C, H, W), y int64 (b,)); rolls over into the next
        epoch (new permutation) after the last batch of an epoch."""
        start = self.position * self.batch_size
        idx = self._order[start:start + self.batch_size]  # (b,)
        x = self.normalize(self.images[idx])
        y = self.labels[idx]
        self.position += 1
        if self.position == self.steps_per_epoch:
            self.epoch += 1
            self.position = 0
            self._start_epoch()
        return x, y

    def __iter__(self):
        epoch = self.epoch
        while self.epoch == epoch:
            yield self.next_batch()

    def state_dict(self) -> dict:
        """What exact resumption needs, as plain Python values (JSON-serializable for the
        default PCG64 generator): ``epoch``, ``position``, ``rng_state`` (the generator state
        before this epoch's permutation; ``None`` without shuffle) and the settings that
        must match on load (``num_samples``, ``batch_size``, ``shuffle``, ``drop_last``)."""
        return {"epoch": self.epoch, "position": self.position,
                "rng_state": copy.deepcopy(self._epoch_rng_state),
                "num_samples": self.num_samples, "batch_size": self.batch_size,
                "shuffle": self.shuffle, "drop_last": self.drop_last}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where the iterator that produced ``state`` stood. Sets the
        generator (shared with the caller) to the state it had at that point."""
        keys = ("epoch", "position", "rng_state", "num_samples", "batch_size", "shuffle",
                "drop_last")
        missing = [k for k in keys if k not in state]
        if missing:
            raise KeyError(f"{_NAME}.load_state_dict: state is missing {missing}")
        for k in ("num_samples", "batch_size", "shuffle", "drop_last"):
            if state[k] != getattr(self, k):
                raise ValueError(f"{_NAME}.load_state_dict: state has {k}={state[k]!r} but this "
                                 f"iterator has {getattr(self, k)!r}; build it with the same data "
                                 f"and settings")
        position, epoch = state["position"], state["epoch"]
        if not (isinstance(position, numbers.Integral) and 0 <= position < self.steps_per_epoch):
            raise ValueError(f"{_NAME}.load_state_dict: position must be in "
                             f"[0, {self.steps_per_epoch}), got {position!r}")
        if not (isinstance(epoch, numbers.Integral) and epoch >= 0):
            raise ValueError(f"{_NAME}.load_state_dict: epoch must be a non-negative int, got "
                             f"{epoch!r}")
        if self.shuffle:
            self.rng.bit_generator.state = copy.deepcopy(state["rng_state"])
        self._start_epoch()
        self.epoch, self.position = int(epoch), int(position)
