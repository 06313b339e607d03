"""A Django storage backend that keeps files in the database, one chunk per row.

The default for uploads: production already runs PostgreSQL (and `make run`
SQLite), so durable storage needs nothing more to set up or pay for. Saving
reads the source one chunk at a time and inserts it; opening returns a stream
that fetches one chunk per read, so a process holds at most one chunk
(STORED_FILE_CHUNK_BYTES) of a file however large it is.
"""

import io
from typing import Any

from django.core.files.base import File
from django.core.files.storage import Storage
from django.db import transaction
from django.utils.deconstruct import deconstructible

from users.models import StoredFile, StoredFileChunk

# 256 KB: a 50 MB upload is 200 inserts (a second or two), and a chunk with the driver's copies of it
# (bytea travels hex-encoded, twice its size) stays a few MB. With 1 MB chunks storing a 50 MB upload
# took the web worker's peak RSS up by 11.9 MB, over the 10 MB budget (tests/deploy/test_storage_memory.py).
STORED_FILE_CHUNK_BYTES = 256 * 1024


class StoredFileReader(io.RawIOBase):
    """A read-only stream over a stored file's chunks, fetching each from the database when it is reached."""

    def __init__(self, file_id: int, size: int) -> None:
        super().__init__()
        self._file_id = file_id
        self._size = size
        self._next_index = 0
        self._pending = memoryview(b"")
        self._exhausted = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        while not self._pending and not self._exhausted:
            self._fetch_next()
        count = min(len(view), len(self._pending))
        view[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def _fetch_next(self) -> None:
        data = (
            StoredFileChunk.objects.filter(file_id=self._file_id, index=self._next_index)
            .values_list("data", flat=True)
            .first()
        )
        if data is None:
            self._exhausted = True
            return
        self._next_index += 1
        self._pending = memoryview(bytes(data))


@deconstructible
class DatabaseStorage(Storage):
    """Files as StoredFile rows and their chunks; names are unique, as on a disk."""

    def __init__(self, chunk_bytes: int = STORED_FILE_CHUNK_BYTES) -> None:
        self.chunk_bytes = chunk_bytes

    def _save(self, name: str, content: File) -> str:
        # One transaction: a file is either whole or absent, never half-written for a worker to read.
        with transaction.atomic():
            stored = StoredFile.objects.create(name=name)
            size = 0
            for index, piece in enumerate(content.chunks(self.chunk_bytes)):
                StoredFileChunk.objects.create(file=stored, index=index, data=piece)
                size += len(piece)
            StoredFile.objects.filter(pk=stored.pk).update(size=size)
        return name

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Files stored in the database are written with save(), not opened for writing.")
        try:
            stored = StoredFile.objects.only("id", "size").get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(f"No stored file named {name!r}") from None
        # Unbuffered: the reader already holds one chunk, and a buffer would be a second copy of it.
        return File(StoredFileReader(stored.pk, stored.size), name=name)

    def delete(self, name: str) -> None:
        # The chunks go by the foreign key's cascade, deleted without being loaded.
        StoredFile.objects.filter(name=name).delete()

    def exists(self, name: str) -> bool:
        return StoredFile.objects.filter(name=name).exists()

    def size(self, name: str) -> int:
        try:
            return StoredFile.objects.values_list("size", flat=True).get(name=name)
        except StoredFile.DoesNotExist:
            raise FileNotFoundError(f"No stored file named {name!r}") from None

    def url(self, name: str | None) -> str:
        raise NotImplementedError("Stored imports are never served by URL; they are read by the worker.")
