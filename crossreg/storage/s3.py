"""Blob storage in an S3 bucket: Amazon S3 or any S3-compatible object store (Ceph RGW, MinIO...).

Selected by a storage URL `s3://bucket[/prefix]`; the bucket must exist. The client is
botocore's (the low-level client of boto3). Everything else comes from the environment, read
once when the store is opened:

    AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL   endpoint of an S3-compatible service (default: AWS)
    AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN, AWS_PROFILE, instance
                                            roles: the AWS SDK's usual credential chain)
    AWS_REGION, AWS_DEFAULT_REGION          region to sign for (default us-east-1)
    AWS_MAX_ATTEMPTS, AWS_RETRY_MODE        retries (default: 3 attempts, "standard")
    AWS_REQUEST_CHECKSUM_CALCULATION        the SDK's flexible checksums; crossreg defaults it to
                                            "when_required", which S3-compatible servers
                                            accept (set "when_supported" on Amazon S3)
    CROSSREG_S3_ADDRESSING_STYLE            path | virtual | auto (default: path with a custom
                                            endpoint, auto on Amazon S3)
    CROSSREG_S3_PRESIGN_ENDPOINT_URL        endpoint written into pre-signed URLs, when clients
                                            reach the object store by another address than
                                            crossreg does (default: the endpoint above)
    CROSSREG_S3_PRESIGN_EXPIRES             lifetime of pre-signed URLs in seconds (default 1200)
    CROSSREG_S3_REDIRECT=1                  (crossreg.config) blob GETs answer 307 to a
                                            pre-signed URL instead of streaming through crossreg

Object layout under the prefix:

    <prefix>/blobs/<algorithm>/<hex>               committed blobs, immutable, content-addressed
    <prefix>/uploads/<upload id>/<offset:016x>      the segments of an upload in progress

Uploads. An upload is appended to by successive requests, possibly served by different
processes, any of which may crash. Its bytes are stored as *segments*: ordinary objects, each
named by the offset of its first byte, which together cover the upload contiguously. So the
state of an upload is what a LIST of its prefix shows: no process keeps anything in memory
between requests, and another process continues an upload by listing it.

Invariant: every segment except the last is at least 5 MiB (S3's minimum multipart part size)
and at most `segment_max` (4 GiB, below S3's 5 GiB maximum part size). An append (one writer)
therefore starts by looking at the last segment:

- if it is smaller than 5 MiB, the writer reads it into its buffer and rewrites it, longer, under
  the same name (a PUT replaces an object atomically, so a reader or a crash sees either the old
  or the new segment, and the old one is a prefix of the new);
- otherwise the writer starts a new segment at the current end.

A writer buffers at most one part (`part_size`, 8 MiB). When its segment outgrows the buffer it
becomes a multipart upload of 8 MiB parts, invisible until completed by `close()`; a segment that
reaches `segment_max` is completed and the writer goes on with a new one. Memory per writer is
thus bounded by about one part, whatever the size of the request or of the blob.

`close()` makes the segment durable (PUT, or CompleteMultipartUpload); `abort()` aborts the
multipart upload in progress and leaves the acknowledged segments as they were. Bytes that were
stored but never acknowledged (a crash between `close()` and the database update) are cut off by
the next `open_upload(offset)`: segments starting at or past `offset` are deleted, and a segment
straddling `offset` is rewritten to end there (its first part copied server-side with
UploadPartCopy when it is large).

Commit. `commit_upload` composes the segments into the final key with one multipart upload
whose parts are server-side copies of the segments (UploadPartCopy; the invariant makes every
part but the last at least 5 MiB), or one CopyObject for a single segment. (S3 allows 10,000
parts: an upload may have that many segments, so at least 50 GiB, more with larger requests.) Completion is atomic,
so the blob key never holds a partial blob; the caller commits only after it verified the
digest. Given the verified size (`commit_upload(id, digest, size)`, optional), only that many
bytes are composed, the last segment copied by range, so bytes stored past it (never
acknowledged) cannot end up in the blob. If the blob already exists, committing just drops the upload (content addressing), so
commits are idempotent. The segments are deleted afterwards; a crash in between leaves only
garbage that `delete_upload` (the garbage collector's abandoned-upload step) removes.
Multipart uploads left by crashed writers cost storage until aborted: `delete_upload` aborts
those of its upload, `abort_stale_multipart_uploads` all old ones under the prefix, and a bucket
lifecycle rule (AbortIncompleteMultipartUpload) is a good idea in production.

Reads stream GetObject bodies (with a Range for partial reads) chunk by chunk. Connection
failures, timeouts and 5xx answers (after the client's retries) raise `StorageUnavailable`, which the
HTTP layers answer with 503 and Retry-After.
"""

