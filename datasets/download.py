"""Download the official CIFAR-10 archive, verify its MD5, and extract it safely and atomically.

Steps of :func:`download_cifar10`, all inside the data root ``R``:

1. stream the archive to a hidden temporary file ``R/.cifar-10-python.tar.gz.*.part`` with a
   progress bar, hashing it on the way (:func:`fetch`);
2. compare the MD5 with the published one: on mismatch nothing is extracted;
3. check every member *before* extracting any (:func:`check_members`): no absolute path,
   no ``..``, no symlink or hardlink, no device file or FIFO; the official archives hold
   only regular files and folders. Then extract with the standard library's ``"data"``
   filter (Python >= 3.12 and recent 3.8-3.11 patch releases) into a hidden temporary
   folder ``R/.cifar-10-extract-*``;
4. rename the extracted ``cifar-10-batches-py`` (or ``-bin``) into place: a single atomic
   step on one filesystem.

The temporary file and folder are removed whatever happens; an interrupted download
leaves at most hidden ``.part`` / ``.cifar-10-extract-*`` leftovers (after a hard kill),
never a folder that looks like valid data. The next download deletes such leftovers once
they have been untouched for ``STALE_AFTER_SECONDS`` (:func:`remove_stale_leftovers`), so
repeated killed downloads do not pile up 170 MB files; a download still running in another
process writes its file at least every ``timeout`` seconds and is left alone.

Tests never touch the network: they pass a ``file://`` URL or monkeypatch :func:`fetch`.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from typing import BinaryIO, NamedTuple

from tqdm.auto import tqdm

from .errors import (ChecksumError, CorruptDataError, DatasetError, DatasetNotFoundError,
                     UnsafeArchiveError)
from .locate import LAYOUT_DIRS, PYTHON, Layout, where_to_put_files


class Archive(NamedTuple):
    """An official archive: canonical URL, published MD5, file name."""
    url: str
    md5: str
    filename: str


ARCHIVES = {
    "python": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
                      "c58f30108f718f92721af3b95e74349a", "cifar-10-python.tar.gz"),
    "binary": Archive("https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
                      "c32a1d4ab5d03f1284b67883e8d87530", "cifar-10-binary.tar.gz"),
}
DEFAULT_TIMEOUT = 30.0  # seconds without data before giving up
STALE_AFTER_SECONDS = 3600.0  # leftovers untouched this long belong to no running download
LEFTOVER_PATTERNS = tuple(f".{a.filename}.*.part" for a in ARCHIVES.values()) + (
    ".cifar-10-extract-*",)


def remove_stale_leftovers(root: Path, max_age: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Delete the hidden temporary files and folders (``LEFTOVER_PATTERNS``) that a killed
    download left directly in ``root``, if not modified for ``max_age`` seconds; return them.
    Nothing else is touched; a leftover that cannot be deleted is skipped."""
    now = time.time()
    removed = []
    for pattern in LEFTOVER_PATTERNS:
        for path in sorted(Path(root).glob(pattern)):
            try:
                if now - path.lstat().st_mtime < max_age:
                    continue
                if path.is_dir() and not path.is_symlink():
                    shutil.rmtree(path)
                else:
                    path.unlink()
            except OSError:
                continue
            removed.append(path)
    return removed


