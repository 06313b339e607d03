"""Side by side: django-import-export 4.4 in bulk mode against `import_customers`, on the same files.

django-import-export is the field's best-known Django importer. Each tool gets a
fresh, migrated, empty database and the same generated xlsx (bench/generate.py,
as `make bench` makes them), and runs in a child process of its own:

- django-import-export: a `ModelResource` for Customer with `use_bulk = True`,
  `batch_size = 1000`, `skip_diff = True`, rows matched on the phone number
  (`import_id_fields`), each row put in normal form by our own normalisers in
  `before_import_row` (the table's check constraints refuse anything else), the
  file loaded with tablib, `import_data(..., use_transactions=False)` (inside one
  transaction it rolls the whole file back when any row fails, while ours keeps
  the valid rows and reports the rest);
- ours: `manage.py import_customers FILE --json`.

Seconds are each child's wall time, Python's and Django's start-up included, and
peak RSS its ru_maxrss. Needs requirements-bench.txt (django-import-export is not
one of the app's dependencies).

    python bench/import_export_compare.py                       # 20,000 and 100,000 rows, PostgreSQL
    python bench/import_export_compare.py --sizes 20000 --engine sqlite
"""

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.run import bench_file, engine_env, load_average, reset_database, run_child  # noqa: E402

IMPORT_EXPORT = """
import json, sys, time
import django
django.setup()
import tablib
from import_export import fields, resources
from users.customers import normalise
from users.models import Customer

started = time.perf_counter()

class CustomerResource(resources.ModelResource):
    shipping_mark = fields.Field(attribute="shipping_mark", column_name="Shipping Mark")
    first_name = fields.Field(attribute="first_name", column_name="First Name")
    last_name = fields.Field(attribute="last_name", column_name="Last Name")
    email = fields.Field(attribute="email", column_name="Email")
    phone = fields.Field(attribute="phone", column_name="Phone Number")
    region = fields.Field(attribute="region", column_name="Region")

    class Meta:
        model = Customer
        fields = ("shipping_mark", "first_name", "last_name", "email", "phone", "region")
        import_id_fields = ("phone",)
        use_bulk = True
        batch_size = 1000
        skip_diff = True
        skip_unchanged = False

    def before_import_row(self, row, **kwargs):
        row["Shipping Mark"] = normalise.normalise_shipping_mark(row["Shipping Mark"])
        row["First Name"] = normalise.normalise_name(row["First Name"], field_label="First Name")
        row["Last Name"] = normalise.normalise_name(row["Last Name"], field_label="Last Name")
        row["Email"] = normalise.normalise_email(row["Email"])
        row["Phone Number"] = normalise.normalise_phone(row["Phone Number"], default_region="GH")
        row["Region"] = normalise.normalise_region(row["Region"])

with open(sys.argv[1], "rb") as source:
    dataset = tablib.Dataset().load(source, format="xlsx")
# Without one transaction around it all: django-import-export rolls the whole file back when any row fails,
# where the importer it is compared with keeps the valid rows and reports the rest.
result = CustomerResource().import_data(dataset, dry_run=False, raise_errors=False, use_transactions=False)
print(json.dumps({
    "seconds": time.perf_counter() - started,
    "rows": len(dataset),
    "created": Customer.objects.count(),
    "errors": len(result.row_errors()) + len(result.invalid_rows),
}))
"""


@dataclass(frozen=True)
class Comparison:
    tool: str
    rows: int
    seconds: float
    work_seconds: float
    peak_rss_mb: float
    created: int
    load: float


def compare(engine: str, rows: int) -> list[Comparison]:
    path = bench_file(rows)
    env = engine_env(engine)
    results = []
    reset_database(engine)
    load = load_average()
    seconds, rss, out = run_child([sys.executable, "-c", IMPORT_EXPORT, str(path)], env)
    outcome = json.loads(out.strip().splitlines()[-1])
    results.append(
        Comparison(
            "django-import-export 4.4 (bulk, batch 1,000)",
            rows,
            seconds,
            outcome["seconds"],
            rss,
            outcome["created"],
            load,
        )
    )
    reset_database(engine)
    load = load_average()
    seconds, rss, out = run_child([sys.executable, "manage.py", "import_customers", str(path), "--json"], env)
    outcome = json.loads(out)
    ours = Comparison("Primepre `import_customers`", rows, seconds, outcome["seconds"], rss, outcome["created"], load)
    results.append(ours)
    return results


def table(results: list[Comparison], engine: str) -> str:
    lines = [
        f"| Tool ({engine}) | Rows | Process s | Import s | Peak RSS (MB) | Customers created | 1-min load |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    lines += [
        f"| {c.tool} | {c.rows:,} | {c.seconds:.2f} | {c.work_seconds:.2f} | {c.peak_rss_mb:.0f} | {c.created:,} "
        f"| {c.load:.2f} |"
        for c in results
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[20_000, 100_000])
    parser.add_argument("--engine", choices=("sqlite", "postgres"), default="postgres")
    args = parser.parse_args()
    results = []
    for rows in args.sizes:
        for c in compare(args.engine, rows):
            print(f"  {c.tool:<48} {c.rows:>9,} rows {c.seconds:7.2f} s {c.peak_rss_mb:5.0f} MB load {c.load:.2f}")
            results.append(c)
    print()
    print(table(results, args.engine))


if __name__ == "__main__":
    main()
