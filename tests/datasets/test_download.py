"""Download (file:// URL or a monkeypatched fetch, never the network), MD5, safe atomic extraction."""
import io
import tarfile
import urllib.error

import numpy as np
import pytest

from numpy_adam.datasets import (ChecksumError, DatasetNotFoundError, UnsafeArchiveError, download,
                      load_cifar10)
from numpy_adam.datasets.formats import md5_file
from numpy_adam.datasets.locate import BINARY, LAYOUT_DIRS, PYTHON


def _make_archive(fx, tmp_path, arrays, fmt=PYTHON):
    """A tar.gz of the tiny fixture laid out like the official archive; returns (path, md5)."""
    src = tmp_path / "src"
    folder = fx.write_tree(src, fmt, arrays)
    archive = tmp_path / f"archive-{fmt}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=LAYOUT_DIRS[fmt])
    return archive, md5_file(archive)


def _listing(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.mark.parametrize("fmt", [PYTHON, BINARY])
def test_download_from_file_url_then_load(fx, tmp_path, arrays, fmt):
    archive, md5 = _make_archive(fx, tmp_path, arrays, fmt)
    root = tmp_path / "data"
    layout = download.download_cifar10(root, fmt, url=archive.as_uri(), md5=md5, progress=False)
    assert layout.folder == root / LAYOUT_DIRS[fmt] and layout.fmt == fmt, layout
    assert _listing(root) == [LAYOUT_DIRS[fmt]], f"leftovers in {root}: {_listing(root)}"
    images, labels = load_cifar10(root, "train", download=False, records_per_batch=4)
    np.testing.assert_array_equal(images, arrays["train"][0], err_msg="downloaded pixels differ")
    np.testing.assert_array_equal(labels, arrays["train"][1], err_msg="downloaded labels differ")


def test_load_cifar10_downloads_when_absent(fx, tmp_path, arrays, monkeypatch):
    archive, md5 = _make_archive(fx, tmp_path, arrays)
    monkeypatch.setitem(download.ARCHIVES, PYTHON,
                        download.Archive(archive.as_uri(), md5, "cifar-10-python.tar.gz"))
    root = tmp_path / "cache" / "numpy-adam"  # does not exist yet
    images, labels = load_cifar10(root, "test", progress=False, records_per_batch=4)
    np.testing.assert_array_equal(images, arrays["test"][0], err_msg="pixels")
    np.testing.assert_array_equal(labels, arrays["test"][1], err_msg="labels")


def test_wrong_md5_of_downloaded_archive(tmp_path, monkeypatch):
    def fake_fetch(url, dest, **kwargs):  # a "downloaded" archive that is not the official one
        data = b"not the official archive"
        dest.write(data)
        import hashlib
        return hashlib.md5(data).hexdigest()

    monkeypatch.setattr(download, "fetch", fake_fetch)
    root = tmp_path / "data"
    with pytest.raises(ChecksumError, match=r"cifar-10-python\.tar\.gz downloaded from "
                                            r"https://www\.cs\.toronto\.edu/.* has MD5 [0-9a-f]{32}, "
                                            r"expected c58f30108f718f92721af3b95e74349a.*Try again"):
        load_cifar10(root, "train", progress=False)
    assert _listing(root) == [], f"a failed download left {_listing(root)}"


def test_offline_error_says_where_to_put_files(tmp_path, monkeypatch):
    def offline_fetch(url, dest, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(download, "fetch", offline_fetch)
    root = tmp_path / "data"
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(root, "train", progress=False)
    message = str(info.value)
    for needle in (f"{root}/cifar-10-batches-py/data_batch_1",
                   f"{root}/cifar-10-batches-bin/data_batch_1.bin",
                   "NUMPY_ADAM_DATA", "--data-dir", "offline", "cs.toronto.edu"):
        assert needle in message, f"{needle!r} missing from: {message}"
    assert not root.exists(), "a failed download must not leave the data folder it created"


def test_a_failed_download_keeps_a_folder_that_existed_and_removes_only_what_it_created(
        tmp_path, monkeypatch):
    monkeypatch.setattr(download, "fetch", lambda url, dest, **kw: (_ for _ in ()).throw(
        urllib.error.URLError("offline (test)")))
    (tmp_path / "mine").mkdir()
    with pytest.raises(DatasetNotFoundError):
        load_cifar10(tmp_path / "mine" / "a" / "b", "train", progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    assert list((tmp_path / "mine").iterdir()) == [], "a/ and b/ were created by it and removed"


def test_data_errors_name_the_cli_option_and_the_variable_not_a_python_call(tmp_path):
    with pytest.raises(DatasetNotFoundError) as info:
        load_cifar10(tmp_path / "nothing", "train", download=False)
    message = str(info.value)
    assert "--data-dir DIR" in message and "NUMPY_ADAM_DATA=DIR" in message, message
    assert "load_cifar10(..., download=True)" not in message


def test_download_false_gives_the_same_guidance(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"(?s)not found under .*download=False.*"
                                                   r"cifar-10-batches-py/data_batch_1.*NUMPY_ADAM_DATA"):
        load_cifar10(tmp_path / "nothing", "train", download=False)


def test_interrupted_download_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(url, dest, **kwargs):
        dest.write(b"partial" * 1000)
        raise KeyboardInterrupt

    monkeypatch.setattr(download, "fetch", interrupted)
    root = tmp_path / "data"
    with pytest.raises(KeyboardInterrupt):
        download.download_cifar10(root, progress=False)
    assert _listing(root) == [], f"an interrupted download left {_listing(root)}"


def test_stale_leftovers_of_killed_downloads_are_removed(fx, tmp_path, arrays):
    """What a hard kill leaves (a .part file, an extraction folder) goes at the next download
    once untouched for STALE_AFTER_SECONDS; fresh ones (maybe a download running in another
    process) and unrelated files stay."""
    import os
    root = tmp_path / "data"
    root.mkdir()
    old_part = root / ".cifar-10-python.tar.gz.abc123.part"
    old_dir = root / ".cifar-10-extract-xyz"
    fresh_part = root / ".cifar-10-binary.tar.gz.def456.part"
    unrelated = root / "notes.txt"
    old_part.write_bytes(b"partial")
    old_dir.mkdir()
    (old_dir / "half-extracted").write_bytes(b"x")
    fresh_part.write_bytes(b"partial")
    unrelated.write_text("mine")
    hours_ago = download.time.time() - 2 * download.STALE_AFTER_SECONDS
    for path in (old_part, old_dir, unrelated):
        os.utime(path, (hours_ago, hours_ago))
    archive, md5 = _make_archive(fx, tmp_path, arrays)
    download.download_cifar10(root, url=archive.as_uri(), md5=md5, progress=False)
    assert _listing(root) == sorted([fresh_part.name, LAYOUT_DIRS[PYTHON], unrelated.name]), \
        _listing(root)


def test_truncated_file_url_is_a_checksum_error(fx, tmp_path, arrays):
    archive, md5 = _make_archive(fx, tmp_path, arrays)
    archive.write_bytes(archive.read_bytes()[:-50])
    with pytest.raises(ChecksumError, match=rf"expected {md5}"):
        download.download_cifar10(tmp_path / "data", url=archive.as_uri(), md5=md5, progress=False)
    assert _listing(tmp_path / "data") == [], "a damaged download left files"


def test_archive_without_expected_folder(tmp_path):
    archive = tmp_path / "a.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo("something-else/readme")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(Exception, match=r"has no cifar-10-batches-py/ folder"):
        download.download_cifar10(tmp_path / "data", url=archive.as_uri(), md5=md5_file(archive),
                                  progress=False)
    assert _listing(tmp_path / "data") == [], "leftovers"


# --- unsafe archives -------------------------------------------------------------------------

def _file(name, data=b"evil"):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, io.BytesIO(data)


def _link(name, target, kind):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info, None


def _device(name):
    info = tarfile.TarInfo(name)
    info.type, info.devmajor, info.devminor = tarfile.CHRTYPE, 1, 3
    return info, None


UNSAFE = {
    "dotdot": (lambda out: [_file("cifar-10-batches-py/ok"), _file("../evil")],
               r"'\.\./evil' contains '\.\.'"),
    "nested_dotdot": (lambda out: [_file("cifar-10-batches-py/../../evil")], r"contains '\.\.'"),
    "absolute": (lambda out: [_file(str(out / "evil"))], r"has an absolute path"),
    "symlink_out": (lambda out: [_link("cifar-10-batches-py/link", str(out), tarfile.SYMTYPE),
                                 _file("cifar-10-batches-py/link/evil")],
                    r"is a link to .*outside the target folder"),
    "symlink_relative_out": (lambda out: [_link("cifar-10-batches-py/link", "../../..",
                                                tarfile.SYMTYPE)],
                             r"is a link to '\.\./\.\./\.\.', which is outside"),
    "hardlink_out": (lambda out: [_link("cifar-10-batches-py/h", str(out / "victim"), tarfile.LNKTYPE)],
                     r"is a link to .*victim"),
    "device": (lambda out: [_device("cifar-10-batches-py/null")], r"device file"),
}


@pytest.mark.parametrize("case", sorted(UNSAFE))
def test_unsafe_archive_refused_nothing_written(tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "victim").write_bytes(b"precious")
    members, message = UNSAFE[case]
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for info, data in members(outside):
            tar.addfile(info, data)
    root = tmp_path / "root" / "data"  # so that "../evil" would land in tmp_path/root
    pattern = r"cifar-10-python\.tar\.gz from file://.*/bad\.tar\.gz: member .*" + message
    with pytest.raises(UnsafeArchiveError, match=pattern):
        download.download_cifar10(root, url=archive.as_uri(), md5=md5_file(archive), progress=False)
    assert not (tmp_path / "root").exists(), f"{case}: the refused download left its folders"
    assert _listing(outside) == ["victim"], f"{case}: wrote outside: {_listing(outside)}"
    assert (outside / "victim").read_bytes() == b"precious", f"{case}: overwrote a file outside"
    assert not (tmp_path / "evil").exists(), f"{case}: wrote {tmp_path / 'evil'}"


def test_safe_extract_checks_before_writing(tmp_path):
    """A bad member late in the archive stops extraction before the good ones are written."""
    archive = tmp_path / "bad.tar"
    with tarfile.open(archive, "w") as tar:
        for info, data in [_file("cifar-10-batches-py/a"), _file("cifar-10-batches-py/b"),
                           _file("../evil")]:
            tar.addfile(info, data)
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(UnsafeArchiveError):
        download.safe_extract(archive, dest)
    assert _listing(dest) == [], f"members were extracted before the check: {_listing(dest)}"
