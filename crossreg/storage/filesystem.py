"""Blob storage on a local file system.

Layout under the root:
    blobs/<algorithm>/<first two hex>/<hex>   committed, immutable, content-addressed
    uploads/<upload id>                        bytes of an upload in progress
Committing renames the upload file into place (atomic on one file system) after an fsync, so a
crash leaves either the whole blob or none of it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterator

from crossreg.storage.base import BlobLocation, BlobNotFound, UploadNotFound

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


class FilesystemUploadWriter:
    def __init__(self, path: Path, offset: int):
        self._path, self._offset = path, offset
        self._file = open(path, "r+b" if offset else "wb", buffering=0)
        self._file.seek(offset)
        self._file.truncate()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]

    def close(self) -> None:
        self._file.close()

    def abort(self) -> None:
        # The bytes of an aborted chunk are discarded: the upload is left exactly as it was.
        try:
            self._file.truncate(self._offset)
        finally:
            self._file.close()
        if self._offset == 0:
            self._path.unlink(missing_ok=True)


class FilesystemBlobStore:
    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        (self.root / "blobs").mkdir(parents=True, exist_ok=True)
        (self.root / "uploads").mkdir(parents=True, exist_ok=True)

    # -- paths (names are validated so no input can escape the root) --
    def _blob_path(self, digest: str) -> Path:
        if not _DIGEST.match(digest):
            raise BlobNotFound(digest)
        algorithm, hexpart = digest.split(":", 1)
        return self.root / "blobs" / algorithm / hexpart[:2] / hexpart

    def _upload_path(self, upload_id: str) -> Path:
        if not _UPLOAD_ID.match(upload_id):
            raise UploadNotFound(upload_id)
        return self.root / "uploads" / upload_id

    # -- uploads --
    def open_upload(self, upload_id: str, offset: int) -> FilesystemUploadWriter:
        path = self._upload_path(upload_id)
        if offset and not path.exists():
            raise UploadNotFound(upload_id)
        return FilesystemUploadWriter(path, offset)

    def upload_size(self, upload_id: str) -> int:
        try:
            return self._upload_path(upload_id).stat().st_size
        except FileNotFoundError:
            return 0

    def read_upload(self, upload_id: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self._upload_path(upload_id)
        if not path.exists():
            return iter(())
        return _read_file(path, 0, None, chunk_size)

    def commit_upload(self, upload_id: str, digest: str, size: int | None = None) -> int:
        source = self._upload_path(upload_id)
        target = self._blob_path(digest)
        if target.exists():  # same content already stored: content addressing makes this safe
            source.unlink(missing_ok=True)
            return target.stat().st_size
        if not source.exists():  # a zero-byte upload that never opened a writer
            source.touch()
        fd = os.open(source, os.O_RDWR)
        try:
            if size is not None and os.fstat(fd).st_size != size:
                os.ftruncate(fd, size)
            os.fsync(fd)
        finally:
            os.close(fd)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(source, target)
        _fsync_dir(target.parent)
        return target.stat().st_size

    def delete_upload(self, upload_id: str) -> None:
        try:
            self._upload_path(upload_id).unlink(missing_ok=True)
        except UploadNotFound:
            pass

    # -- blobs --
    def put_blob(self, digest: str, data: bytes) -> None:
        target = self._blob_path(digest)
        if target.exists():
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{os.getpid()}.{id(data)}.tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)

    def blob_size(self, digest: str) -> int | None:
        try:
            return self._blob_path(digest).stat().st_size
        except (FileNotFoundError, BlobNotFound):
            return None

    def read_blob(self, digest: str, offset: int = 0, length: int | None = None,
                  chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self._blob_path(digest)
        if not path.exists():
            raise BlobNotFound(digest)
        return _read_file(path, offset, length, chunk_size)

    def locate_blob(self, digest: str) -> BlobLocation | None:
        path = self._blob_path(digest)
        return BlobLocation(path=str(path)) if path.exists() else None

    def delete_blob(self, digest: str) -> None:
        try:
            self._blob_path(digest).unlink(missing_ok=True)
        except BlobNotFound:
            pass


def _read_file(path: Path, offset: int, length: int | None, chunk_size: int) -> Iterator[bytes]:
    with open(path, "rb") as f:
        f.seek(offset)
        remaining = length
        while remaining is None or remaining > 0:
            data = f.read(chunk_size if remaining is None else min(chunk_size, remaining))
            if not data:
                return
            if remaining is not None:
                remaining -= len(data)
            yield data


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