from __future__ import annotations

import os
import re
import time
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit

from crossreg.storage.base import BlobLocation, BlobNotFound, StorageUnavailable, UploadNotFound

MIN_PART_SIZE = 5 << 20        # S3: every part but the last is at least 5 MiB
DEFAULT_PART_SIZE = 8 << 20
DEFAULT_SEGMENT_MAX = 4 << 30  # S3: a part (hence a copied segment) is at most 5 GiB
MAX_PARTS = 10_000
DEFAULT_PRESIGN_EXPIRES = 1200

_DIGEST = re.compile(r"^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
_SEGMENT = re.compile(r"^[0-9a-f]{16}$")
_UNAVAILABLE_CODES = {"SlowDown", "ServiceUnavailable", "RequestTimeout", "InternalError",
                      "Throttling", "ThrottlingException", "RequestTimeTooSkewed"}


class _Segment:
    __slots__ = ("start", "size", "key", "modified")

    def __init__(self, start: int, size: int, key: str, modified: float = 0.0):
        self.start, self.size, self.key, self.modified = start, size, key, modified

    @property
    def end(self) -> int:
        return self.start + self.size


def _unavailable(exc: BaseException) -> bool:
    """Whether a botocore (boto3) error means "the object store is not there right now"."""
    from botocore import exceptions as be

    if isinstance(exc, (be.ConnectionError, be.HTTPClientError, be.IncompleteReadError,
                        be.ResponseStreamingError)):
        return True
    if isinstance(exc, be.ClientError):
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        return status >= 500 or exc.response.get("Error", {}).get("Code") in _UNAVAILABLE_CODES
    try:
        import urllib3.exceptions as ue
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (ue.HTTPError, ConnectionError, TimeoutError))


def _error_code(exc: BaseException) -> str | None:
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None
    code = response.get("Error", {}).get("Code")
    if code is None:
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return str(status) if status else None
    return str(code)


def _not_found(exc: BaseException) -> bool:
    return _error_code(exc) in ("404", "NoSuchKey", "NotFound")


