"""Benchmark the import pipeline end to end: `make bench`.

For each database engine and file size it generates a spreadsheet the way Excel
saves it (bench/generate.py), then times, in a fresh child process each:

- read:     iterating every row of the sheet (the reader alone),
- validate: `import_customers --dry-run` (read, header, validate, de-duplicate, existing-customer lookups),
- import:   `import_customers` into an empty customer table (all of the above plus the writes),

and reports seconds (the child's wall time, and the pipeline's own time as the
command reports it, without Python and Django starting up), rows per second and
the child's peak RSS (ru_maxrss from wait4: the whole process, Django included;
Linux starts a child's count at its parent's RSS, which is far smaller here). The table goes to stdout and to
docs/performance.md; the chart to docs/img/performance.png.

    python bench/run.py                      # 7,000 / 100,000 / 1,048,575 rows, SQLite and PostgreSQL
    python bench/run.py --sizes 7000 --engines postgres
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
DEFAULT_SIZES = (7_000, 100_000, 1_048_575)
TARGETS = {7_000: 1.0, 100_000: 6.0, 1_048_575: 60.0}  # seconds, PostgreSQL
MEMORY_TARGETS = {100_000: 150, 1_048_575: 300}  # MB peak RSS

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

    @property
    def rows_per_second(self) -> float:
        seconds = self.pipeline_seconds if self.pipeline_seconds is not None else self.seconds
        return self.rows / seconds if seconds else 0.0


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
    seconds, rss, _ = run_child([sys.executable, "-c", READ_ONLY, str(path)], env)
    results.append(Measure(engine, rows, "read", seconds, rss))
    reset_database(engine)
    command = [sys.executable, "manage.py", "import_customers", str(path), "--json"]
    seconds, rss, out = run_child([*command, "--dry-run"], env)
    outcome = json.loads(out)
    if outcome["status"] != "VALIDATED":
        raise SystemExit(f"validation did not finish: {outcome['status']} {outcome['error']}")
    results.append(Measure(engine, rows, "validate", seconds, rss, outcome["seconds"]))
    seconds, rss, out = run_child(command, env)
    outcome = json.loads(out)
    if outcome["status"] != "COMPLETE" or outcome["created"] + outcome["failed"] != rows:
        summary = {k: v for k, v in outcome.items() if k != "errors"}
        raise SystemExit(f"the import did not account for every row: {summary}")
    results.append(Measure(engine, rows, "import", seconds, rss, outcome["seconds"]))
    validate, imported = results[-2], results[-1]
    results.append(
        Measure(
            engine,
            rows,
            "validate + import",
            validate.seconds + imported.seconds,
            max(validate.peak_rss_mb, imported.peak_rss_mb),
            (validate.pipeline_seconds or 0) + (imported.pipeline_seconds or 0),
        )
    )
    return results


def table(results: list[Measure]) -> str:
    lines = [
        "| Engine | Rows | Stage | Process s | Pipeline s | Rows/s (pipeline) | Peak RSS (MB) | Target |",
        "| --- | ---: | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for m in results:
        target = ""
        if m.stage == "import" and m.engine == "postgres" and m.rows in TARGETS:
            target = f"≤ {TARGETS[m.rows]:g} s"
        if m.stage == "import" and m.rows in MEMORY_TARGETS:
            target += f"{', ' if target else ''}≤ {MEMORY_TARGETS[m.rows]} MB"
        pipeline = f"{m.pipeline_seconds:.2f}" if m.pipeline_seconds is not None else "—"
        lines.append(
            f"| {m.engine} | {m.rows:,} | {m.stage} | {m.seconds:.2f} | {pipeline} | {m.rows_per_second:,.0f} "
            f"| {m.peak_rss_mb:.0f} | {target} |"
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
        f"(BULK_CREATE_BATCH_SIZE=25).\n\n{table(results)}\n\n![seconds against rows](img/performance.png)\n"
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
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    results: list[Measure] = []
    for engine in args.engines:
        for rows in args.sizes:
            print(f"{engine}: {rows:,} rows", flush=True)
            for m in measure(engine, rows):
                pipeline = f"{m.pipeline_seconds:7.2f} s pipeline" if m.pipeline_seconds is not None else " " * 16
                print(
                    f"  {m.stage:<18} {m.seconds:7.2f} s process {pipeline} {m.rows_per_second:>10,.0f} rows/s "
                    f"{m.peak_rss_mb:6.0f} MB",
                    flush=True,
                )
                results.append(m)
    print()
    print(table(results))
    if not args.no_doc:
        write_doc(results, "make bench" if sys.argv[1:] == [] else "python bench/run.py " + " ".join(sys.argv[1:]))
        chart(results)
        print(f"\nWrote {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
