"""Files kept in the database: uploads that any web instance or worker can read, with no shared disk.

A file is a row naming it and a run of chunks of at most STORED_FILE_CHUNK_BYTES,
written and read one at a time (users/imports/storage/database.py), so a 50 MB
upload never sits whole in a process's memory and no single value nears a
driver's or SQLite's size limits.
"""

from django.db import models


class StoredFile(models.Model):
    """One stored file: its name (unique, as a storage backend's names are) and size in bytes."""

    name = models.CharField(max_length=255, unique=True)
    size = models.PositiveBigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.name} ({self.size} bytes)"


class StoredFileChunk(models.Model):
    """The `index`-th piece of a stored file, in order from 0."""

    file = models.ForeignKey(StoredFile, on_delete=models.CASCADE, related_name="chunks")
    index = models.PositiveIntegerField()
    data = models.BinaryField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["file", "index"], name="storedfilechunk_unique_index")]

    def __str__(self) -> str:
        return f"{self.file_id}#{self.index}"
