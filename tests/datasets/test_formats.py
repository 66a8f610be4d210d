"""Both official formats parse to the expected arrays; damaged files give clear errors."""
import pickle
import pickletools

import numpy as np
import pytest

from numpy_adam.datasets import CorruptDataError, DatasetNotFoundError, load_cifar10
from numpy_adam.datasets.formats import read_binary_batch, read_python_batch
from numpy_adam.datasets.locate import BINARY, LAYOUT_DIRS, PYTHON


def _globals_and_opcodes(data: bytes):
    ops = [(op.name, arg) for op, arg, _ in pickletools.genops(data)]
    return {arg for name, arg in ops if name == "GLOBAL"}, {name for name, _ in ops}


def test_fixture_matches_official_opcodes(fx, arrays):
    """The Python-2-style fixture uses the globals and string opcodes of the official files."""
    images, labels = arrays["test"]
    data = fx.py2_pickle_bytes(fx.batch_dict(images, labels, "testing batch 1 of 1"))
    found, ops = _globals_and_opcodes(data)
    assert found == {"numpy.core.multiarray _reconstruct", "numpy ndarray", "numpy dtype"}, found
    assert "SHORT_BINSTRING" in ops and "BINSTRING" in ops, ops
    assert not ops & {"BINUNICODE", "SHORT_BINUNICODE", "BINBYTES", "SHORT_BINBYTES"}, ops


@pytest.mark.parametrize("fmt", [PYTHON, BINARY])
@pytest.mark.parametrize("split", ["train", "test"])
def test_tiny_fixture_parses_to_expected_arrays(fx, tmp_path, arrays, fmt, split):
    fx.write_tree(tmp_path, fmt, arrays)
    images, labels = load_cifar10(tmp_path, split, download=False, records_per_batch=fx.RECORDS)
    want_images, want_labels = arrays[split]
    assert images.dtype == np.uint8 and images.shape == want_images.shape, (images.dtype, images.shape)
    assert labels.dtype == np.int64 and labels.shape == want_labels.shape, (labels.dtype, labels.shape)
    assert images.flags.c_contiguous, "images must be C-contiguous"
    np.testing.assert_array_equal(images, want_images, err_msg=f"{fmt} {split} pixels differ")
    np.testing.assert_array_equal(labels, want_labels, err_msg=f"{fmt} {split} labels differ")


def test_python_row_layout_is_rgb_planes(fx, tmp_path):
    """A row is 1024 R, 1024 G, 1024 B values, each plane row-major: NCHW after reshape."""
    image = np.zeros((1, 3, 32, 32), dtype=np.uint8)
    image[0, 0, 0, 1], image[0, 1, 2, 0], image[0, 2, 31, 31] = 10, 20, 30
    row = image.reshape(1, 3072)
    assert (row[0, 1], row[0, 1024 + 64], row[0, 3071]) == (10, 20, 30), "fixture layout"
    fx.write_py2_pickle(tmp_path / "b", {b"data": row, b"labels": [7]})
    images, labels = read_python_batch(tmp_path / "b", records=1)
    np.testing.assert_array_equal(images, image, err_msg="channel/row order lost")
    assert labels.tolist() == [7], labels


def test_both_formats_give_identical_arrays(fx, tmp_path, arrays):
    fx.write_tree(tmp_path / "py", PYTHON, arrays)
    fx.write_tree(tmp_path / "bin", BINARY, arrays)
    for split in ("train", "test"):
        a = load_cifar10(tmp_path / "py", split, download=False, records_per_batch=fx.RECORDS)
        b = load_cifar10(tmp_path / "bin", split, download=False, records_per_batch=fx.RECORDS)
        np.testing.assert_array_equal(a[0], b[0], err_msg=f"{split}: images differ between formats")
        np.testing.assert_array_equal(a[1], b[1], err_msg=f"{split}: labels differ between formats")


@pytest.mark.parametrize("writer, str_keys", [("write_py2_pickle", False), ("write_py3_pickle", False),
                                              ("write_py3_pickle", True)])
def test_bytes_or_str_keys_and_both_pickle_dialects(fx, tmp_path, arrays, writer, str_keys):
    images, labels = arrays["test"]
    path = tmp_path / "test_batch"
    getattr(fx, writer)(path, fx.batch_dict(images, labels, "t", str_keys=str_keys))
    got_images, got_labels = read_python_batch(path, records=fx.RECORDS)
    np.testing.assert_array_equal(got_images, images, err_msg=f"{writer} str_keys={str_keys}")
    np.testing.assert_array_equal(got_labels, labels, err_msg=f"{writer} str_keys={str_keys}")


# --- corruption: each error names the file -------------------------------------------------

def test_truncated_python_batch(py_root):
    path = py_root / LAYOUT_DIRS[PYTHON] / "data_batch_3"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CorruptDataError, match=r"data_batch_3.*truncated or corrupt.*downloads the data set anew"):
        load_cifar10(py_root, "train", download=False, records_per_batch=4)


def test_truncated_binary_batch(bin_root):
    path = bin_root / LAYOUT_DIRS[BINARY] / "data_batch_2.bin"
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptDataError, match=r"data_batch_2\.bin.*not a whole number of 3073-byte"):
        load_cifar10(bin_root, "train", download=False, records_per_batch=4)


