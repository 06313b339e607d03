"""Load test: clients poll a job and list customers while a big import runs and more uploads arrive.

The service runs exactly as on Render (`python -m primepre.supervisor`: gunicorn
with one sync worker, and one task worker) on a free 127.0.0.1 port, against a
throwaway database: a SQLite file, or a PostgreSQL database created and dropped
for the run. Nothing leaves this machine.

What happens:

1. A staff user signs in through POST /api/auth/login/ and uploads the main
   file (--rows, default 100,000) to POST /api/imports/.
2. --clients (20) clients each poll GET /api/imports/{id}/ once a second, as the
   import page does, and list GET /api/customers/ every --customers-every polls.
3. --extra-uploads (5) more files (--extra-rows each) arrive, one every
   --upload-interval seconds, each a job of its own.
4. It ends when every job has finished, or after --max-seconds, or after
   --max-requests requests: bounded whatever happens.

Reported: success rate, latency percentiles per request kind, the import's
duration and rate, peak RSS per process and for the whole stack (sampled every
0.5 s), and whether any web worker timed out. The targets: >= 99.9 %
success, p95 status latency <= 150 ms, no worker timeout.

    python bench/load_test.py                              # 100,000 rows, SQLite
    python bench/load_test.py --engine postgres --write-doc
    python bench/load_test.py --rows 1048575 --extra-uploads 0   # the memory ceiling with a full sheet
"""

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "primepre.settings")

from bench.generate import generate_customers_xlsx  # noqa: E402 - needs ROOT on sys.path
from tests.deploy.stack import (  # noqa: E402
    STAFF_PASSWORD,
    STAFF_PHONE,
    Stack,
    prepare_template,
    running_stack,
)

OUT = ROOT / "bench" / "out" / "load"
DOC = ROOT / "docs" / "performance.md"
DOC_START, DOC_END = "<!-- load-test:start -->", "<!-- load-test:end -->"
FINISHED = {"COMPLETE", "FAILED", "CANCELLED"}
PG_ADMIN_URL = "postgres://postgres@127.0.0.1:5432/postgres"
TARGET_SUCCESS = 99.9
TARGET_STATUS_P95_MS = 150.0
TOKEN_RENEW_SECONDS = 240


@dataclass
class Sample:
    kind: str
    seconds: float
    ok: bool
    status: int


@dataclass
class Results:
    samples: list[Sample] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    peak_rss_mb: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    peak_total_mb: float = 0.0

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)

    def count(self) -> int:
        with self.lock:
            return len(self.samples)


class Credentials:
    """A staff access token that stays valid for the whole run.

    simplejwt's access tokens live 5 minutes, shorter than a big import; the
    token is renewed by signing in again (as the frontend would refresh it)
    every TOKEN_RENEW_SECONDS.
    """

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.lock = threading.Lock()
        self._token = ""
        self._issued = 0.0

    def token(self) -> str:
        with self.lock:
            if not self._token or time.monotonic() - self._issued > TOKEN_RENEW_SECONDS:
                status, body = self.stack.post_json(
                    "/api/auth/login/", {"phone": STAFF_PHONE, "password": STAFF_PASSWORD}, timeout=120
                )
                if status != 200:
                    raise SystemExit(f"Login answered {status}: {body[:300]!r}")
                self._token, self._issued = json.loads(body)["access"], time.monotonic()
            return self._token


def timed_get(stack: Stack, path: str, credentials: Credentials, kind: str, results: Results) -> tuple[int, bytes]:
    token = credentials.token()
    started = time.perf_counter()
    try:
        status, body = stack.get(path, token=token, timeout=60)
    except OSError:
        status, body = 0, b""
    results.add(Sample(kind, time.perf_counter() - started, 200 <= status < 300, status))
    return status, body


def upload(stack: Stack, sheet: Path, credentials: Credentials, results: Results) -> str:
    token = credentials.token()
    started = time.perf_counter()
    status, body = stack.post_file("/api/imports/", sheet, token=token, fields={"on_duplicate": "skip"}, timeout=300)
    results.add(Sample("upload", time.perf_counter() - started, status == 202, status))
    if status != 202:
        raise SystemExit(f"Upload of {sheet.name} answered {status}: {body[:500]!r}")
    return json.loads(body)["id"]