class S3BlobStore:
    def __init__(self, bucket: str, prefix: str = "", *, client: Any = None,
                 presign_client: Any = None, part_size: int = DEFAULT_PART_SIZE,
                 segment_max: int = DEFAULT_SEGMENT_MAX,
                 presign_expires: int = DEFAULT_PRESIGN_EXPIRES):
        if not bucket:
            raise ValueError("an s3:// storage URL needs a bucket name")
        if part_size < MIN_PART_SIZE:
            raise ValueError(f"part_size must be at least {MIN_PART_SIZE} bytes")
        if segment_max < part_size or segment_max > (5 << 30):
            raise ValueError("segment_max must be between part_size and 5 GiB")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.client = client if client is not None else make_client()
        self.presign_client = presign_client or self.client
        self.part_size = part_size
        self.segment_max = segment_max
        self.presign_expires = presign_expires

    @classmethod
    def from_url(cls, url: str) -> "S3BlobStore":
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError("S3 storage URLs look like s3://bucket/prefix")
        presign_endpoint = os.environ.get("CROSSREG_S3_PRESIGN_ENDPOINT_URL")
        return cls(parts.netloc, parts.path, client=make_client(),
                   presign_client=make_client(presign_endpoint) if presign_endpoint else None,
                   presign_expires=int(os.environ.get("CROSSREG_S3_PRESIGN_EXPIRES",
                                                      DEFAULT_PRESIGN_EXPIRES)))

    def __repr__(self) -> str:
        return f"S3BlobStore(s3://{self.bucket}/{self.prefix})"

    # -- keys (names are validated so no input can reach another key) --
    def _key(self, *parts: str) -> str:
        return "/".join(p for p in (self.prefix, *parts) if p)

    def _blob_key(self, digest: str) -> str:
        if not _DIGEST.match(digest):
            raise BlobNotFound(digest)
        algorithm, hexpart = digest.split(":", 1)
        return self._key("blobs", algorithm, hexpart)

    def _upload_prefix(self, upload_id: str) -> str:
        if not _UPLOAD_ID.match(upload_id):
            raise UploadNotFound(upload_id)
        return self._key("uploads", upload_id) + "/"

    def _segment_key(self, upload_id: str, start: int) -> str:
        return f"{self._upload_prefix(upload_id)}{start:016x}"

    # -- calls, with outages mapped to StorageUnavailable --
    def _call(self, method: str, **kwargs) -> dict:
        try:
            return getattr(self.client, method)(Bucket=self.bucket, **kwargs)
        except Exception as exc:
            if _unavailable(exc):
                raise StorageUnavailable(f"object storage unavailable ({method}): {exc}") from exc
            raise

    def _list(self, prefix: str) -> Iterator[dict]:
        token = None
        while True:
            kwargs = {"Prefix": prefix}
            if token:
                kwargs["ContinuationToken"] = token
            page = self._call("list_objects_v2", **kwargs)
            yield from page.get("Contents", ())
            if not page.get("IsTruncated"):
                return
            token = page.get("NextContinuationToken")

    def _list_multipart(self, prefix: str) -> Iterator[dict]:
        kwargs: dict = {"Prefix": prefix}
        while True:
            page = self._call("list_multipart_uploads", **kwargs)
            yield from page.get("Uploads", ())
            if not page.get("IsTruncated"):
                return
            kwargs = {"Prefix": prefix, "KeyMarker": page.get("NextKeyMarker", ""),
                      "UploadIdMarker": page.get("NextUploadIdMarker", "")}

    def _delete_keys(self, keys: list[str]) -> None:
        for i in range(0, len(keys), 1000):
            batch = keys[i:i + 1000]
            result = self._call("delete_objects", Delete={
                "Objects": [{"Key": k} for k in batch], "Quiet": True})
            errors = [e for e in result.get("Errors", ()) if e.get("Code") != "NoSuchKey"]
            if errors:
                raise StorageUnavailable(f"object storage could not delete {len(errors)} objects: "
                                         f"{errors[0].get('Code')}")

    def _head(self, key: str) -> dict | None:
        try:
            return self._call("head_object", Key=key)
        except StorageUnavailable:
            raise
        except Exception as exc:
            if _not_found(exc):
                return None
            raise

    def _stream(self, key: str, byte_range: str | None, chunk_size: int) -> Iterator[bytes] | None:
        """The object's bytes (a lazy iterator; the GET itself is made now), or None if the
        object does not exist. An unsatisfiable range gives an empty iterator."""
        kwargs = {"Key": key}
        if byte_range:
            kwargs["Range"] = byte_range
        try:
            body = self._call("get_object", **kwargs)["Body"]
        except StorageUnavailable:
            raise
        except Exception as exc:
            if _not_found(exc):
                return None
            if _error_code(exc) == "InvalidRange":
                return iter(())
            raise
        return _BodyIterator(body, chunk_size)

    # -- segments of uploads --
    def _segments(self, upload_id: str) -> list[_Segment]:
        prefix = self._upload_prefix(upload_id)
        found = []
        for obj in self._list(prefix):
            name = obj["Key"][len(prefix):]
            if _SEGMENT.match(name):
                found.append(_Segment(int(name, 16), int(obj["Size"]), obj["Key"],
                                      obj["LastModified"].timestamp()))
        found.sort(key=lambda s: s.start)
        return found

    @staticmethod
    def _chain(segments: list[_Segment]) -> list[_Segment]:
        """The segments that cover the upload contiguously from offset 0."""
        chain, end = [], 0
        for seg in segments:
            if seg.start != end:
                break
            chain.append(seg)
            end = seg.end
        return chain

    # -- uploads --
    def open_upload(self, upload_id: str, offset: int) -> "S3UploadWriter":
        segments = self._segments(upload_id)
        chain = self._chain(segments)
        end = chain[-1].end if chain else 0
        if offset < 0 or offset > end:
            raise UploadNotFound(upload_id)
        # Bytes at or past `offset` were never acknowledged: drop them (and any stray segment).
        keep = {id(s) for s in chain if s.start < offset}
        self._delete_keys([s.key for s in segments if id(s) not in keep])
        base = next((s for s in chain if s.start < offset <= s.end), None)
        writer = S3UploadWriter(self, upload_id)
        if base is None:  # an empty upload
            writer._begin(offset)
        elif base.end == offset and base.size >= MIN_PART_SIZE:
            writer._begin(offset)  # a full-sized last segment stays; start the next one
        elif offset - base.start < MIN_PART_SIZE:
            # A small last segment (or one cut back to small): rewrite it, longer.
            data = bytearray()
            for chunk in self._stream(base.key, f"bytes=0-{offset - base.start - 1}", 1 << 20) or ():
                data += chunk
            if len(data) != offset - base.start:
                raise StorageUnavailable(f"segment {base.key} changed while being read")
            writer._begin(base.start, buffer=data, dirty=base.end != offset)
        else:
            # A large segment that holds bytes past `offset`: rewrite it to end there, its
            # acknowledged bytes copied server-side as the first part.
            writer._begin(base.start, copy=(base.key, offset - base.start), dirty=True)
        return writer

    def upload_size(self, upload_id: str) -> int:
        chain = self._chain(self._segments(upload_id))
        return chain[-1].end if chain else 0

    def read_upload(self, upload_id: str, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        chain = self._chain(self._segments(upload_id))

        def generate() -> Iterator[bytes]:
            for seg in chain:
                stream = self._stream(seg.key, None, chunk_size)
                if stream is None:
                    raise StorageUnavailable(f"segment {seg.key} vanished while being read")
                yield from stream

        return generate()

    def commit_upload(self, upload_id: str, digest: str, size: int | None = None) -> int:
        """Turn the upload into the blob `digest`; with `size`, only its first `size` bytes (the
        ones the caller verified: bytes stored past them were never acknowledged)."""
        key = self._blob_key(digest)
        existing = self._head(key)
        if existing is not None:  # same content already stored: content addressing makes this safe
            self.delete_upload(upload_id)
            return int(existing["ContentLength"])
        chain = self._chain(self._segments(upload_id))
        end = chain[-1].end if chain else 0
        if size is None:
            size = end
        elif size > end:
            raise UploadNotFound(upload_id)
        # (segment, bytes of it) that make up the blob
        pieces = [(seg, min(seg.size, size - seg.start)) for seg in chain if seg.start < size]
        if not pieces:  # a zero-byte upload
            self._call("put_object", Key=key, Body=b"")
        elif len(pieces) == 1 and pieces[0][1] == pieces[0][0].size:
            self._call("copy_object", Key=key, CopySource={"Bucket": self.bucket, "Key": pieces[0][0].key})
        else:
            if len(pieces) > MAX_PARTS:
                raise ValueError(f"upload {upload_id} has more than {MAX_PARTS} segments")
            upload = self._call("create_multipart_upload", Key=key)["UploadId"]
            try:
                parts = []
                for number, (seg, length) in enumerate(pieces, start=1):
                    extra = {} if length == seg.size else {"CopySourceRange": f"bytes=0-{length - 1}"}
                    result = self._call("upload_part_copy", Key=key, UploadId=upload, PartNumber=number,
                                        CopySource={"Bucket": self.bucket, "Key": seg.key}, **extra)
                    parts.append({"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]})
                self._call("complete_multipart_upload", Key=key, UploadId=upload,
                           MultipartUpload={"Parts": parts})
            except BaseException:
                self._abort_quietly(key, upload)
                raise
        self.delete_upload(upload_id)
        return size

    def delete_upload(self, upload_id: str) -> None:
        try:
            prefix = self._upload_prefix(upload_id)
        except UploadNotFound:
            return
        for mpu in list(self._list_multipart(prefix)):
            self._abort_quietly(mpu["Key"], mpu["UploadId"])
        self._delete_keys([obj["Key"] for obj in self._list(prefix)])

    def _abort_quietly(self, key: str, upload: str) -> None:
        try:
            self._call("abort_multipart_upload", Key=key, UploadId=upload)
        except Exception:  # already gone, or storage down: garbage for a later clean-up
            pass

    # -- blobs --
    def put_blob(self, digest: str, data: bytes) -> None:
        key = self._blob_key(digest)
        if self._head(key) is not None:
            return
        self._call("put_object", Key=key, Body=data)

    def blob_size(self, digest: str) -> int | None:
        try:
            head = self._head(self._blob_key(digest))
        except BlobNotFound:
            return None
        return None if head is None else int(head["ContentLength"])

    def read_blob(self, digest: str, offset: int = 0, length: int | None = None,
                  chunk_size: int = 1 << 20) -> Iterator[bytes]:
        key = self._blob_key(digest)
        if length is not None and length <= 0:
            if self._head(key) is None:
                raise BlobNotFound(digest)
            return iter(())
        if offset == 0 and length is None:
            byte_range = None
        elif length is None:
            byte_range = f"bytes={offset}-"
        else:
            byte_range = f"bytes={offset}-{offset + length - 1}"
        stream = self._stream(key, byte_range, chunk_size)
        if stream is None:
            raise BlobNotFound(digest)
        return stream

    def locate_blob(self, digest: str) -> BlobLocation | None:
        """A pre-signed GET URL for the blob, valid for `presign_expires` seconds."""
        try:
            key = self._blob_key(digest)
        except BlobNotFound:
            return None
        if self._head(key) is None:
            return None
        url = self.presign_client.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=self.presign_expires)
        return BlobLocation(url=url)

    def delete_blob(self, digest: str) -> None:
        try:
            key = self._blob_key(digest)
        except BlobNotFound:
            return
        self._call("delete_object", Key=key)

    # -- listings, for the garbage collector --
    def iter_blob_digests(self) -> Iterator[tuple[str, float]]:
        """(digest, last-modified time) of every stored blob."""
        prefix = self._key("blobs") + "/"
        for obj in self._list(prefix):
            algorithm, _, hexpart = obj["Key"][len(prefix):].partition("/")
            digest = f"{algorithm}:{hexpart}"
            if _DIGEST.match(digest):
                yield digest, obj["LastModified"].timestamp()

    def iter_upload_ids(self) -> Iterator[tuple[str, float]]:
        """(upload id, time of its latest write) of every upload with stored bytes, including
        uploads that only left an unfinished multipart upload behind."""
        prefix = self._key("uploads") + "/"
        latest: dict[str, float] = {}
        for obj in self._list(prefix):
            upload_id = obj["Key"][len(prefix):].partition("/")[0]
            latest[upload_id] = max(latest.get(upload_id, 0.0), obj["LastModified"].timestamp())
        for mpu in self._list_multipart(prefix):
            upload_id = mpu["Key"][len(prefix):].partition("/")[0]
            latest[upload_id] = max(latest.get(upload_id, 0.0), mpu["Initiated"].timestamp())
        for upload_id, modified in sorted(latest.items()):
            if _UPLOAD_ID.match(upload_id):
                yield upload_id, modified

    def abort_stale_multipart_uploads(self, older_than: float = 24 * 3600) -> int:
        """Abort multipart uploads under the prefix started more than `older_than` seconds ago
        (left by crashed writers or commits); returns how many."""
        cutoff = time.time() - older_than
        stale = [m for m in self._list_multipart(self._key() + "/" if self.prefix else "")
                 if m["Initiated"].timestamp() < cutoff]
        for mpu in stale:
            self._abort_quietly(mpu["Key"], mpu["UploadId"])
        return len(stale)


class S3UploadWriter:
    """Appends to one upload; see the module docstring for the segment scheme."""

    def __init__(self, store: S3BlobStore, upload_id: str):
        self._store = store
        self._upload_id = upload_id
        self._closed = False

    def _begin(self, start: int, *, buffer: bytearray | None = None,
               copy: tuple[str, int] | None = None, dirty: bool = False) -> None:
        self._start = start              # offset of the current segment's first byte
        self._buf = buffer if buffer is not None else bytearray()  # not yet sent
        self._copy = copy                # (key, length): first part, copied server-side
        self._size = len(self._buf) + (copy[1] if copy else 0)  # bytes in the current segment
        self._mpu: str | None = None     # multipart upload of the current segment
        self._parts: list[dict] = []
        self._dirty = dirty              # the current segment must be written on close

    @property
    def _key(self) -> str:
        return self._store._segment_key(self._upload_id, self._start)

    def write(self, data: bytes) -> None:
        if self._closed:
            raise ValueError("write to a closed upload writer")
        view = memoryview(data)
        while view:
            room = self._store.segment_max - self._size
            if room <= 0:
                self._finish_segment()
                self._begin(self._start + self._size)
                continue
            n = min(len(view), room, self._store.part_size - len(self._buf))
            self._buf += view[:n]
            view = view[n:]
            self._size += n
            self._dirty = True
            if len(self._buf) >= self._store.part_size:
                self._flush_part()

    def _ensure_multipart(self) -> None:
        if self._mpu is not None:
            return
        self._mpu = self._store._call("create_multipart_upload", Key=self._key)["UploadId"]
        if self._copy is not None:
            source, length = self._copy
            result = self._store._call(
                "upload_part_copy", Key=self._key, UploadId=self._mpu, PartNumber=1,
                CopySource={"Bucket": self._store.bucket, "Key": source},
                CopySourceRange=f"bytes=0-{length - 1}")
            self._parts.append({"PartNumber": 1, "ETag": result["CopyPartResult"]["ETag"]})
            self._copy = None

    def _flush_part(self) -> None:
        self._ensure_multipart()
        number = len(self._parts) + 1
        result = self._store._call("upload_part", Key=self._key, UploadId=self._mpu,
                                   PartNumber=number, Body=self._buf)
        self._parts.append({"PartNumber": number, "ETag": result["ETag"]})
        self._buf = bytearray()

    def _finish_segment(self) -> None:
        """Make the current segment durable: one PUT, or complete its multipart upload."""
        if not self._dirty:
            return
        if self._mpu is None and self._copy is None:
            self._store._call("put_object", Key=self._key, Body=self._buf)
        else:
            self._ensure_multipart()
            if self._buf:
                self._flush_part()
            self._store._call("complete_multipart_upload", Key=self._key, UploadId=self._mpu,
                              MultipartUpload={"Parts": self._parts})
        self._buf, self._mpu, self._parts, self._dirty = bytearray(), None, [], False

    def close(self) -> None:
        if self._closed:
            return
        try:
            self._finish_segment()
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def abort(self) -> None:
        self._closed = True
        self._buf = bytearray()
        if self._mpu is not None:
            self._store._abort_quietly(self._key, self._mpu)
            self._mpu = None


class _BodyIterator:
    """Chunks of a GetObject body; the HTTP connection goes back to the pool when the body is
    exhausted, fails, or the iterator is closed or dropped (a client that went away)."""

    def __init__(self, body, chunk_size: int):
        self._body = body
        self._chunks = body.iter_chunks(chunk_size)

    def __iter__(self) -> "_BodyIterator":
        return self

    def __next__(self) -> bytes:
        try:
            while True:
                chunk = next(self._chunks)
                if chunk:
                    return chunk
        except StopIteration:
            self.close()
            raise
        except Exception as exc:
            self.close()
            if _unavailable(exc):
                raise StorageUnavailable(f"object storage read failed: {exc}") from exc
            raise

    def close(self) -> None:
        body, self._body = self._body, None
        if body is not None:
            body.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def make_client(endpoint_url: str | None = None):
    """An S3 client configured from the environment (see the module docstring): botocore's,
    the client boto3 is built on (and a dependency of crossreg already)."""
    import botocore.session
    from botocore.config import Config

    env = os.environ
    endpoint = endpoint_url or env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None
    style = env.get("CROSSREG_S3_ADDRESSING_STYLE") or ("path" if endpoint else "auto")
    options: dict = {
        "signature_version": "s3v4",
        "s3": {"addressing_style": style},
        "retries": {"mode": env.get("AWS_RETRY_MODE", "standard"),
                    "max_attempts": int(env.get("AWS_MAX_ATTEMPTS", "3"))},
        "connect_timeout": 5,
        "read_timeout": 60,
        "max_pool_connections": 64,
    }
    if not env.get("AWS_REQUEST_CHECKSUM_CALCULATION"):
        options["request_checksum_calculation"] = "when_required"
    if not env.get("AWS_RESPONSE_CHECKSUM_VALIDATION"):
        options["response_checksum_validation"] = "when_required"
    region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    session = botocore.session.get_session()
    return session.create_client("s3", endpoint_url=endpoint, region_name=region, config=Config(**options))


__all__ = ["S3BlobStore", "S3UploadWriter", "make_client"]
