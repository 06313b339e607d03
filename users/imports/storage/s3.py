"""Uploads in an S3-compatible bucket (AWS S3, Cloudflare R2, Backblaze B2, MinIO …) through django-storages.

For deployments that would rather not keep files in PostgreSQL. Two changes to
django-storages' defaults keep the 512 MB budget: uploads go up in single-threaded
5 MB parts (S3's smallest multipart size) instead of ten threads of 8 MB, and a
file is opened as the response's own stream instead of django-storages' S3File,
which downloads the whole object into memory on first read.
"""

from typing import Any

from django.conf import settings
from django.core.files.base import File
from storages.backends.s3 import S3Storage
from storages.utils import clean_name

# S3 refuses multipart parts smaller than 5 MiB (except the last), so this is the smallest buffer per upload.
S3_PART_BYTES = 5 * 1024 * 1024


class StreamingS3Storage(S3Storage):
    """django-storages' S3 backend, reading a file as a stream and writing it in small single-threaded parts."""

    def _open(self, name: str, mode: str = "rb") -> File:
        if "w" in mode or "a" in mode or "+" in mode:
            raise ValueError("Files in the bucket are written with save(), not opened for writing.")
        from botocore.exceptions import ClientError

        key = self._normalize_name(clean_name(name))
        try:
            body = self.bucket.Object(key).get()["Body"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in {"NoSuchKey", "404"}:
                raise FileNotFoundError(f"No stored file named {name!r}") from None
            raise
        return File(body, name=name)


def s3_storage() -> StreamingS3Storage:
    """The bucket IMPORT_S3_* name, with credentials from there or boto3's usual places."""
    from boto3.s3.transfer import TransferConfig

    options: dict[str, Any] = {
        "bucket_name": settings.IMPORT_S3_BUCKET,
        "endpoint_url": settings.IMPORT_S3_ENDPOINT_URL or None,
        "region_name": settings.IMPORT_S3_REGION or None,
        "location": settings.IMPORT_S3_PREFIX,
        # Never overwrite: a name clash gets a new name, so one job can't replace another's file.
        "file_overwrite": False,
        "default_acl": None,
        "querystring_auth": True,
        "transfer_config": TransferConfig(
            multipart_threshold=S3_PART_BYTES,
            multipart_chunksize=S3_PART_BYTES,
            max_concurrency=1,
            use_threads=False,
        ),
    }
    if settings.IMPORT_S3_ACCESS_KEY_ID:
        options["access_key"] = settings.IMPORT_S3_ACCESS_KEY_ID
        options["secret_key"] = settings.IMPORT_S3_SECRET_ACCESS_KEY
    return StreamingS3Storage(**options)