def fetch(url: str, dest: BinaryIO, *, progress: bool = True,
          timeout: float = DEFAULT_TIMEOUT, chunk_size: int = 1 << 20) -> str:
    """Stream ``url`` into the open binary file ``dest``; return the hex MD5 of the bytes.

    url: ``https://``, ``http://`` or ``file://`` URL.
    dest: a file opened for binary writing.
    progress: show a tqdm progress bar (bytes; total from Content-Length when sent).
    Raises ``urllib.error.URLError`` / ``OSError`` when the URL cannot be read, and
    :class:`DatasetError` when fewer bytes arrive than Content-Length announced.
    """
    digest = hashlib.md5()
    received = 0
    with urllib.request.urlopen(url, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024,
                  desc=url.rsplit("/", 1)[-1],
                  disable=not progress, leave=False) as bar:
            while chunk := response.read(chunk_size):
                dest.write(chunk)
                digest.update(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if total is not None and received != total:
        raise DatasetError(f"download of {url} ended after {received} of {total} bytes; "
                           f"try again")
    return digest.hexdigest()


def _within(path: Path, folder: Path) -> bool:
    return os.path.commonpath([path, folder]) == str(folder)


def _unsafe(where: str, what: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{where} {what}; refused, nothing was extracted. This is not an "
                              f"official CIFAR-10 archive: delete it and download it again.")


def check_members(tar: tarfile.TarFile, dest: Path, archive: str) -> list[tarfile.TarInfo]:
    """Every member of ``tar``, each checked to stay inside ``dest``; raise on the first bad one.

    tar: an open archive. dest: the extraction folder (absolute, resolved).
    archive: the archive's name, for messages.
    Refuses absolute names, ``..`` components, names resolving outside ``dest``, symlinks
    and hardlinks (the official archives have none; one pointing outside would let a later
    member write through it), device files and FIFOs.
    """
    members = tar.getmembers()
    for m in members:
        name = m.name
        where = f"{archive}: member {name!r}"
        if name.startswith(("/", "\\")) or PurePosixPath(name).is_absolute() or (
                len(name) > 1 and name[1] == ":"):
            raise _unsafe(where, "has an absolute path")
        if ".." in PurePosixPath(name.replace("\\", "/")).parts:
            raise _unsafe(where, "contains '..'")
        if not _within((dest / name).resolve(), dest):
            raise _unsafe(where, f"resolves outside {dest}")
        if m.issym() or m.islnk():
            target = (dest / name).parent / m.linkname if m.issym() else dest / m.linkname
            out = "" if _within(target.resolve(), dest) else ", which is outside the target folder"
            raise _unsafe(where, f"is a link to {m.linkname!r}{out} (CIFAR-10 archives contain "
                                 f"no links)")
        if m.ischr() or m.isblk() or m.isfifo():
            raise _unsafe(where, "is a device file or FIFO")
        if not (m.isfile() or m.isdir()):
            raise _unsafe(where, f"has unsupported type {m.type!r}")
    return members


def safe_extract(archive, dest, *, name: str | None = None) -> None:
    """Extract the tar archive ``archive`` into the existing folder ``dest``, safely.

    archive, dest: ``str`` or ``os.PathLike``. name: the archive's name in messages
    (default its path). All members are checked by
    :func:`check_members` before anything is written; extraction then also uses the
    standard library's ``"data"`` filter where available.
    """
    archive, dest = Path(archive), Path(dest).resolve()
    name = name or str(archive)
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = check_members(tar, dest, name)
            if hasattr(tarfile, "data_filter"):
                tar.extractall(dest, members=members, filter="data")
            else:  # old Python: our checks above admit only plain files and folders
                for m in members:
                    tar.extract(m, dest, set_attrs=False)
    except tarfile.TarError as e:
        raise CorruptDataError(f"{name}: not a readable tar archive ({e}); delete it and "
                               f"download again") from e


def download_cifar10(root, fmt: str = PYTHON, *, url: str | None = None, md5: str | None = None,
                     progress: bool = True, timeout: float = DEFAULT_TIMEOUT) -> Layout:
    """Download, verify and extract the official archive into ``root``.

    root: the data root (``str`` / ``os.PathLike``), created if absent; receives
        ``cifar-10-batches-py/`` (fmt ``"python"``) or ``cifar-10-batches-bin/``
        (fmt ``"binary"``).
    url, md5: override the canonical URL (e.g. a mirror or a ``file://`` URL) and the
        expected MD5; default :data:`ARCHIVES` ``[fmt]``.
    progress: progress bar while downloading. timeout: seconds without data.
    Returns the :class:`~datasets.locate.Layout` of the new folder.
    Raises :class:`DatasetNotFoundError` (with where to put the files) when the archive
    cannot be fetched, :class:`ChecksumError` on an MD5 mismatch,
    :class:`UnsafeArchiveError` for a dangerous member; in every case nothing is left that
    looks like data.
    """
    if fmt not in ARCHIVES:
        raise ValueError(f"fmt must be one of {sorted(ARCHIVES)}, got {fmt!r}")
    archive = ARCHIVES[fmt]
    url = url or archive.url
    md5 = (md5 or archive.md5).lower()
    root = Path(root).expanduser().absolute()
    target = root / LAYOUT_DIRS[fmt]
    if target.exists():
        raise FileExistsError(f"{target} already exists; delete it to download again")
    created = [p for p in (root, *root.parents) if not p.exists()]  # deepest first
    try:
        root.mkdir(parents=True, exist_ok=True)
        remove_stale_leftovers(root)
        fd, part = tempfile.mkstemp(prefix=f".{archive.filename}.", suffix=".part", dir=root)
    except OSError as e:
        _remove_empty(created)
        raise DatasetNotFoundError(
            f"CIFAR-10 is not under {root} and it cannot be downloaded there ({e}).\n"
            + where_to_put_files(root)) from e
    part = Path(part)
    extract_dir = None
    done = False
    try:
        with os.fdopen(fd, "wb") as f:
            try:
                actual = fetch(url, f, progress=progress, timeout=timeout)
            except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
                raise DatasetNotFoundError(
                    f"CIFAR-10 is not under {root} and downloading {url} failed "
                    f"({type(e).__name__}: {e}); is this machine offline?\n"
                    + where_to_put_files(root)) from e
        if actual != md5:
            raise ChecksumError(
                f"{archive.filename} downloaded from {url} has MD5 {actual}, expected {md5}: "
                f"the download is damaged or the server sent another file; it was deleted and "
                f"nothing was extracted. Try again, or download {archive.url} yourself, check "
                f"its MD5 and extract it into {root}.")
        extract_dir = Path(tempfile.mkdtemp(prefix=".cifar-10-extract-", dir=root))
        safe_extract(part, extract_dir, name=f"{archive.filename} from {url}")
        extracted = extract_dir / LAYOUT_DIRS[fmt]
        if not extracted.is_dir():
            raise CorruptDataError(f"{archive.filename} from {url} has no {LAYOUT_DIRS[fmt]}/ "
                                   f"folder; it is not the official {fmt} version")
        try:
            os.rename(extracted, target)  # atomic: the folder appears complete or not at all
        except OSError:
            if not target.is_dir():  # else a concurrent download finished first: use its folder
                raise
        done = True
    finally:
        part.unlink(missing_ok=True)
        if extract_dir is not None:
            shutil.rmtree(extract_dir, ignore_errors=True)
        if not done:
            _remove_empty(created)  # a failed download leaves no data folder behind
    return Layout(fmt, target)


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed download created (deepest first), if nothing else is in them."""
    for folder in folders:
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): keep it
            return
