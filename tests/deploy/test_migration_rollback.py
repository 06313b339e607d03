"""Rolling back a deploy: the durable-storage migration reverses to the previous release's schema and reapplies.

Run on a fresh database of the engine under test (a SQLite file, or a new
PostgreSQL database), through `manage.py migrate` as a deploy runs it.
"""

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection

from tests.deploy.stack import ROOT, child_environment

pytestmark = pytest.mark.slow

PREVIOUS = "0006_corrections"
# Migrated to exactly this one, not the latest: what a later migration does to a rollback is its own test's business.
THIS = "0007_import_storage"

OLD_UPLOAD = f"""
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
apps = MigrationExecutor(connection).loader.project_state(("users", "{PREVIOUS}")).apps
apps.get_model("users", "ImportJob").objects.create(original_filename="old.csv", file="imports/old.csv")
"""
SHOW_STORAGE = """
from django.db import connection
from users.models import ImportJob
print("TABLE", "users_storedfilechunk" in connection.introspection.table_names())
print("STORAGE", list(ImportJob.objects.order_by("created_at").values_list("file_storage", flat=True)))
"""


@pytest.fixture
def fresh_database(tmp_path: Path) -> Iterator[str]:
    if connection.vendor != "postgresql":
        yield f"sqlite:///{tmp_path / 'rollback.sqlite3'}"
        return
    import psycopg

    settings = connection.settings_dict
    name = f"{settings['NAME']}_rollback"
    host, port = settings.get("HOST") or "127.0.0.1", settings.get("PORT") or 5432
    admin = f"postgres://{settings.get('USER') or 'postgres'}@{host}:{port}"
    with psycopg.connect(f"{admin}/postgres", autocommit=True) as server:
        server.execute(f'DROP DATABASE IF EXISTS "{name}"')
        server.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"{admin}/{name}"
    finally:
        with psycopg.connect(f"{admin}/postgres", autocommit=True) as server:
            server.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def manage(database_url: str, tmp_path: Path, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=child_environment(database_url, tmp_path / "media"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"manage.py {' '.join(args)} failed:\n{result.stderr[-3000:]}"
    return result.stdout


def table_names(database_url: str, tmp_path: Path) -> str:
    return manage(
        database_url,
        tmp_path,
        "shell",
        "-c",
        "from django.db import connection; print(connection.introspection.table_names())",
    )


def test_the_storage_migration_reverses_to_the_previous_release_and_reapplies(
    fresh_database: str, tmp_path: Path
) -> None:
    manage(fresh_database, tmp_path, "migrate", "users", PREVIOUS, "--noinput")
    manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", OLD_UPLOAD)

    manage(fresh_database, tmp_path, "migrate", "users", THIS, "--noinput")
    assert manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", SHOW_STORAGE).splitlines() == [
        "TABLE True",
        "STORAGE ['local']",
    ]

    manage(fresh_database, tmp_path, "migrate", "users", PREVIOUS, "--noinput")
    tables = table_names(fresh_database, tmp_path)
    assert "users_storedfile" not in tables and "users_importjob" in tables, "back to the previous release's schema"

    manage(fresh_database, tmp_path, "migrate", "users", THIS, "--noinput")
    assert manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", SHOW_STORAGE).splitlines() == [
        "TABLE True",
        "STORAGE ['local']",
    ]

    # The previous release's code, run against the new schema (a rollback of the code alone), can still make jobs.
    manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", OLD_UPLOAD)
    assert manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", SHOW_STORAGE).splitlines() == [
        "TABLE True",
        "STORAGE ['local', '']",
    ], "its job records no storage (read as local disk)"


UNDO = "0008_undo"
BEFORE_UNDO_JOB = f"""
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
apps = MigrationExecutor(connection).loader.project_state(("users", "{THIS}")).apps
apps.get_model("users", "ImportJob").objects.create(original_filename="before-undo.csv", status="COMPLETE")
"""
SHOW_UNDO = """
from django.db import connection
from users.models import ImportJob
print("TABLE", "users_importedupdate" in connection.introspection.table_names())
print("COUNTS", list(ImportJob.objects.values_list("deleted_count", "restored_count", "kept_changed_count")))
"""


def test_the_undo_migration_reverses_and_the_release_before_it_still_makes_jobs(
    fresh_database: str, tmp_path: Path
) -> None:
    manage(fresh_database, tmp_path, "migrate", "users", UNDO, "--noinput")

    # The release before undo, rolled back to without reversing the migration, inserts jobs without the undo
    # counts: the database fills them in rather than refusing the row.
    manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", BEFORE_UNDO_JOB)
    assert manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", SHOW_UNDO).splitlines() == [
        "TABLE True",
        "COUNTS [(0, 0, 0)]",
    ], "an older release's job gets zero undo counts"

    manage(fresh_database, tmp_path, "migrate", "users", THIS, "--noinput")
    tables = table_names(fresh_database, tmp_path)
    assert "users_importedupdate" not in tables and "users_storedfile" in tables, "back to the schema before undo"

    manage(fresh_database, tmp_path, "migrate", "users", UNDO, "--noinput")
    assert manage(fresh_database, tmp_path, "shell", "--no-imports", "-c", SHOW_UNDO).splitlines() == [
        "TABLE True",
        "COUNTS [(0, 0, 0)]",
    ]
