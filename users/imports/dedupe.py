"""In-file duplicate detection in bounded memory: a row that repeats an earlier row's phone, mark or email.

A file may have 1,048,575 rows, about three keys each; a Python dict of 3M
strings costs about 300 MB, more than the import may use on a 512 MB server.
So the index keeps no strings: each key is a 64-bit hash in one flat table of
8-byte slots (about 32 MB for a million rows), and the keys themselves go to an
unlinked temporary file, read back only to confirm a hash hit. Hits are rare
(a real duplicate, or two keys sharing 42 bits of hash), so the file is almost
never read, and the answer is exact whatever the hashes do.
"""

import logging
import os
import tempfile
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import IO, Self

from users.imports.rows import FIELD_LABELS, Candidate, Field, HeaderMap, RowProblem
from users.models.choices import RowErrorCode

logger = logging.getLogger(__name__)

# A slot holds the key's hash (its top TAG_BITS bits) and the admitted row's ordinal + 1 (the low ORDINAL_BITS);
# 0 is an empty slot. 22 bits number 4,194,303 admitted rows: a sheet holds at most 1,048,575, and a CSV within
# the upload limit far fewer than that (each row needs a phone, a mark and two names).
ORDINAL_BITS = 22
TAG_BITS = 64 - ORDINAL_BITS
_ORDINAL_MASK = (1 << ORDINAL_BITS) - 1
_HASH_MASK = (1 << 64) - 1
# Linear probing stays short below three quarters full (about five probes for a new key, measured
# on a million rows); 2**22 slots then hold the ~2.8M keys of a full sheet in 32 MB.
MAX_LOAD = 0.75
MIN_SLOTS_BITS = 12
# Presized from the sheet's own estimate of its rows, but at most this big (8 MB, about 100,000 rows): the
# estimate is the file's word (a dimension can claim a million rows it doesn't have), so a bigger table is
# earned by rows actually admitted, doubling as it fills.
MAX_PRESIZE_BITS = 20
_SEPARATOR = "\x1f"  # the unit separator: no normal-form phone, mark or email holds it


def _key_hash(key: str) -> int:
    """Python's own string hash: SipHash, keyed afresh in each process, so no file can be built to collide.

    The index lives for one pass in one process, so the hash need not be stable
    across processes; it is computed in C and cached on the string.
    """
    return hash(key) & _HASH_MASK


@dataclass(frozen=True, slots=True)
class _KeyKind:
    field: Field
    prefix: str
    words: str  # for the sentence: "Same phone number as row 12."


# The order in which a duplicate's matching column is reported.
_PHONE = _KeyKind(Field.PHONE, "p:", "phone number")
_MARK = _KeyKind(Field.SHIPPING_MARK, "m:", "shipping mark")
_EMAIL = _KeyKind(Field.EMAIL, "e:", "email address")
_KINDS = {kind.prefix: kind for kind in (_PHONE, _MARK, _EMAIL)}


def _keys(candidate: Candidate) -> tuple[str, ...]:
    """The candidate's identity keys, prefixed by kind; an empty email is no key (many customers have none)."""
    if candidate.email:
        return (
            "p:" + candidate.phone,
            "m:" + candidate.shipping_mark,
            "e:" + candidate.email.lower(),  # as the database's unique index compares: Lower("email")
        )
    return ("p:" + candidate.phone, "m:" + candidate.shipping_mark)


