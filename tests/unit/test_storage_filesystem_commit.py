"""The filesystem store commits only the bytes the caller verified."""

import hashlib

from crossreg.storage.filesystem import FilesystemBlobStore


def test_commit_cuts_off_unacknowledged_tail(tmp_path):
    store = FilesystemBlobStore(tmp_path)
    writer = store.open_upload("u1", 0)
    writer.write(b"acknowledged")
    writer.write(b" + tail a crash left behind")
    writer.close()
    digest = "sha256:" + hashlib.sha256(b"acknowledged").hexdigest()
    assert store.commit_upload("u1", digest, len(b"acknowledged")) == len(b"acknowledged")
    assert b"".join(store.read_blob(digest)) == b"acknowledged"
