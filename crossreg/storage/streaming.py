"""Blob bytes for an HTTP response body, read from the (blocking) store in the thread pool."""

from __future__ import annotations

from typing import AsyncIterator, Callable, Iterable

from starlette.concurrency import run_in_threadpool


async def open_blob_stream(read: Callable[..., Iterable[bytes]], *args) -> AsyncIterator[bytes]:
    """Call `read(*args)` and read the first chunk before the response starts: a store that is
    down (or has lost the bytes) then answers with a status code (503, 404) instead of a 200
    whose body is cut short. The rest is read chunk by chunk, each in the thread pool, and the
    store's stream is closed when the response ends or the client goes away."""
    def first_chunk():
        iterator = iter(read(*args))
        return iterator, next(iterator, None)

    iterator, first = await run_in_threadpool(first_chunk)

    async def chunks() -> AsyncIterator[bytes]:
        try:
            chunk = first
            while chunk is not None:
                yield chunk
                chunk = await run_in_threadpool(next, iterator, None)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    return chunks()
