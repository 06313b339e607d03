"""Where an import's file lives: durable storage that every web instance and worker reads, never one disk.

An upload (or the JSON Lines of a posted customer list) is saved here by the web
instance that received it and read back by whichever worker claims the job, on
any machine. IMPORT_STORAGE chooses where new files go: `database` (the default:
chunks in the app's own database, users/imports/storage/database.py) or `s3` (an
S3-compatible bucket, users/imports/storage/s3.py). The job records which
(`ImportJob.file_storage`), so a job outlives a change of setting, and the files
of jobs uploaded before storage was durable (`local`, under MEDIA_ROOT, or no
record at all when a rolled-back release made the job) are still found where
they are.

The readers (calamine, openpyxl, csv) need a seekable file on disk, so a pass
reads a temporary local copy (`stored_file_local_copy`), written one chunk at a
time and deleted when the pass ends, however it ends.
"""

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files.base import File
from django.core.files.storage import FileSystemStorage, Storage
from django.core.files.uploadedfile import UploadedFile

from users.models import FileStorage, ImportJob
from users.models.imports import import_upload_path

logger = logging.getLogger(__name__)

COPY_CHUNK_BYTES = 256 * 1024  # the database backend's chunk: one read, one write
TEMPORARY_PREFIX = "primepre-import-"


class StoredFileMissingError(FileNotFoundError):
    """The job's file is not in its storage (deleted by retention, or never stored)."""


def file_storage(backend: str) -> Storage:
    """The storage backend named `backend` (a FileStorage value)."""
    if backend == FileStorage.DATABASE:
        from users.imports.storage.database import DatabaseStorage

        return DatabaseStorage()
    if backend == FileStorage.S3:
        from users.imports.storage.s3 import s3_storage

        return s3_storage()
    if backend == FileStorage.LOCAL:
        return FileSystemStorage(location=settings.MEDIA_ROOT)
    raise ValueError(f"Unknown file storage {backend!r}")


def stored_file_save(*, job: ImportJob, filename: str, content: IO[bytes]) -> None:
    """Store `content` as `job`'s file in the configured storage, streamed in chunks; the job is not saved."""
    backend = settings.IMPORT_STORAGE
    storage = file_storage(backend)
    name = storage.save(import_upload_path(job, filename), File(content, name=filename))
    job.file = name
    job.file_storage = backend


def _backend_of(job: ImportJob) -> str | None:
    """Where the job's file is: as recorded, or on local disk for a file a previous release stored (no record)."""
    if not job.file:
        return None
    return job.file_storage or FileStorage.LOCAL


def stored_file_exists(job: ImportJob) -> bool:
    backend = _backend_of(job)
    return backend is not None and file_storage(backend).exists(job.file.name)


def stored_file_open(job: ImportJob) -> File:
    """The job's file as a read-only stream, from whichever storage holds it."""
    backend = _backend_of(job)
    if backend is None:
        raise StoredFileMissingError(f"Import {job.id} has no stored file")
    try:
        return file_storage(backend).open(job.file.name, "rb")
    except FileNotFoundError:
        raise StoredFileMissingError(f"Import {job.id}'s file {job.file.name!r} is not stored") from None


@contextmanager
def stored_file_local_copy(job: ImportJob) -> Iterator[Path]:
    """A temporary copy of the job's file on this machine's disk, deleted when the block ends."""
    suffix = Path(job.file.name or "").suffix[:9]
    with stored_file_open(job) as source, _temporary_path(suffix) as path:
        with path.open("wb") as target:
            shutil.copyfileobj(source, target, COPY_CHUNK_BYTES)
        yield path


@contextmanager
def uploaded_file_local_path(uploaded_file: UploadedFile) -> Iterator[Path]:
    """The upload as a file on disk: Django's own spool when it has one, else a temporary copy."""
    if hasattr(uploaded_file, "temporary_file_path"):
        yield Path(uploaded_file.temporary_file_path())
        return
    suffix = Path(uploaded_file.name or "").suffix[:9]
    with _temporary_path(suffix) as path:
        with path.open("wb") as target:
            for piece in uploaded_file.chunks(COPY_CHUNK_BYTES):
                target.write(piece)
        yield path


def stored_file_delete(job: ImportJob) -> bool:
    """Delete the job's stored file, wherever it is; False if it had none. The job's row is not changed."""
    backend = _backend_of(job)
    if backend is None:
        return False
    file_storage(backend).delete(job.file.name)
    return True


@contextmanager
def _temporary_path(suffix: str) -> Iterator[Path]:
    # In TMPDIR (FILE_UPLOAD_TEMP_DIR if set), where Django spools uploads too: this machine's scratch space.
    fd, name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=suffix, dir=settings.FILE_UPLOAD_TEMP_DIR)
    os.close(fd)
    path = Path(name)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)
