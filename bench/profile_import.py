"""Where an import's seconds go: `make profile`.

Imports a generated file (bench/generate.py, as `make bench` does) into an empty
database inside this process under cProfile, then prints the functions that took
the most time, by their own time and by cumulative time. The import runs through
`import_customers` as the CLI runs it, so what shows here is what the CLI spends
(minus Python's and Django's start-up, which `make bench` times on its own), with
one difference: by default the read → validate → de-duplicate stage runs in this
process instead of a forked child, so one profile sees every stage (cProfile
follows no fork). `--overlap` profiles the real arrangement: then the table is
the writing process alone, and its waits are for the child as well as for
PostgreSQL.

    python bench/profile_import.py                                  # 100,000 and 1,048,575 rows, PostgreSQL
    python bench/profile_import.py --sizes 100000 --engine sqlite --top 40
"""

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import OUT, bench_file, engine_env, load_average, reset_database  # noqa: E402


def profile_import(engine: str, rows: int, top: int, *, overlap: bool = False) -> str:
    """One import of `rows` rows, profiled; the report as text."""
    path = bench_file(rows)
    reset_database(engine)
    os.environ.update({**engine_env(engine), "LOG_LEVEL": "ERROR"})
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    connections.close_all()
    if not overlap:
        from users.imports import pipeline

        single = pipeline._chunks
        pipeline._chunks = lambda *args, **kwargs: single(*args, **{**kwargs, "overlap": False})
    load = load_average()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    call_command("import_customers", str(path), "--json", stdout=io.StringIO())
    profiler.disable()
    seconds = time.perf_counter() - started
    text = io.StringIO()
    arrangement = "writing process only, reading in a child" if overlap else "every stage in one process"
    text.write(
        f"## {engine}, {rows:,} rows ({arrangement}): {seconds:.1f} s under the profiler, "
        f"1-minute load average {load:.2f}\n\n"
    )
    for order in ("tottime", "cumulative"):
        text.write(f"### by {order}\n\n```\n")
        stats = pstats.Stats(profiler, stream=text)
        stats.strip_dirs().sort_stats(order).print_stats(top)
        text.write("```\n\n")
    return text.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_048_575])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="postgres")
    parser.add_argument("--top", type=int, default=30, help="functions listed per table")
    parser.add_argument("--overlap", action="store_true", help="read in a forked child, as the CLI does")
    parser.add_argument("--out", type=Path, default=OUT / "profile.md", help="where the report is written too")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    reports = []
    for rows in args.sizes:
        # Each size in its own process: the profiler and Django's state from one run must not colour the next.
        if len(args.sizes) > 1:
            import subprocess

            argv = [sys.executable, __file__, "--sizes", str(rows), "--engine", args.engine, "--top", str(args.top)]
            argv += ["--overlap"] if args.overlap else []
            out = args.out.with_name(f"profile-{rows}.md")
            subprocess.run([*argv, "--out", str(out)], check=True, cwd=ROOT, stdout=subprocess.DEVNULL)
            reports.append(out.read_text())
        else:
            reports.append(profile_import(args.engine, rows, args.top, overlap=args.overlap))
    report = "\n".join(reports)
    args.out.write_text(report)
    sys.stdout.write(report)


if __name__ == "__main__":
    main()
