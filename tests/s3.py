"""A real S3-compatible server for tests: moto's server mode in a child process, spoken to over HTTP.

The code under test drives boto3 exactly as it would drive AWS or R2; nothing
is patched. Use `moto_s3_server(directory)` as a context manager (a fixture's
body), and `s3_environment(endpoint)` for the variables that point a process at it.
"""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

BUCKET = "primepre-storage-tests"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def moto_s3_server(directory: Path) -> Iterator[str]:
    """moto's S3 server on a free 127.0.0.1 port, logging into `directory`; yields its endpoint URL."""
    port = _free_port()
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / "moto.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        endpoint = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()  # noqa: S310 - 127.0.0.1
                    break
                except (urllib.error.URLError, ConnectionError):
                    if process.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"moto's server did not start on {endpoint}") from None
                    time.sleep(0.2)
            yield endpoint
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def s3_environment(endpoint: str) -> dict[str, str]:
    """The variables that store uploads in the test bucket on `endpoint`."""
    return {
        "IMPORT_STORAGE": "s3",
        "IMPORT_S3_BUCKET": BUCKET,
        "IMPORT_S3_ENDPOINT_URL": endpoint,
        "IMPORT_S3_REGION": "us-east-1",
        "IMPORT_S3_PREFIX": "uploads",
        "IMPORT_S3_ACCESS_KEY_ID": "testing",
        "IMPORT_S3_SECRET_ACCESS_KEY": "testing",
    }


def create_bucket(endpoint: str) -> None:
    import boto3

    environment = s3_environment(endpoint)
    boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name=environment["IMPORT_S3_REGION"],
        aws_access_key_id=environment["IMPORT_S3_ACCESS_KEY_ID"],
        aws_secret_access_key=environment["IMPORT_S3_SECRET_ACCESS_KEY"],
    ).create_bucket(Bucket=BUCKET)
