"""What undoing an import costs, against what the import cost: `make bench-undo`.

On the generated 100,000-row file (bench/generate.py, ~2 % of rows invalid),
in a scratch database of its own, each step in a fresh child process (its wall
time, the work's own time, and its peak RSS from wait4, Django included):

1. import the file into an empty table (`import_customers`): creates;
2. import it again with `--on-duplicate update`: updates every customer,
   keeping each one's previous values for the undo;
3. undo the update import: every customer gets its previous values back;
4. undo the first import: every customer it created is deleted.

An undo runs here exactly as in the worker (`import_job_run` on the undo's
job), only without the queue in between. The import's targets apply: no slower
than the import it takes back, memory within the import's bound. The table
goes to stdout; paste it into docs/performance.md with the load average.

    python bench/undo.py                         # 100,000 rows, PostgreSQL
    python bench/undo.py --rows 7000 --engine sqlite
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
OUT = ROOT / "bench" / "out"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_DATABASE = "primepre_bench_undo"

UNDO = """
import json, sys, time, django
django.setup()
from users.imports.jobs import import_job_run
from users.imports.undo import import_job_undo
from users.models import ImportJob, User
job = ImportJob.objects.get(id=sys.argv[1])
user = User.objects.filter(is_superuser=True).order_by("pk").first()
started = time.monotonic()
undo = import_job_undo(job=job, user=user)
import_job_run(job_id=undo.id)
undo.refresh_from_db()
print(json.dumps({"status": undo.status, "seconds": round(time.monotonic() - started, 3),
                  "deleted": undo.deleted_count, "restored": undo.restored_count,
                  "kept": undo.kept_changed_count + undo.kept_referenced_count, "error": undo.error_message}))
"""


@dataclass(frozen=True)
class Step:
    name: str
    rows: int
    process_seconds: float
    work_seconds: float
    peak_rss_mb: float


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a child to completion; its wall time, its own peak RSS in MB, and its stdout."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=errors)
        stdout = process.stdout.read() if process.stdout else b""
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        if os.waitstatus_to_exitcode(status) != 0:
            errors.seek(0)
            raise SystemExit(f"{' '.join(argv[:3])} … failed: {errors.read().decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout.decode()


def environment(engine: str) -> dict[str, str]:
    if engine == "sqlite":
        url = f"sqlite:///{OUT / 'bench-undo.sqlite3'}"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{OUT / 'bench-undo.sqlite3'}{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{PG_DATABASE}" WITH (FORCE)')
            admin.execute(f'CREATE DATABASE "{PG_DATABASE}"')
        url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{PG_DATABASE}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "primepre.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "MEDIA_ROOT": str(OUT / "media"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--engine", choices=("postgres", "sqlite"), default="postgres")
    args = parser.parse_args()
    OUT.mkdir(exist_ok=True)
    from bench.generate import generate_customers_xlsx

    path = OUT / f"customers-{args.rows}.xlsx"
    if not path.exists():
        generate_customers_xlsx(path, args.rows)
    env = environment(args.engine)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    create_admin = "from users.models import User; User.objects.create_superuser('0200000001', 'bench-password')"
    subprocess.run([*manage, "shell", "-c", create_admin], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)

    steps: list[Step] = []
    jobs: dict[str, str] = {}
    for name, extra in (("import (create)", []), ("import (update)", ["--on-duplicate", "update"])):
        seconds, rss, out = run_child([*manage, "import_customers", str(path), "--json", *extra], env)
        outcome = json.loads(out)
        assert outcome["status"] == "COMPLETE", outcome  # noqa: S101 - a benchmark that measured a failure stops
        rows = outcome["created"] + outcome["updated"]
        steps.append(Step(name, rows, seconds, outcome["seconds"], rss))
        jobs[name] = outcome["job_id"]
    for name, job in (("undo (update)", jobs["import (update)"]), ("undo (create)", jobs["import (create)"])):
        seconds, rss, out = run_child([sys.executable, "-c", UNDO, job], env)
        outcome = json.loads(out)
        assert outcome["status"] == "COMPLETE" and not outcome["kept"], outcome  # noqa: S101
        steps.append(Step(name, outcome["deleted"] + outcome["restored"], seconds, outcome["seconds"], rss))

    load = " / ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{args.engine}, {args.rows:,}-row file, load average (1/5/15 min) at the end: {load}\n")
    print("| Step | Customers | Process s | Work s | Customers/s | Peak RSS (MB) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for step in steps:
        rate = step.rows / step.work_seconds if step.work_seconds else 0
        print(
            f"| {step.name} | {step.rows:,} | {step.process_seconds:.2f} | {step.work_seconds:.2f} | {rate:,.0f} "
            f"| {step.peak_rss_mb:.0f} |"
        )


if __name__ == "__main__":
    main()