def client(
    stack: Stack, credentials: Credentials, job_id: str, every: int, stop: threading.Event, results: Results
) -> None:
    """One person watching the import page: a status poll a second, the customer list now and then."""
    rng = random.Random()
    stop.wait(rng.random())  # don't start in lockstep
    polls = 0
    while not stop.is_set():
        timed_get(stack, f"/api/imports/{job_id}/", credentials, "status", results)
        polls += 1
        if polls % every == 0:
            timed_get(stack, "/api/customers/?page_size=50", credentials, "customers", results)
        stop.wait(rng.uniform(0.8, 1.2))


def sample_memory(stack: Stack, stop: threading.Event, results: Results) -> None:
    import psutil

    from users.monitoring.processes import ProcessRole, stack_memory_get

    while not stop.is_set():
        try:
            memory = stack_memory_get(root_pid=stack.pid)
        except psutil.Error:  # a process exiting mid-sample; the next sample counts
            stop.wait(0.5)
            continue
        service = [p for p in memory.processes if p.role != ProcessRole.OTHER]
        with results.lock:
            for process in service:
                label = str(ProcessRole(process.role).label)
                results.peak_rss_mb[label] = max(results.peak_rss_mb[label], process.rss_mb)
            results.peak_total_mb = max(results.peak_total_mb, sum(p.rss_mb for p in service))
        stop.wait(0.5)


def job_states(stack: Stack, credentials: Credentials, job_ids: list[str]) -> dict[str, dict]:
    states = {}
    for job_id in job_ids:
        status, body = stack.get(f"/api/imports/{job_id}/", token=credentials.token(), timeout=60)
        if status == 200:
            states[job_id] = json.loads(body)
    return states


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def sheet(rows: int, seed: int) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"customers-{rows}-seed{seed}.xlsx"
    if not path.exists():
        print(f"Generating {path.relative_to(ROOT)} ...", flush=True)
        generate_customers_xlsx(path, rows, seed=seed, error_rate=0.02)
    return path


def create_pg_database() -> str:
    import psycopg

    name = f"primepre_load_{os.getpid()}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}"')
        connection.execute(f'CREATE DATABASE "{name}"')
    return f"postgres://postgres@127.0.0.1:5432/{name}"


