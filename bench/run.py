"""Benchmark the import pipeline end to end: `make bench`.

For each database engine and file size it generates a spreadsheet the way Excel
saves it (bench/generate.py), then times, in a fresh child process each:

- read:     iterating every row of the sheet (the reader alone),
- validate: `import_customers --dry-run` (read, header, validate, de-duplicate, existing-customer lookups),
- import:   `import_customers` into an empty customer table (all of the above plus the writes),

then, once per engine, start-up as whole processes (`import_customers --help` and
a 20-row import, the median of five runs each), and on PostgreSQL a full sheet
through the job API on the production stack (bench/stack_import.py: upload,
validate, commit, the stack's peak PSS),

and reports seconds (the child's wall time, and the pipeline's own time as the
command reports it, without Python and Django starting up), rows per second and
the child's peak RSS (ru_maxrss from wait4: the whole process, Django included;
Linux starts a child's count at its parent's RSS, which is far smaller here). The table goes to stdout and to
docs/performance.md; the chart to docs/img/performance.png.

Every measurement records the 1-minute load average when it started: on a
shared machine that says how far to trust it.

    python bench/run.py                      # 20,000 / 100,000 / 1,048,575 rows, SQLite and PostgreSQL, the stack
    python bench/run.py --sizes 20000 --engines postgres --no-stack
    make bench BENCH_ARGS="--engines postgres"
"""

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
DOC = ROOT / "docs" / "performance.md"
CHART = ROOT / "docs" / "img" / "performance.png"
PG_ADMIN_URL = os.environ.get("BENCH_PG_ADMIN_URL", "postgres://postgres@127.0.0.1:5432/postgres")
PG_BENCH_URL = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432/primepre_bench")
DEFAULT_SIZES = (20_000, 100_000, 1_048_575)
# Seconds, PostgreSQL import: 20,000 rows as a whole process (start-up included), the others the pipeline's own.
TARGETS = {20_000: 1.0, 100_000: 3.0, 1_048_575: 60.0}
WHOLE_PROCESS_TARGETS = {20_000}
MEMORY_TARGETS = {100_000: 150, 1_048_575: 250}  # MB peak RSS
STACK_TARGETS = {"seconds": 75.0, "pss_mb": 350.0}  # a full sheet through the job API: upload, validate, commit
STARTUP_RUNS = 5
# The PostgreSQL import's pipeline seconds before the lookup-free writes, the hashed duplicate index and the
# lighter start-up (docs/performance.md, "Before"), drawn on the chart for comparison.
BEFORE_POSTGRES_IMPORT = {7_000: 0.57, 100_000: 7.33, 1_048_575: 217.15}

READ_ONLY = """
import sys, time, django
django.setup()
from pathlib import Path
from users.imports.read import open_import_sheet
rows = 0
with open_import_sheet(Path(sys.argv[1])) as sheet:
    for _ in sheet.data_rows():
        rows += 1
print(rows)
"""


@dataclass(frozen=True)
class Measure:
    """One stage of one run. `seconds` is the child process's wall time, start-up included;
    `pipeline_seconds` is the import's own time as the command reports it (None for `read`)."""

    engine: str
    rows: int
    stage: str
    seconds: float
    peak_rss_mb: float
    pipeline_seconds: float | None = None
    load: float = 0.0  # the 1-minute load average when it started

    @property
    def rows_per_second(self) -> float:
        seconds = self.pipeline_seconds if self.pipeline_seconds is not None else self.seconds
        return self.rows / seconds if seconds else 0.0


def load_average() -> float:
    """The 1-minute load average, recorded with every measurement: on a shared machine it says how far to trust it."""
    return os.getloadavg()[0]


