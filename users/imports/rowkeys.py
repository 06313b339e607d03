"""Which rows of a checked file hold a given phone, shipping mark or email, without reading the file again.

A corrected row must not repeat another importable row of its file, whichever
comes first: the commit keeps the first row with a phone, mark or email, so a
corrected row 5 taking row 900's phone would push row 900 out. The check's own
duplicate index (dedupe.py) is gone once the check ends, and reading the file
again costs about 10 s per million rows, too slow to answer a correction at
once. So the dry run hands each chunk's admitted rows to `RowKeyRecorder`
(the pipeline's `collect` hook), which stores a 64-bit hash of each identity
key with its row number: 12 bytes a key, sorted and packed into one block per
chunk and per hash bucket (the hash's top six bits), in the database like the
rest of the job. A lookup reads one bucket's blocks (a 64th of the keys) and
binary-searches each. A false match needs two of the file's keys to share 64
bits: for a million-row file, about one chance in 10^13 per lookup.

The blocks are kept only while the job waits at VALIDATED: a commit forgets
them, and the worker's hourly prune removes those of any job that has moved on.
"""

import bisect
import hashlib
import sys
import uuid
from array import array
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from users.imports.rows import Candidate
from users.models import ImportJob, ImportKeyBlock, ImportStatus

BUCKET_BITS = 6  # 64 buckets: a lookup reads 1/64 of the keys
_SHIFT = 64 - BUCKET_BITS
_ENTRY_BYTES = 12  # an unsigned 64-bit hash, then (in a second run) the 32-bit row number


def identity_keys(*, shipping_mark: str, phone: str, email: str) -> tuple[str, ...]:
    """A row's identity as the duplicate index keys it: phone, mark, and the lower-cased email if any."""
    keys = ("p:" + phone, "m:" + shipping_mark)
    return (*keys, "e:" + email.lower()) if email else keys


def candidate_keys(candidate: Candidate) -> tuple[str, ...]:
    return identity_keys(shipping_mark=candidate.shipping_mark, phone=candidate.phone, email=candidate.email)


def key_hash(key: str) -> int:
    """A 64-bit hash of a key, the same in every process (Python's own `hash` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "little")


def _pack(entries: list[tuple[int, int]]) -> bytes:
    """Sorted (hash, row) pairs as little-endian bytes: every hash, then every row number."""
    entries.sort()
    hashes = array("Q", (hash_ for hash_, _row in entries))
    rows = array("I", (row for _hash, row in entries))
    if sys.byteorder == "big":
        hashes.byteswap()
        rows.byteswap()
    return hashes.tobytes() + rows.tobytes()


def _unpack(data: bytes | memoryview) -> tuple[array, array]:
    count = len(data) // _ENTRY_BYTES
    hashes, rows = array("Q"), array("I")
    hashes.frombytes(data[: 8 * count])
    rows.frombytes(data[8 * count : _ENTRY_BYTES * count])
    if sys.byteorder == "big":
        hashes.byteswap()
        rows.byteswap()
    return hashes, rows


class RowKeyRecorder:
    """The dry run's `collect` hook: keeps the identity keys of each checked chunk's importable rows.

    Made at the start of a check, it forgets what an earlier check of the job
    recorded (a check always reads the file from the top).
    """

    def __init__(self, *, job_id: uuid.UUID) -> None:
        self.job_id = job_id
        row_keys_forget(job_id=job_id)

    def __call__(self, chunk: Any, matches: Any = None) -> None:
        self.record(chunk.candidates)

    def record(self, candidates: Iterable[Candidate]) -> None:
        buckets: dict[int, list[tuple[int, int]]] = defaultdict(list)
        blake2b, from_bytes = hashlib.blake2b, int.from_bytes  # key_hash, inlined: three calls per row of the file
        for candidate in candidates:
            for key in candidate_keys(candidate):
                hash_ = from_bytes(blake2b(key.encode(), digest_size=8).digest(), "little")
                buckets[hash_ >> _SHIFT].append((hash_, candidate.row_number))
        ImportKeyBlock.objects.bulk_create(
            ImportKeyBlock(job_id=self.job_id, bucket=bucket, data=_pack(entries))
            for bucket, entries in buckets.items()
        )


def rows_with_keys(*, job_id: uuid.UUID, keys: Iterable[str]) -> dict[str, list[int]]:
    """For each key, the rows of the checked file that were admitted with it (usually none), in row order."""
    wanted: dict[int, str] = {key_hash(key): key for key in keys}
    by_bucket: dict[int, list[int]] = defaultdict(list)
    for hash_ in wanted:
        by_bucket[hash_ >> _SHIFT].append(hash_)
    found: dict[str, list[int]] = defaultdict(list)
    blocks = ImportKeyBlock.objects.filter(job_id=job_id, bucket__in=list(by_bucket)).values_list("bucket", "data")
    for bucket, data in blocks.iterator(chunk_size=200):
        hashes, rows = _unpack(data)
        for hash_ in by_bucket[bucket]:
            position = bisect.bisect_left(hashes, hash_)
            while position < len(hashes) and hashes[position] == hash_:
                found[wanted[hash_]].append(rows[position])
                position += 1
    return {key: sorted(rows) for key, rows in found.items()}


def row_keys_forget(*, job_id: uuid.UUID) -> None:
    """Drop a job's keys: it has left the Check step, or is about to be checked again."""
    ImportKeyBlock.objects.filter(job_id=job_id).delete()


def import_row_keys_prune() -> int:
    """Drop the keys of every job no longer waiting at VALIDATED (committed, cancelled, expired); returns how many."""
    waiting = ImportJob.objects.filter(status=ImportStatus.VALIDATED).values("id")
    deleted, _ = ImportKeyBlock.objects.exclude(job_id__in=waiting).delete()
    return deleted