class DuplicateIndex:
    """Remembers the identity keys of admitted candidates, in file order, for one pass over a file.

    Use it as a context manager; `close` frees the memory and the file. The first
    occurrence wins: a later row with any key already admitted becomes a
    DUPLICATE_IN_FILE problem and is not admitted, so it can't make a third row
    a duplicate. Rows that failed validation never reach `admit`.

    `key_hash` is the hash the table files keys under; the answer does not depend
    on it (every hit is checked against the stored keys), only the speed does.
    """

    def __init__(
        self,
        *,
        header: HeaderMap | None = None,
        expected_rows: int | None = None,
        key_hash: Callable[[str], int] = _key_hash,
    ) -> None:
        # The sheet's header labels name the matching column; without a header, the template's.
        self._labels: Mapping[Field, str] = (
            {field_: header.label(field_) for field_ in Field} if header is not None else FIELD_LABELS
        )
        self._hash = key_hash
        bits = MIN_SLOTS_BITS
        while expected_rows and bits < MAX_PRESIZE_BITS and (1 << bits) * MAX_LOAD < expected_rows * 3:
            bits += 1
        self._bits = bits
        self._slots: array[int] | None = array("Q", [0]) * (1 << bits)
        self._used = 0
        # Per admitted row, by ordinal: its row number, and where its keys end in the key store.
        self._rows = array("L")
        self._ends = array("Q", [0])
        self._store: IO[bytes] | None = None  # created at the first admitted row
        self._stored = 0  # bytes written to the store's file; the rest is still in _pending
        self._pending = bytearray()
        self.admitted = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Forget every key; the key store's file goes with it (it never had a name)."""
        self._slots = None
        self._rows = array("L")
        self._ends = array("Q", [0])
        self._pending = bytearray()
        if self._store is not None:
            self._store.close()
            self._store = None

    def admit(self, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[RowProblem]]:
        """Split a batch, in file order, into the admitted candidates and the duplicates of earlier rows."""
        if self._slots is None:
            raise RuntimeError("DuplicateIndex is closed")
        admitted: list[Candidate] = []
        duplicates: list[RowProblem] = []
        key_hash = self._hash
        for candidate in candidates:
            keys = _keys(candidate)
            hashes = [key_hash(key) for key in keys]
            # The probe of _find, inlined for the common case (an empty home slot: a new key): this loop runs
            # three times per row, a million times per file.
            slots, shift, mask = self._slots, 64 - self._bits, (1 << self._bits) - 1
            matches = None
            for key, hashed in zip(keys, hashes, strict=True):
                slot = hashed >> shift
                if slots[slot] and (row := self._find(key, hashed, slot, mask)):
                    matches = matches or []
                    matches.append((key, row))
            if matches:
                duplicates.append(self._problem(candidate, matches))
                continue
            admitted.append(candidate)
            self._remember(candidate.row_number, keys, hashes)  # later rows of this batch compare against it too
        self._flush()
        self.admitted += len(admitted)
        return admitted, duplicates

    def _find(self, key: str, hashed: int, slot: int, mask: int) -> int | None:
        """The row that first had this key, or None. Walks the key's probe run; a tag hit is checked exactly."""
        slots = self._slots
        assert slots is not None  # noqa: S101 - admit checked it
        tag = hashed >> ORDINAL_BITS
        while entry := slots[slot]:
            if entry >> ORDINAL_BITS == tag:
                ordinal = (entry & _ORDINAL_MASK) - 1
                if key in self._stored_keys(ordinal):
                    return self._rows[ordinal]
            slot = (slot + 1) & mask
        return None

    def _remember(self, row_number: int, keys: tuple[str, ...], hashes: list[int]) -> None:
        ordinal = len(self._rows)
        if ordinal >= _ORDINAL_MASK:
            raise RuntimeError(f"DuplicateIndex holds at most {_ORDINAL_MASK - 1:,} rows")
        self._rows.append(row_number)
        self._pending += _SEPARATOR.join(keys).encode()
        self._ends.append(self._stored + len(self._pending))
        if (self._used + len(hashes)) > MAX_LOAD * (1 << self._bits):
            self._grow()
        slots, shift, mask = self._slots, 64 - self._bits, (1 << self._bits) - 1
        assert slots is not None  # noqa: S101 - admit checked it
        for hashed in hashes:
            slot = hashed >> shift
            while slots[slot]:
                slot = (slot + 1) & mask
            slots[slot] = ((hashed >> ORDINAL_BITS) << ORDINAL_BITS) | (ordinal + 1)
        self._used += len(hashes)

    def _grow(self) -> None:
        """Twice the slots, every entry moved to its home in the bigger table (its tag carries the hash's top bits)."""
        old = self._slots
        assert old is not None  # noqa: S101 - admit checked it
        self._bits += 1
        slots = self._slots = array("Q", [0]) * (1 << self._bits)
        shift, mask = 64 - self._bits, (1 << self._bits) - 1
        for entry in old:
            if entry:
                slot = entry >> shift
                while slots[slot]:
                    slot = (slot + 1) & mask
                slots[slot] = entry

    def _stored_keys(self, ordinal: int) -> list[str]:
        start, end = self._ends[ordinal], self._ends[ordinal + 1]
        if start >= self._stored:
            data = bytes(self._pending[start - self._stored : end - self._stored])
        else:
            assert self._store is not None  # noqa: S101 - bytes before _stored were written to it
            data = os.pread(self._store.fileno(), end - start, start)
        return data.decode().split(_SEPARATOR)

    def _flush(self) -> None:
        """Move the batch's keys to the store's file; memory holds one batch's keys at most."""
        if not self._pending:
            return
        if self._store is None:
            # An unnamed file: the kernel frees it when the process ends, even by SIGKILL.
            self._store = tempfile.TemporaryFile(prefix="primepre-dedupe-")  # noqa: SIM115 - closed in close()
        self._store.write(self._pending)
        self._store.flush()
        self._stored += len(self._pending)
        self._pending = bytearray()

    def _problem(self, candidate: Candidate, matches: list[tuple[str, int]]) -> RowProblem:
        first_key, first_row = matches[0]
        kind = _KINDS[first_key[:2]]
        clauses = [f"same {_KINDS[key[:2]].words} as row {row}" for key, row in matches]
        reason = " and ".join(clauses)
        column = self._labels[kind.field]
        value = candidate.raw.get(FIELD_LABELS[kind.field]) or getattr(candidate, kind.field.value)
        return RowProblem(
            row_number=candidate.row_number,
            column=column,
            value=value,
            code=RowErrorCode.DUPLICATE_IN_FILE,
            reason=f"{reason[0].upper()}{reason[1:]}.",
            raw=candidate.raw,
            duplicate_of_row=first_row,
        )
