"""In-file duplicate detection in bounded memory: a row that repeats an earlier row's phone, mark or email.

A file may have 1,048,575 rows, three keys each; a Python dict of 3M strings costs
about 300 MB, more than the import may use on a 512 MB server. So the keys live
in a dict only while they are few (small files never touch the disk) and then in
a private on-disk SQLite database, looked up once per batch.
"""

import logging
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Self

from users.imports.rows import FIELD_LABELS, Candidate, Field, HeaderMap, RowProblem
from users.models.choices import RowErrorCode

logger = logging.getLogger(__name__)

# Keys held in memory before they move to disk: ~100 bytes each, so ~30 MB (≈100,000 rows),
# where a dict is three times faster than SQLite's B-tree (docs/architecture.md#validating-rows).
MEMORY_KEYS = 300_000
# Keys per `IN (...)` lookup; SQLite allows 32,766 parameters, fewer keeps each statement cheap to prepare.
LOOKUP_CHUNK = 500
# SQLite's page cache for the key table, in KiB; the rest of the table stays on disk.
# 3M keys take ~110 MB; 32 MB of cache was 15% faster than 16 MB (measured, docs/architecture.md).
CACHE_KIB = 32 * 1024


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

    Use it as a context manager; `close` frees the disk space. The first
    occurrence wins: a later row with any key already admitted becomes a
    DUPLICATE_IN_FILE problem and is not admitted, so it can't make a third row
    a duplicate. Rows that failed validation never reach `admit`.
    """

    def __init__(self, *, header: HeaderMap | None = None, memory_keys: int = MEMORY_KEYS) -> None:
        # The sheet's header labels name the matching column; without a header, the template's.
        self._labels: Mapping[Field, str] = (
            {field_: header.label(field_) for field_ in Field} if header is not None else FIELD_LABELS
        )
        self._memory_keys = memory_keys
        self._memory: dict[str, int] | None = {}
        self._db: sqlite3.Connection | None = None
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
        """Forget every key; the database file goes with its connection."""
        self._memory = None
        if self._db is not None:
            self._db.close()
            self._db = None

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def admit(self, candidates: Sequence[Candidate]) -> tuple[list[Candidate], list[RowProblem]]:
        """Split a batch, in file order, into the admitted candidates and the duplicates of earlier rows."""
        keyed = [(candidate, _keys(candidate)) for candidate in candidates]
        earlier = self._lookup(key for _candidate, keys in keyed for key in keys)
        admitted: list[Candidate] = []
        duplicates: list[RowProblem] = []
        new_keys: dict[str, int] = {}
        for candidate, keys in keyed:
            matches = [(key, row) for key in keys if (row := earlier.get(key)) is not None]
            if matches:
                duplicates.append(self._problem(candidate, matches))
                continue
            admitted.append(candidate)
            for key in keys:  # later rows of this batch compare against it too
                earlier[key] = new_keys[key] = candidate.row_number
        self._store(new_keys)
        self.admitted += len(admitted)
        return admitted, duplicates

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

    def _lookup(self, keys: Iterable[str]) -> dict[str, int]:
        """The row that first had each of these keys, for the keys seen before."""
        if self._memory is not None:
            memory = self._memory
            return {key: memory[key] for key in keys if key in memory}
        if self._db is None:
            raise RuntimeError("DuplicateIndex is closed")
        wanted = list(keys)
        found: dict[str, int] = {}
        for start in range(0, len(wanted), LOOKUP_CHUNK):
            chunk = wanted[start : start + LOOKUP_CHUNK]
            placeholders = ",".join("?" * len(chunk))
            found.update(self._db.execute(f"SELECT key, row FROM seen WHERE key IN ({placeholders})", chunk))  # noqa: S608 - placeholders only
        return found

    def _store(self, rows: dict[str, int]) -> None:
        if self._memory is not None:
            self._memory.update(rows)
            if len(self._memory) > self._memory_keys:
                self._spill()
        elif self._db is not None:
            # In key order, so neighbours share B-tree pages; no commit (see _spill).
            self._db.executemany("INSERT INTO seen (key, row) VALUES (?, ?)", sorted(rows.items()))
        else:
            raise RuntimeError("DuplicateIndex is closed")

    def _spill(self) -> None:
        """Move the keys from memory to a private on-disk database.

        The empty file name asks SQLite for a temporary database that it deletes
        itself (the file is unlinked as soon as it is opened), so nothing is left
        behind even when the worker is killed mid-import. Durability is pointless
        for a scratch index, hence no journal, no fsync, and one transaction that
        is never committed: a commit per batch wrote every dirty page out again
        (15% slower, measured), while an open transaction only spills pages when
        the cache is full, and closing the connection throws it all away.
        """
        db = sqlite3.connect("", isolation_level=None)
        db.execute("PRAGMA journal_mode = OFF")
        db.execute("PRAGMA synchronous = OFF")
        db.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        db.execute("CREATE TABLE seen (key TEXT PRIMARY KEY, row INTEGER NOT NULL) WITHOUT ROWID")
        db.execute("BEGIN")
        memory = self._memory or {}
        # Sorted keys, not sorted items: no second copy of the pairs at the peak.
        db.executemany("INSERT INTO seen (key, row) VALUES (?, ?)", ((key, memory[key]) for key in sorted(memory)))
        logger.info("Duplicate index moved to disk after %d keys", len(memory), extra={"keys": len(memory)})
        self._db = db
        self._memory = None
