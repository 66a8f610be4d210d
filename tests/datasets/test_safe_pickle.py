"""The restricted unpickler refuses every global outside the allow-list, before it runs."""
import builtins
import os
import pickle
import subprocess

import numpy as np
import pytest

from numpy_adam.datasets import UnsafePickleError, load_cifar10
from numpy_adam.datasets.locate import LAYOUT_DIRS, PYTHON
from numpy_adam.datasets.safe_pickle import ALLOWED_GLOBALS, RestrictedUnpickler, load_restricted


class Payload:
    """Pickles as a call ``func(*args)``: what a malicious batch file would contain."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _malicious_batch(payload) -> dict:
    return {b"batch_label": b"x", b"data": payload, b"labels": [0]}


def test_payload_is_live_under_plain_pickle(tmp_path):
    """Control: the mkdir payload really runs under pickle.loads, so the refusals below matter."""
    marker = tmp_path / "pwned_control"
    pickle.loads(pickle.dumps(Payload(os.mkdir, str(marker)), protocol=2))
    assert marker.is_dir(), "the control payload did not run; the security tests would be vacuous"


@pytest.mark.parametrize("protocol", [0, 2, 4])
def test_os_system_refused_and_not_run(tmp_path, protocol):
    marker = tmp_path / "pwned"
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(_malicious_batch(Payload(os.system, f"touch '{marker}'")),
                                  protocol=protocol))
    with pytest.raises(pickle.UnpicklingError, match=r"data_batch_1: refused to load the global "
                                                     r"(posix|nt|os)\.system"):
        load_restricted(path)
    assert not marker.exists(), "the os.system payload ran"


@pytest.mark.parametrize("func, args", [
    (os.mkdir, ()),
    (builtins.eval, ("1",)),
    (builtins.exec, ("x = 1",)),
    (builtins.getattr, ("text", "upper")),
    (subprocess.Popen, (["true"],)),
    (np.load, ("x.npy",)),
])
def test_other_globals_refused(tmp_path, func, args):
    marker = tmp_path / "pwned"
    args = args or (str(marker),)
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(_malicious_batch(Payload(func, *args)), protocol=2))
    with pytest.raises(UnsafePickleError, match=rf"{path}: refused.*{func.__name__}"):
        load_restricted(path)
    assert not marker.exists(), f"{func.__name__} payload ran"


def test_refusal_through_load_cifar10_names_file(fx, tmp_path, arrays):
    folder = fx.write_tree(tmp_path, PYTHON, arrays)
    marker = tmp_path / "pwned"
    (folder / "test_batch").write_bytes(pickle.dumps(_malicious_batch(Payload(os.mkdir, str(marker))),
                                                     protocol=2))
    with pytest.raises(UnsafePickleError, match=rf"{LAYOUT_DIRS[PYTHON]}/test_batch: refused .*mkdir"
                                                r".*nothing in it was executed"):
        load_cifar10(tmp_path, "test", download=False, records_per_batch=4)
    assert not marker.exists(), "payload ran"


def test_object_arrays_refused(tmp_path):
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps({b"data": np.array([1, "a"], dtype=object)}, protocol=2))
    with pytest.raises(UnsafePickleError, match=r"dtype object"):
        load_restricted(path)


def test_codecs_encode_only_latin1(tmp_path):
    import _codecs
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(Payload(_codecs.encode, "abc", "rot13"), protocol=2))
    with pytest.raises(UnsafePickleError, match=r"_codecs.encode with encoding 'rot13'"):
        load_restricted(path)


def test_persistent_id_refused(tmp_path):
    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "ext" if obj == "secret" else None

    path = tmp_path / "b"
    with open(path, "wb") as f:
        P(f, protocol=2).dump({b"data": "secret"})
    with pytest.raises(UnsafePickleError, match=r"persistent id"):
        load_restricted(path)


def test_allow_list_is_exactly_what_the_files_need():
    assert set(ALLOWED_GLOBALS) == {
        "numpy.core.multiarray._reconstruct", "numpy._core.multiarray._reconstruct",
        "numpy.ndarray", "numpy.dtype", "_codecs.encode"}, ALLOWED_GLOBALS


def test_numpy_arrays_round_trip_through_restricted_unpickler(tmp_path):
    """Python 3's own protocol-2 pickle of an array (numpy._core, _codecs) loads unchanged."""
    want = {b"data": np.arange(12, dtype=np.uint8).reshape(3, 4), "labels": [1, 2, 3]}
    path = tmp_path / "b"
    path.write_bytes(pickle.dumps(want, protocol=2))
    with open(path, "rb") as f:
        got = RestrictedUnpickler(f, source=str(path)).load()
    np.testing.assert_array_equal(got[b"data"], want[b"data"], err_msg="array changed")
    assert got["labels"] == [1, 2, 3], got
