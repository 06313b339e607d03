"""Uploads live in durable storage: saved and read in chunks, found by any worker, deleted with the job's file."""

import os
import secrets
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.imports.factories import customer_rows
from tests.workers import run_worker_until_idle
from users.imports.jobs import import_job_run
from users.imports.services import import_job_create, import_job_create_from_payload
from users.imports.storage import (
    StoredFileMissingError,
    stored_file_delete,
    stored_file_local_copy,
    stored_file_open,
)
from users.imports.storage.database import DatabaseStorage
from users.models import Customer, FileStorage, ImportJob, ImportStatus, StoredFile, StoredFileChunk, User

KB = 1024
CSV_HEADER = "Shipping Mark,First Name,Last Name,Email,Phone Number,Region\n"


def csv_upload(count: int, name: str = "customers.csv") -> SimpleUploadedFile:
    lines = "".join(f"PM {n:05d},First{n},Last{n},c{n}@example.com,024{n:07d},Ashanti\n" for n in range(1, count + 1))
    return SimpleUploadedFile(name, (CSV_HEADER + lines).encode(), content_type="text/csv")


@pytest.mark.django_db
def test_a_file_of_several_chunks_comes_back_byte_for_byte() -> None:
    storage = DatabaseStorage(chunk_bytes=64 * KB)
    data = secrets.token_bytes(64 * KB * 4 + 17)
    name = storage.save("imports/test/one.bin", ContentFile(data))

    with storage.open(name) as stored:
        assert stored.read() == data
    assert StoredFileChunk.objects.filter(file__name=name).count() == 5, "64 KB chunks, the last one partial"
    assert storage.size(name) == len(data)


@pytest.mark.django_db
def test_reading_the_start_of_a_file_fetches_only_its_first_chunk() -> None:
    """What keeps a 50 MB upload out of memory: a read fetches the chunk it needs, not the file."""
    storage = DatabaseStorage(chunk_bytes=64 * KB)
    name = storage.save("imports/test/big.bin", ContentFile(secrets.token_bytes(64 * KB * 8)))

    with CaptureQueriesContext(connection) as queries, storage.open(name) as stored:
        stored.read(10)
    chunk_reads = [query for query in queries.captured_queries if "storedfilechunk" in query["sql"].lower()]
    assert len(chunk_reads) == 1, f"one chunk fetched for the first 10 bytes, not {len(chunk_reads)}"


@pytest.mark.django_db
def test_an_empty_file_is_stored_and_read_back_empty() -> None:
    storage = DatabaseStorage()
    name = storage.save("imports/test/empty.csv", ContentFile(b""))
    with storage.open(name) as stored:
        assert stored.read() == b""
    assert storage.exists(name) and storage.size(name) == 0


@pytest.mark.django_db
def test_a_name_already_taken_gets_a_new_one_and_neither_file_is_overwritten() -> None:
    storage = DatabaseStorage()
    first = storage.save("imports/test/same.csv", ContentFile(b"first"))
    second = storage.save("imports/test/same.csv", ContentFile(b"second"))
    assert first != second
    with storage.open(first) as one, storage.open(second) as two:
        assert (one.read(), two.read()) == (b"first", b"second")


@pytest.mark.django_db
def test_deleting_a_job_file_deletes_its_chunks_too(admin_user: User) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(3))
    assert job.file_storage == FileStorage.DATABASE and StoredFileChunk.objects.exists()

    assert stored_file_delete(job)

    assert not StoredFile.objects.exists() and not StoredFileChunk.objects.exists()
    with pytest.raises(StoredFileMissingError):
        stored_file_open(job)


@pytest.mark.django_db
def test_the_local_copy_is_deleted_when_the_pass_ends_even_by_an_error(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path)
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(3))

    with pytest.raises(RuntimeError), stored_file_local_copy(job) as path:
        assert path.parent == tmp_path and path.read_bytes().count(b"\n") == 3
        raise RuntimeError("the pass failed")

    assert list(tmp_path.iterdir()) == [], "no copy of a customer list is left on this machine's disk"


@pytest.mark.django_db
def test_an_upload_is_stored_in_the_database_and_not_on_the_web_instances_disk(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"
    job = import_job_create(user=admin_user, uploaded_file=csv_upload(5))

    assert job.file_storage == FileStorage.DATABASE
    assert StoredFile.objects.get(name=job.file.name).size == job.file_size
    assert not settings.MEDIA_ROOT.exists()


@pytest.mark.django_db
def test_a_file_uploaded_before_storage_was_durable_is_still_read_from_media_root(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    """A deploy of this release must not strand the jobs whose files are already on a persistent disk."""
    settings.MEDIA_ROOT = tmp_path
    job = ImportJob.objects.create(created_by=admin_user, original_filename="old.csv", file="imports/old.csv")
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "old.csv").write_bytes(csv_upload(4).read())
    migration = __import__("users.migrations.0007_import_storage", fromlist=["mark_existing_files_local"])
    migration.mark_existing_files_local(apps, None)
    job.refresh_from_db()
    assert job.file_storage == FileStorage.LOCAL, "the migration says where the older files are"

    import_job_run(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 4), job.error_message


@pytest.mark.django_db
def test_a_job_made_by_a_rolled_back_release_is_read_from_its_disk(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    """The previous release records no storage (the column's database default is empty): its files are local."""
    settings.MEDIA_ROOT = tmp_path
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "older.csv").write_bytes(csv_upload(3).read())
    job = ImportJob.objects.create(created_by=admin_user, original_filename="older.csv", file="imports/older.csv")
    assert job.file_storage == ""

    import_job_run(job_id=job.id)

    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 3), job.error_message


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_its_own_media_root_and_temp_dir_imports_an_upload_it_never_saw(
    admin_user: User, settings: Any, tmp_path: Path
) -> None:
    """Web and worker on different machines: nothing but the database is shared."""
    settings.MEDIA_ROOT = tmp_path / "web-media"
    job = import_job_create(user=admin_user, uploaded_file=csv_upload(40))
    worker_media, worker_tmp = tmp_path / "worker-media", tmp_path / "worker-tmp"
    worker_tmp.mkdir()

    run_worker_until_idle(timeout=120, extra_env={"MEDIA_ROOT": str(worker_media), "TMPDIR": str(worker_tmp)})

    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 40), job.error_message
    assert Customer.objects.count() == 40
    assert os.listdir(worker_tmp) == [], "the worker's temporary copy is deleted when the job ends"