def test_binary_wrong_record_count(bin_root):
    path = bin_root / LAYOUT_DIRS[BINARY] / "test_batch.bin"
    path.write_bytes(path.read_bytes()[:3073])
    with pytest.raises(CorruptDataError, match=r"test_batch\.bin.*holds 1 records, expected 4"):
        load_cifar10(bin_root, "test", download=False, records_per_batch=4)


def test_python_wrong_record_count(fx, tmp_path, arrays):
    images, labels = arrays["test"]
    fx.write_py2_pickle(tmp_path / "test_batch", fx.batch_dict(images[:3], labels[:3], "t"))
    with pytest.raises(CorruptDataError, match=r"test_batch.*shape \(3, 3072\), expected \(4, 3072\)"):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_python_labels_length_mismatch(fx, tmp_path, arrays):
    images, labels = arrays["test"]
    d = fx.batch_dict(images, labels, "t")
    d[b"labels"] = d[b"labels"][:-1]
    fx.write_py2_pickle(tmp_path / "test_batch", d)
    with pytest.raises(CorruptDataError, match=r"test_batch.*'labels' has 3 entries, expected 4"):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_python_label_12(fx, tmp_path, arrays):
    images, labels = arrays["test"]
    d = fx.batch_dict(images, labels, "t")
    d[b"labels"][2] = 12
    fx.write_py2_pickle(tmp_path / "test_batch", d)
    with pytest.raises(CorruptDataError, match=r"test_batch.*outside 0\.\.9, first at record 2: 12"):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_binary_label_12(bin_root):
    path = bin_root / LAYOUT_DIRS[BINARY] / "data_batch_4.bin"
    raw = bytearray(path.read_bytes())
    raw[3073] = 12  # label byte of record 1
    path.write_bytes(bytes(raw))
    with pytest.raises(CorruptDataError, match=r"data_batch_4\.bin.*first at record 1: 12"):
        load_cifar10(bin_root, "train", download=False, records_per_batch=4)


@pytest.mark.parametrize("fmt, name", [(PYTHON, "test_batch"), (BINARY, "test_batch.bin")])
def test_missing_test_batch(fx, tmp_path, arrays, fmt, name):
    folder = fx.write_tree(tmp_path, fmt, arrays)
    (folder / name).unlink()
    pattern = rf"missing test batch file\(s\) \['{name}'\].*download"
    with pytest.raises(DatasetNotFoundError, match=pattern):
        load_cifar10(tmp_path, "test", download=False, records_per_batch=4)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.pop(b"labels"), r"missing key\(s\) \['labels'\]"),
    (lambda d: d.update({b"fine_labels": d.pop(b"labels")}), r"looks like CIFAR-100"),
    (lambda d: d.update({b"data": d[b"data"].astype(np.int16)}), r"'data' must be a uint8 ndarray"),
    (lambda d: d.update({b"labels": [0.5] * 4}), r"non-integer"),
    (lambda d: d.update({b"labels": "0123"}), r"'labels' must be a list of ints"),
    (lambda d: d.update({1: 2}), r"unexpected key 1"),
])
def test_wrong_keys_or_values(fx, tmp_path, arrays, mutate, message):
    images, labels = arrays["test"]
    d = fx.batch_dict(images, labels, "t")
    mutate(d)
    fx.write_py3_pickle(tmp_path / "test_batch", d)
    with pytest.raises(CorruptDataError, match=r"test_batch: .*" + message):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_not_a_dict(fx, tmp_path):
    fx.write_py2_pickle(tmp_path / "test_batch", [1, 2, 3])
    with pytest.raises(CorruptDataError, match=r"test_batch: expected a pickled dict, got list"):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_not_a_pickle(tmp_path):
    (tmp_path / "test_batch").write_bytes(b"<html>404 Not Found</html>")
    with pytest.raises(CorruptDataError, match=r"test_batch"):
        read_python_batch(tmp_path / "test_batch", records=4)


def test_read_binary_batch_direct(fx, tmp_path, arrays):
    images, labels = arrays["test"]
    fx.write_binary_batch(tmp_path / "x.bin", images, labels)
    got_images, got_labels = read_binary_batch(tmp_path / "x.bin", records=4)
    np.testing.assert_array_equal(got_images, images, err_msg="binary pixels")
    np.testing.assert_array_equal(got_labels, labels, err_msg="binary labels")
    assert got_labels.dtype == np.int64, got_labels.dtype


@pytest.mark.parametrize("kwargs, error, message", [
    ({"split": "val"}, ValueError, r"split must be one of \('train', 'test'\), got 'val'"),
    ({"records_per_batch": 0}, ValueError, r"records_per_batch must be a positive integer, got 0"),
    ({"records_per_batch": True}, ValueError, r"records_per_batch must be a positive integer"),
    ({"root": 3}, TypeError, r"root must be a path"),
    ({"root": ""}, ValueError, r"root must not be an empty string"),
])
def test_bad_arguments(py_root, kwargs, error, message):
    kwargs = {"root": py_root, "download": False, **kwargs}
    with pytest.raises(error, match=message):
        load_cifar10(**kwargs)


def test_pickle_error_types_are_distinguishable():
    """Corruption errors are ValueErrors; refusals are pickle.UnpicklingErrors."""
    from numpy_adam.datasets import UnsafePickleError
    assert issubclass(CorruptDataError, ValueError), CorruptDataError.__mro__
    assert issubclass(UnsafePickleError, pickle.UnpicklingError), UnsafePickleError.__mro__
    assert issubclass(DatasetNotFoundError, FileNotFoundError), DatasetNotFoundError.__mro__
