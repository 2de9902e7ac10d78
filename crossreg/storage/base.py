"""The blob storage interface. Blobs are content-addressed: a blob's key is its digest.

Upload bytes are staged under an upload id and become a blob only through `commit_upload`,
after the caller has verified the digest, so no reader can ever see a partial blob.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Protocol


class BlobNotFound(Exception):
    pass


class UploadNotFound(Exception):
    pass


class StorageUnavailable(Exception):
    """The backing store failed in a way that may succeed later (maps to 503 + Retry-After)."""


@dataclass(frozen=True)
class BlobLocation:
    """Where a reader can fetch a blob directly: a local file path or a (pre-signed) URL."""

    path: str | None = None
    url: str | None = None


class UploadWriter(Protocol):
    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """Make the written bytes durable (the upload may continue later from its new size)."""

    def abort(self) -> None:
        """Stop writing; bytes written since open are discarded where the backend can."""


class BlobStore(Protocol):
    def open_upload(self, upload_id: str, offset: int) -> UploadWriter:
        """Append to an upload, which must currently hold exactly `offset` bytes."""

    def upload_size(self, upload_id: str) -> int: ...

    def read_upload(self, upload_id: str, chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def commit_upload(self, upload_id: str, digest: str, size: int | None = None) -> int:
        """Turn a finished upload into the blob `digest`; idempotent. Returns its size. With
        `size`, only the first `size` bytes become the blob (the ones the caller verified;
        bytes stored past them were never acknowledged, e.g. a chunk cut short by a crash)."""

    def delete_upload(self, upload_id: str) -> None: ...

    def put_blob(self, digest: str, data: bytes) -> None:
        """Store small content whose digest the caller has verified."""

    def blob_size(self, digest: str) -> int | None: ...

    def read_blob(self, digest: str, offset: int = 0, length: int | None = None,
                  chunk_size: int = 1 << 20) -> Iterator[bytes]: ...

    def locate_blob(self, digest: str) -> BlobLocation | None: ...

    def delete_blob(self, digest: str) -> None: ...


def open_blob_store(url: str) -> BlobStore:
    if url.startswith("file://"):
        from crossreg.storage.filesystem import FilesystemBlobStore

        return FilesystemBlobStore(url[len("file://"):])
    if url.startswith("s3://"):
        from crossreg.storage.s3 import S3BlobStore  # type: ignore[import-not-found]

        return S3BlobStore.from_url(url)
    raise ValueError(f"unsupported storage URL scheme: {url.split(':', 1)[0]}")
