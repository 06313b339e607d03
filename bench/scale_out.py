"""Scaling out: throughput of one, two and three task workers on four concurrent 100,000-row imports.

Everything runs as in the separate-worker deployment (render.yaml's alternative):
one web process (`python -m primepre.supervisor --no-worker`) and N task workers
(`manage.py run_worker`), each with its own MEDIA_ROOT and TMPDIR, sharing only a
PostgreSQL database created for each run and dropped after it. Four uploads of
100,000 distinct customers each arrive at once; the clock runs from the first
upload to the last job's COMPLETE.

    python bench/scale_out.py                       # 1, 2 and 3 workers
    python bench/scale_out.py --workers 1 3 --rows 20000

The machine's load average is printed with each run: on a shared machine, other
work changes the figures, so compare runs made together.
"""

import argparse
import concurrent.futures
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.deploy.stack import Stack, child_environment, prepare_template, running_stack  # noqa: E402

PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
OUT = ROOT / ".run" / "scale-out.json"
CSV_HEADER = "Shipping Mark,First Name,Last Name,Email,Phone Number,Region\n"
FINISHED = {"COMPLETE", "FAILED", "CANCELLED"}


def write_customers(path: Path, start: int, rows: int) -> Path:
    with path.open("w", encoding="utf-8") as out:
        out.write(CSV_HEADER)
        for n in range(start, start + rows):
            out.write(f"PM {n:07d},First{n},Last{n},c{n}@example.com,024{n:07d},Ashanti\n")
    return path


def create_database(name: str) -> str:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def upload(web: Stack, path: Path) -> str:
    status, body = web.post_file("/api/imports/", path, token=web.token, timeout=600)
    if status != 202:
        raise RuntimeError(f"upload refused ({status}): {body[:500]!r}")
    return json.loads(body)["id"]


def run_once(workers: int, files: list[Path], rows: int, work: Path) -> dict:
    name = f"primepre_storage_scale_{workers}_{os.getpid()}"
    database_url = create_database(name)
    processes: list[subprocess.Popen[bytes]] = []
    try:
        template = prepare_template(work / f"template-{workers}", database_url=database_url)
        web_disk = work / f"web-{workers}"
        (web_disk / "tmp").mkdir(parents=True)
        with running_stack(
            template,
            web_disk / "run",
            args=("--no-worker",),
            IMPORT_MAX_ACTIVE_JOBS_PER_USER="0",
            MEDIA_ROOT=str(web_disk / "media"),
            TMPDIR=str(web_disk / "tmp"),
        ) as web:
            for n in range(workers):
                disk = work / f"worker-{workers}-{n}"
                (disk / "tmp").mkdir(parents=True)
                env = child_environment(database_url, disk / "media", TMPDIR=str(disk / "tmp"))
                log = (disk / "worker.log").open("ab")
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "manage.py", "run_worker", "--no-startup-delay", "--interval", "0.2"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            load_before = os.getloadavg()
            started = time.monotonic()
            with concurrent.futures.ThreadPoolExecutor(len(files)) as pool:
                job_ids = list(pool.map(lambda path: upload(web, path), files))
            statuses: dict[str, dict] = {}
            while True:
                for job_id in job_ids:
                    status, body = web.get(f"/api/imports/{job_id}/", token=web.token)
                    statuses[job_id] = json.loads(body) if status == 200 else {"status": f"HTTP {status}"}
                if all(job.get("status") in FINISHED for job in statuses.values()):
                    break
                if time.monotonic() - started > 3600:
                    raise RuntimeError(f"still running after an hour: {statuses}")
                time.sleep(0.5)
            seconds = time.monotonic() - started
            load_after = os.getloadavg()
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
        drop_database(name)
    total = rows * len(files)
    return {
        "workers": workers,
        "imports": len(files),
        "rows": total,
        "seconds": round(seconds, 1),
        "rows_per_second": round(total / seconds),
        "statuses": sorted({job["status"] for job in statuses.values()}),
        "created": sum(job.get("created_count", 0) for job in statuses.values()),
        "load_average_before": [round(value, 2) for value in load_before],
        "load_average_after": [round(value, 2) for value in load_after],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--imports", type=int, default=4)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="primepre-scale-out-"))
    try:
        files = [write_customers(work / f"file-{n}.csv", n * args.rows + 1, args.rows) for n in range(args.imports)]
        results = []
        for workers in args.workers:
            result = run_once(workers, files, args.rows, work)
            results.append(result)
            print(json.dumps(result), flush=True)
        OUT.parent.mkdir(exist_ok=True)
        OUT.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2))
        heading = f"{args.imports} imports × {args.rows:,} rows"
        print(f"\n| Workers | {heading} | Rows/s | Load average (1 min) before → after |")
        print("| --- | --- | --- | --- |")
        for result in results:
            print(
                f"| {result['workers']} | {result['seconds']} s | {result['rows_per_second']:,} | "
                f"{result['load_average_before'][0]} → {result['load_average_after'][0]} |"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
