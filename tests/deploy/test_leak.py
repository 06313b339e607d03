"""No leak in the web worker: 300 upload-and-validate requests, one worker, recycling off.

gunicorn normally replaces its worker every 150-200 requests and after any
request that leaves it above GUNICORN_WORKER_MAX_RSS_MB, which would hide a
leak; both are switched off here. After a warm-up (imports, caches, the
allocator's arenas) the worker's RSS may not grow by more than 15 MB.
"""

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.deploy.stack import ROOT, Stack, Template, prepare_template, running_stack
from users.monitoring.processes import ProcessRole, stack_memory_get

pytestmark = pytest.mark.slow

REQUESTS = 300
WARM_UP = 50
MAX_GROWTH_MB = 15
ROWS = 300
UPLOAD = "/api/auth/customers/excel/upload/"


def customers_xlsx(path: Path, rows: int) -> Path:
    """An Excel-like sheet of customers: bench/generate.py's when present, else a plain openpyxl one."""
    try:
        from bench.generate import generate_customers_xlsx
    except ImportError:
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet("Customers")
        sheet.append(["Shipping Mark", "First Name", "Last Name", "Email", "Phone Number", "Region"])
        for n in range(rows):
            sheet.append([f"PM{n:06d}", "Ama", "Mensah", f"ama{n}@example.com", f"024{n:07d}", "Greater Accra"])
        workbook.save(path)
        return path
    return generate_customers_xlsx(path, rows, seed=7, error_rate=0.05)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    template: Template = prepare_template(tmp_path_factory.mktemp("leak-template"))
    with running_stack(
        template,
        tmp_path_factory.mktemp("leak"),
        args=("--no-worker",),  # the preview validates inside the request: no task worker needed
        GUNICORN_MAX_REQUESTS="0",
        GUNICORN_WORKER_MAX_RSS_MB="0",
    ) as stack:
        yield stack


def web_worker(stack: Stack) -> psutil.Process:
    [worker] = stack_memory_get(root_pid=stack.pid).by_role(ProcessRole.WEB_WORKER)
    return psutil.Process(worker.pid)


def rss_mb(process: psutil.Process) -> float:
    return process.memory_info().rss / (1024 * 1024)


def test_three_hundred_upload_previews_grow_one_worker_by_at_most_15_mb(stack: Stack, tmp_path: Path) -> None:
    sheet = customers_xlsx(tmp_path / "customers.xlsx", ROWS)
    worker = web_worker(stack)
    samples: list[float] = []
    for number in range(1, REQUESTS + 1):
        status, body = stack.post_file(UPLOAD, sheet, token=stack.token)
        assert status == 200, f"request {number}: {status} {body[:300]!r}"
        if number == 1:
            assert json.loads(body)["upload_id"], "a real preview came back"
        if number >= WARM_UP:
            samples.append(rss_mb(worker))

    assert web_worker(stack).pid == worker.pid, "the worker was replaced: recycling was meant to be off"
    growth = max(samples[-10:]) - min(samples[:10])
    report = f"RSS after warm-up {samples[0]:.1f} MB, after {REQUESTS} requests {samples[-1]:.1f} MB"
    measured = {"after_warm_up_mb": round(samples[0], 1), "final_mb": round(samples[-1], 1), "growth_mb": growth}
    (ROOT / ".run").mkdir(exist_ok=True)
    (ROOT / ".run" / "deploy-leak.json").write_text(json.dumps(measured, indent=2))
    assert growth <= MAX_GROWTH_MB, f"the worker grew {growth:.1f} MB over {REQUESTS - WARM_UP} requests; {report}"