def drop_pg_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(args: argparse.Namespace) -> dict:
    main_sheet = sheet(args.rows, seed=1)
    extra_sheets = [sheet(args.extra_rows, seed=100 + n) for n in range(args.extra_uploads)]
    work = Path(tempfile.mkdtemp(prefix="primepre-load-"))
    database_url = create_pg_database() if args.engine == "postgres" else None
    results = Results()
    try:
        template = prepare_template(work / "template", database_url=database_url)
        env = {"CONN_MAX_AGE": "60"}  # production's default: the load test measures production
        with running_stack(template, work / "stack", **env) as stack:
            stack.wait_until(lambda: "Starting worker" in stack.log(), timeout=60, what="the task worker")
            credentials = Credentials(stack)
            credentials.token()

            load_before = os.getloadavg()[0]
            stop = threading.Event()
            sampler = threading.Thread(target=sample_memory, args=(stack, stop, results), daemon=True)
            sampler.start()
            started = time.monotonic()
            main_job = upload(stack, main_sheet, credentials, results)
            job_ids = [main_job]
            clients = [
                threading.Thread(
                    target=client,
                    args=(stack, credentials, main_job, args.customers_every, stop, results),
                    daemon=True,
                )
                for _ in range(args.clients)
            ]
            for thread in clients:
                thread.start()

            next_upload = time.monotonic() + args.upload_interval
            states: dict[str, dict] = {}
            main_finished_at = None
            while True:
                now = time.monotonic()
                if extra_sheets and now >= next_upload:
                    job_ids.append(upload(stack, extra_sheets.pop(0), credentials, results))
                    next_upload = now + args.upload_interval
                states = job_states(stack, credentials, job_ids)
                if main_finished_at is None and states.get(main_job, {}).get("status") in FINISHED:
                    main_finished_at = time.monotonic()
                done = not extra_sheets and all(states.get(j, {}).get("status") in FINISHED for j in job_ids)
                if done or now - started > args.max_seconds or results.count() >= args.max_requests:
                    break
                time.sleep(1)
            stop.set()
            for thread in clients:
                thread.join(timeout=70)
            elapsed = time.monotonic() - started
            log = stack.log()
        summary = summarise(args, results, states, job_ids, main_job, elapsed, main_finished_at, started, log)
        return summary | {
            "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
            "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        }
    finally:
        if database_url:
            drop_pg_database(database_url)


def summarise(
    args: argparse.Namespace,
    results: Results,
    states: dict[str, dict],
    job_ids: list[str],
    main_job: str,
    elapsed: float,
    main_finished_at: float | None,
    started: float,
    log: str,
) -> dict:
    by_kind: dict[str, list[Sample]] = defaultdict(list)
    for sample in results.samples:
        by_kind[sample.kind].append(sample)
    total = len(results.samples)
    ok = sum(sample.ok for sample in results.samples)
    kinds = {}
    for kind, samples in sorted(by_kind.items()):
        ms = [s.seconds * 1000 for s in samples]
        kinds[kind] = {
            "requests": len(samples),
            "failed": sum(not s.ok for s in samples),
            "p50_ms": round(percentile(ms, 0.50), 1),
            "p95_ms": round(percentile(ms, 0.95), 1),
            "p99_ms": round(percentile(ms, 0.99), 1),
            "max_ms": round(max(ms), 1),
            "mean_ms": round(statistics.fmean(ms), 1),
        }
    main = states.get(main_job, {})
    import_seconds = (main_finished_at - started) if main_finished_at else None
    return {
        "engine": args.engine,
        "rows": args.rows,
        "clients": args.clients,
        "extra_uploads": len(job_ids) - 1,
        "seconds": round(elapsed, 1),
        "requests": total,
        "success_percent": round(100 * ok / total, 3) if total else 0.0,
        "kinds": kinds,
        "import": {
            "status": main.get("status"),
            "created": main.get("created_count"),
            "failed": main.get("failed_count"),
            "skipped": main.get("skipped_count"),
            "seconds": round(import_seconds, 1) if import_seconds else None,
        },
        "jobs": {job_id: states.get(job_id, {}).get("status") for job_id in job_ids},
        "peak_rss_mb": {label: round(mb, 1) for label, mb in sorted(results.peak_rss_mb.items())},
        "peak_total_rss_mb": round(results.peak_total_mb, 1),
        "worker_timeouts": log.count("[WORKER-CRASH]") + log.count("WORKER TIMEOUT"),
        "oom_kills": log.count("Perhaps out of memory") + log.count("likely the out-of-memory killer"),
        "cpus": os.cpu_count(),
    }


def verdict(summary: dict) -> list[str]:
    """The targets this run missed (empty when it met them all)."""
    missed = []
    if summary["success_percent"] < TARGET_SUCCESS:
        missed.append(f"success {summary['success_percent']} % < {TARGET_SUCCESS} %")
    status_p95 = summary["kinds"].get("status", {}).get("p95_ms", float("inf"))
    if status_p95 > TARGET_STATUS_P95_MS:
        missed.append(f"status p95 {status_p95} ms > {TARGET_STATUS_P95_MS} ms")
    if summary["worker_timeouts"]:
        missed.append(f"{summary['worker_timeouts']} worker timeout(s)")
    if summary["import"]["status"] != "COMPLETE":
        missed.append(f"the main import ended {summary['import']['status']}")
    return missed


def markdown(summary: dict, command: str) -> str:
    imp = summary["import"]
    rate = f"{summary['rows'] / imp['seconds']:,.0f} rows/s" if imp["seconds"] else "n/a"
    engine = {"sqlite": "SQLite", "postgres": "PostgreSQL"}[summary["engine"]]
    uploads = f" and {summary['extra_uploads']} more uploads arrived" if summary["extra_uploads"] else ""
    lines = [
        f"### {summary['rows']:,} rows on {engine}",
        "",
        f"Measured {summary.get('measured_at', datetime.now(UTC).strftime('%Y-%m-%d %H:%M'))} UTC on this machine "
        f"({summary['cpus']} cores, the clients "
        f"on the same cores; 1-minute load average {summary['load_average'][0]} before, "
        f"{summary['load_average'][1]} after) with `{command}`: one sync web worker and one "
        "task worker as on Render's free tier.",
        "",
        f"{summary['clients']} clients polled the job once a second and listed customers every "
        f"{summary['customers_every']}th poll while a {summary['rows']:,}-row import ran{uploads}. "
        f"{summary['requests']:,} requests in "
        f"{summary['seconds']:.0f} s; the main import {imp['status']} in {imp['seconds']} s ({rate}), "
        f"{imp['created']:,} created, {imp['failed']:,} failed rows."
        if imp["created"] is not None
        else f"The main import ended {imp['status']}.",
        "",
        "| Requests | Count | Failed | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for kind, k in summary["kinds"].items():
        lines.append(
            f"| {kind} | {k['requests']:,} | {k['failed']} | {k['p50_ms']} | {k['p95_ms']} | {k['p99_ms']} "
            f"| {k['max_ms']} |"
        )
    peaks = ", ".join(f"{label} {mb:.0f} MB" for label, mb in summary["peak_rss_mb"].items())
    missed = verdict(summary)
    lines += [
        "",
        f"- Success: **{summary['success_percent']} %** (target ≥ {TARGET_SUCCESS} %); status p95 "
        f"**{summary['kinds'].get('status', {}).get('p95_ms')} ms** (target ≤ {TARGET_STATUS_P95_MS:.0f} ms); "
        f"worker timeouts: **{summary['worker_timeouts']}**; OOM kills: {summary['oom_kills']}.",
        f"- Peak RSS per process: {peaks}; whole stack **{summary['peak_total_rss_mb']:.0f} MB** (the largest "
        "sum of one 0.5 s sample).",
        "- Verdict: " + ("all targets met." if not missed else "missed: " + "; ".join(missed) + "."),
    ]
    return "\n".join(lines)


def write_doc(text: str) -> None:
    """Replace only this section of docs/performance.md; the rest of the file belongs to `make bench`."""
    section = f"{DOC_START}\n{text}\n{DOC_END}"
    doc = DOC.read_text() if DOC.exists() else "# Performance\n"
    if DOC_START in doc and DOC_END in doc:
        before, rest = doc.split(DOC_START, 1)
        doc = before + section + rest.split(DOC_END, 1)[1]
    else:
        doc = doc.rstrip("\n") + "\n\n## Load test\n\n" + section + "\n"
    DOC.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000, help="rows in the main import (default 100,000)")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--customers-every", type=int, default=5, help="list customers every Nth status poll")
    parser.add_argument("--extra-uploads", type=int, default=5)
    parser.add_argument("--extra-rows", type=int, default=5_000)
    parser.add_argument("--upload-interval", type=float, default=10.0, help="seconds between the extra uploads")
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--write-doc", action="store_true", help="write the result into docs/performance.md")
    parser.add_argument("--json", type=Path, help="also write the raw summary here")
    parser.add_argument(
        "--report", type=Path, nargs="+", help="don't run: render these saved --json summaries (with --write-doc)"
    )
    args = parser.parse_args()

    if args.report:
        summaries = [json.loads(path.read_text()) for path in args.report]
    else:
        command = "python bench/load_test.py" + ("" if len(sys.argv) == 1 else " " + " ".join(sys.argv[1:]))
        for flag in (" --write-doc",):
            command = command.replace(flag, "")
        command = re.sub(r" --json \S+", "", command)
        summaries = [run(args) | {"customers_every": args.customers_every, "command": command}]
        print(json.dumps(summaries[0], indent=2))
        if args.json:
            args.json.write_text(json.dumps(summaries[0], indent=2))
    text = "\n\n".join(markdown(summary, summary["command"]) for summary in summaries)
    print()
    print(text)
    if args.write_doc:
        write_doc(text)
        print(f"\nWrote the Load test section of {DOC.relative_to(ROOT)}")
    sys.exit(1 if any(verdict(summary) for summary in summaries) else 0)


if __name__ == "__main__":
    main()
