"""Uploads in an S3-compatible bucket: the real boto3 client over HTTP, against moto's S3 server in a child process."""

import os
import secrets
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from tests.imports.factories import customer_rows
from tests.imports.test_storage import csv_upload
from tests.s3 import moto_s3_server, s3_environment
from tests.workers import run_worker_until_idle
from users.imports.jobs import import_job_run
from users.imports.retention import import_files_prune
from users.imports.services import import_job_create, import_job_create_from_payload
from users.imports.storage import file_storage, stored_file_exists, stored_file_open
from users.models import Customer, FileStorage, ImportStatus, StoredFile, User

MB = 1024 * 1024


@pytest.fixture(scope="module")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's S3 server for this module's tests, stopped afterwards."""
    with moto_s3_server(tmp_path_factory.mktemp("moto")) as endpoint:
        yield endpoint


@pytest.fixture
def s3(settings: Any, s3_endpoint: str) -> str:
    """Settings pointed at a fresh bucket on the moto server."""
    for name, value in s3_environment(s3_endpoint).items():
        setattr(settings, name, value)
    storage = file_storage(FileStorage.S3)
    bucket = storage.bucket
    if bucket.creation_date is not None:
        bucket.objects.all().delete()
    else:
        bucket.create()
    return s3_endpoint


def object_keys() -> list[str]:
    return sorted(item.key for item in file_storage(FileStorage.S3).bucket.objects.all())


def test_a_file_of_several_upload_parts_comes_back_byte_for_byte(s3: str) -> None:
    storage = file_storage(FileStorage.S3)
    data = secrets.token_bytes(11 * MB + 3)  # three multipart parts of 5 MB, the last partial

    name = storage.save("imports/test/big.bin", ContentFile(data))

    assert object_keys() == [f"uploads/{name}"]
    with storage.open(name) as stored:
        first = stored.read(MB)
        assert first == data[:MB], "read as a stream, a piece at a time"
        assert first + stored.read() == data


def test_a_name_already_taken_gets_a_new_one_and_neither_file_is_overwritten(s3: str) -> None:
    storage = file_storage(FileStorage.S3)
    first = storage.save("imports/test/same.csv", ContentFile(b"first"))
    second = storage.save("imports/test/same.csv", ContentFile(b"second"))
    assert first != second and len(object_keys()) == 2


@pytest.mark.django_db
def test_an_upload_in_the_bucket_imports_and_retention_deletes_it(s3: str, admin_user: User) -> None:
    job = import_job_create(user=admin_user, uploaded_file=csv_upload(12))
    assert job.file_storage == FileStorage.S3 and object_keys() == [f"uploads/{job.file.name}"]
    assert not StoredFile.objects.exists(), "nothing in the database's own file store"

    import_job_run(job_id=job.id)
    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 12), job.error_message

    job.finished_at = timezone.now() - timedelta(days=30)
    job.save(update_fields=["finished_at"])
    assert import_files_prune(older_than_days=14) == 1
    assert object_keys() == [], "retention deletes the object from the bucket"


@pytest.mark.django_db
def test_a_missing_object_is_a_missing_file_not_a_crash(s3: str, admin_user: User) -> None:
    job = import_job_create_from_payload(user=admin_user, customers=customer_rows(2))
    file_storage(FileStorage.S3).bucket.objects.all().delete()

    assert not stored_file_exists(job)
    with pytest.raises(FileNotFoundError):
        stored_file_open(job)
    import_job_run(job_id=job.id)
    job.refresh_from_db()
    assert (job.status, job.error_code) == (ImportStatus.FAILED, "file_missing")


@pytest.mark.django_db(transaction=True)
def test_a_worker_with_its_own_disk_imports_an_upload_from_the_bucket(
    s3: str, admin_user: User, settings: Any, tmp_path: Path
) -> None:
    settings.MEDIA_ROOT = tmp_path / "web-media"
    job = import_job_create(user=admin_user, uploaded_file=csv_upload(30))
    worker_tmp = tmp_path / "worker-tmp"
    worker_tmp.mkdir()

    run_worker_until_idle(
        timeout=120,
        extra_env={**s3_environment(s3), "MEDIA_ROOT": str(tmp_path / "worker-media"), "TMPDIR": str(worker_tmp)},
    )

    job.refresh_from_db()
    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 30), job.error_message
    assert Customer.objects.count() == 30 and os.listdir(worker_tmp) == []