def run_child(argv: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run a child to completion; its wall time, its own peak RSS in MB, and its stdout."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    stdout = process.stdout.read() if process.stdout else b""
    _pid, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode not in (0,):
        raise SystemExit(f"{' '.join(argv)} exited {process.returncode}: {stdout.decode()[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, stdout.decode()


def engine_env(engine: str) -> dict[str, str]:
    env = {
        **os.environ,
        "LOG_LEVEL": "WARNING",
        "DJANGO_SETTINGS_MODULE": "primepre.settings",
        "DEBUG": "false",
        "SECRET_KEY": "bench-only-secret-key-not-for-production-use-0123456789",
        "MEDIA_ROOT": str(OUT / "media"),
    }
    if engine == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{OUT / 'bench.sqlite3'}"
    else:
        env["DATABASE_URL"] = PG_BENCH_URL
    return env


def reset_database(engine: str) -> None:
    """An empty, migrated database, so every import run starts from the same place."""
    env = engine_env(engine)
    if engine == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            Path(f"{OUT / 'bench.sqlite3'}{suffix}").unlink(missing_ok=True)
    else:
        import psycopg

        name = PG_BENCH_URL.rsplit("/", 1)[1]
        with psycopg.connect(PG_ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "shell",
            "-c",
            "from users.models import User; User.objects.create_superuser('0200000001', 'bench-password')",
        ],
        cwd=ROOT,
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def bench_file(rows: int) -> Path:
    sys.path.insert(0, str(ROOT))
    from bench.generate import generate_customers_xlsx

    path = OUT / f"customers-{rows}.xlsx"
    if not path.exists():
        started = time.perf_counter()
        generate_customers_xlsx(path, rows)
        print(f"  generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s")
    return path


def measure(engine: str, rows: int) -> list[Measure]:
    path = bench_file(rows)
    env = engine_env(engine)
    results = []
    load = load_average()
    seconds, rss, _ = run_child([sys.executable, "-c", READ_ONLY, str(path)], env)
    results.append(Measure(engine, rows, "read", seconds, rss, load=load))
    reset_database(engine)
    command = [sys.executable, "manage.py", "import_customers", str(path), "--json"]
    load = load_average()
    seconds, rss, out = run_child([*command, "--dry-run"], env)
    outcome = json.loads(out)
    if outcome["status"] != "VALIDATED":
        raise SystemExit(f"validation did not finish: {outcome['status']} {outcome['error']}")
    results.append(Measure(engine, rows, "validate", seconds, rss, outcome["seconds"], load=load))
    load = load_average()
    seconds, rss, out = run_child(command, env)
    outcome = json.loads(out)
    if outcome["status"] != "COMPLETE" or outcome["created"] + outcome["failed"] != rows:
        summary = {k: v for k, v in outcome.items() if k != "errors"}
        raise SystemExit(f"the import did not account for every row: {summary}")
    results.append(Measure(engine, rows, "import", seconds, rss, outcome["seconds"], load=load))
    validate, imported = results[-2], results[-1]
    results.append(
        Measure(
            engine,
            rows,
            "validate + import",
            validate.seconds + imported.seconds,
            max(validate.peak_rss_mb, imported.peak_rss_mb),
            (validate.pipeline_seconds or 0) + (imported.pipeline_seconds or 0),
            load=validate.load,
        )
    )
    return results


def measure_startup(engine: str) -> list[Measure]:
    """`import_customers --help` and a 20-row import as whole processes: the median of STARTUP_RUNS each."""
    env = engine_env(engine)
    path = bench_file(20)
    reset_database(engine)
    results = []
    for stage, argv in (
        ("start-up: --help", [sys.executable, "manage.py", "import_customers", "--help"]),
        ("start-up: 20-row import", [sys.executable, "manage.py", "import_customers", str(path), "--json"]),
    ):
        load = load_average()
        runs = sorted(run_child(argv, env)[:2] for _ in range(STARTUP_RUNS))
        seconds, rss = runs[len(runs) // 2]
        results.append(Measure(engine, 20 if "import" in stage else 0, stage, seconds, rss, load=load))
    return results


def measure_stack(rows: int) -> Measure:
    """A full sheet through the job API on the production stack (bench/stack_import.py), in a child."""
    env = {**os.environ, "BENCH_PG_URL": PG_BENCH_URL, "LOG_LEVEL": "WARNING"}
    load = load_average()
    _seconds, _rss, out = run_child([sys.executable, str(ROOT / "bench" / "stack_import.py"), "--rows", str(rows)], env)
    run = json.loads(out.strip().splitlines()[-1])
    stage = (
        f"job API on the stack: upload {run['upload_seconds']:.1f} s, validate {run['validate_seconds']:.1f} s, "
        f"commit {run['commit_seconds']:.1f} s; peak PSS of the stack"
    )
    return Measure("postgres", rows, stage, run["total_seconds"], run["peak_pss_mb"], load=load)


def target(m: Measure) -> str:
    """The issue's target for this row, and whether it was met ("✓" / "✗"), or "" when there is none."""
    goals = []
    if m.stage == "import" and m.engine == "postgres" and m.rows in TARGETS:
        whole = m.rows in WHOLE_PROCESS_TARGETS
        seconds = m.seconds if whole else (m.pipeline_seconds or m.seconds)
        goals.append((f"≤ {TARGETS[m.rows]:g} s{' whole process' if whole else ''}", seconds <= TARGETS[m.rows]))
    if m.stage == "import" and m.rows in MEMORY_TARGETS:
        goals.append((f"≤ {MEMORY_TARGETS[m.rows]} MB", m.peak_rss_mb <= MEMORY_TARGETS[m.rows]))
    if m.stage.startswith("job API"):
        goals.append((f"≤ {STACK_TARGETS['seconds']:g} s", m.seconds <= STACK_TARGETS["seconds"]))
        goals.append((f"≤ {STACK_TARGETS['pss_mb']:g} MB PSS", m.peak_rss_mb <= STACK_TARGETS["pss_mb"]))
    return ", ".join(f"{text} {'✓' if met else '✗'}" for text, met in goals)


def table(results: list[Measure]) -> str:
    lines = [
        "| Engine | Rows | Stage | Process s | Pipeline s | Rows/s (pipeline) | Peak (MB) | 1-min load | Target |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        pipeline = f"{m.pipeline_seconds:.2f}" if m.pipeline_seconds is not None else "—"
        rate = f"{m.rows_per_second:,.0f}" if m.rows else "—"
        rows = f"{m.rows:,}" if m.rows else "—"
        lines.append(
            f"| {m.engine} | {rows} | {m.stage} | {m.seconds:.2f} | {pipeline} | {rate} "
            f"| {m.peak_rss_mb:.0f} | {m.load:.2f} | {target(m)} |"
        )
    return "\n".join(lines)


def chart(results: list[Measure]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 5), dpi=110)
    for engine in sorted({m.engine for m in results}):
        for stage, style in (("read", ":"), ("validate", "--"), ("import", "-"), ("validate + import", "-.")):
            points = sorted(
                (m.rows, m.pipeline_seconds or m.seconds) for m in results if m.engine == engine and m.stage == stage
            )
            if points:
                axes.plot(*zip(*points, strict=True), style, marker="o", label=f"{engine} {stage}")
    targets = sorted(TARGETS.items())
    axes.plot(*zip(*targets, strict=True), "k", alpha=0.3, linewidth=6, label="target (PostgreSQL import)")
    before = sorted(BEFORE_POSTGRES_IMPORT.items())
    axes.plot(*zip(*before, strict=True), "x:", color="grey", label="postgres import before (2026-11-23)")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlabel("rows")
    axes.set_ylabel("seconds")
    axes.set_title("Primepre Import: seconds against rows")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(fontsize=8)
    CHART.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(CHART)


def write_doc(results: list[Measure], command: str) -> None:
    marker_start, marker_end = "<!-- bench:start -->", "<!-- bench:end -->"
    body = (
        f"{marker_start}\nMeasured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on this machine "
        f"({os.cpu_count()} cores) with `{command}`, default settings "
        f"(BULK_CREATE_BATCH_SIZE=25). Each row's 1-minute load average is the machine's when it started; "
        f"above about 1 on these 2 cores the figures say as much about the neighbours as about the import."
        f"\n\n{table(results)}\n\n![seconds against rows](img/performance.png)\n"
        f"{marker_end}"
    )
    text = DOC.read_text() if DOC.exists() else "# Performance\n\n## Import benchmark\n\n" + marker_start + marker_end
    if marker_start in text:
        before, rest = text.split(marker_start, 1)
        after = rest.split(marker_end, 1)[1] if marker_end in rest else ""
        text = before + body + after
    else:
        text += "\n\n## Import benchmark\n\n" + body + "\n"
    DOC.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=list(DEFAULT_SIZES))
    parser.add_argument("--engines", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"])
    parser.add_argument("--no-doc", action="store_true", help="print the table only")
    parser.add_argument("--no-startup", action="store_true", help="skip the start-up measurements")
    parser.add_argument("--no-stack", action="store_true", help="skip the job API on the production stack")
    parser.add_argument("--stack-rows", type=int, default=1_048_575, help="rows sent through the job API")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results: list[Measure] = []

    def report(m: Measure) -> None:
        pipeline = f"{m.pipeline_seconds:7.2f} s pipeline" if m.pipeline_seconds is not None else " " * 16
        print(
            f"  {m.stage[:40]:<40} {m.seconds:7.2f} s process {pipeline} {m.peak_rss_mb:6.0f} MB load {m.load:.2f}",
            flush=True,
        )
        results.append(m)

    for engine in args.engines:
        if not args.no_startup:
            print(f"{engine}: start-up", flush=True)
            for m in measure_startup(engine):
                report(m)
        for rows in args.sizes:
            print(f"{engine}: {rows:,} rows", flush=True)
            for m in measure(engine, rows):
                report(m)
    if not args.no_stack and "postgres" in args.engines:
        print(f"postgres: {args.stack_rows:,} rows through the job API on the production stack", flush=True)
        report(measure_stack(args.stack_rows))
    print()
    print(table(results))
    if not args.no_doc:
        write_doc(results, "make bench" if sys.argv[1:] == [] else "python bench/run.py " + " ".join(sys.argv[1:]))
        chart(results)
        print(f"\nWrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
