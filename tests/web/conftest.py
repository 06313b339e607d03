"""Browser-test plumbing: Debian's chromium driven by Playwright against a live server and a real worker.

- `web_server`: Django's threaded live server on 127.0.0.1 and a free port, for the whole session.
  Requests pass through the full middleware stack, so whitenoise serves the static files as in
  production (no Django static handler in front of it).
- `browser`: one headless chromium per module (Playwright can't download its own browser here).
- `page`: a fresh browser context per test, laptop-sized, with downloads allowed.
- `import_worker`: a real `manage.py run_worker` process on the test database.
- `shot(page, name)`: saves a screenshot of a step under $SCREENSHOT_DIR (`make screenshots` sets
  it to docs/img; by default they go to the test's temporary directory).
"""

import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from django.conf import settings

from tests.conftest import PASSWORD
from tests.workers import LiveWorker
from users.models import User

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
]
LAPTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}
# Long enough for a slow CI machine to import a few thousand rows; short enough to fail a hung page quickly.
STEP_TIMEOUT_MS = 60_000
CALL_FAILED = pytest.StashKey[bool]()


def chromium_path() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail(
            "The browser tests need Debian's chromium, which is not installed: run "
            "`apt-get install -y chromium` (.ci/run does), or leave them out with -m 'not browser'.",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def web_server(django_db_setup: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on http://127.0.0.1:<free port>, served by Django's threaded live server."""
    from django.test.testcases import LiveServerThread
    from django.test.utils import override_settings

    media = tmp_path_factory.mktemp("media")
    # Static files straight from the apps' folders through whitenoise, as `make run` serves them.
    overrides = override_settings(
        WHITENOISE_USE_FINDERS=True,
        WHITENOISE_AUTOREFRESH=True,
        ALLOWED_HOSTS=[*settings.ALLOWED_HOSTS, "127.0.0.1"],
        MEDIA_ROOT=media,
    )
    overrides.enable()
    thread = LiveServerThread("127.0.0.1", static_handler=lambda app: app, port=0)
    thread.daemon = True
    thread.start()
    thread.is_ready.wait()
    try:
        if thread.error:
            raise thread.error
        yield f"http://127.0.0.1:{thread.port}"
    finally:
        thread.terminate()
        overrides.disable()


@pytest.fixture(scope="module")
def browser() -> Iterator["Browser"]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    # Playwright's sync API keeps an event loop in this thread; the tests' own ORM calls are still
    # ordinary synchronous code, so tell Django not to refuse them while the browser is open.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def page(
    browser: "Browser", web_server: str, transactional_db: None, request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator["Page"]:
    context = browser.new_context(base_url=web_server, viewport=LAPTOP, accept_downloads=True, locale="en-GB")
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    if request.node.stash.get(CALL_FAILED, False):
        # What the browser showed when the test gave up, next to pytest's temporary files.
        folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
        path = folder / f"failure-{request.node.name[:80]}.png"
        page.screenshot(path=str(path), full_page=True)
        sys.stderr.write(f"screenshot of the failure: {path}\n")
    context.close()
    assert errors == [], f"the page's script failed: {errors}"


@pytest.fixture
def signed_in_page(page: "Page", admin_user: User) -> "Page":
    """The page, signed in as an admin who may import, through the real login form."""
    sign_in(page, phone="0241000001")
    return page


def sign_in(page: "Page", *, phone: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Phone number").fill(phone)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/imports/")


@pytest.fixture
def import_worker(transactional_db: None, web_server: str) -> Iterator[LiveWorker]:
    """A real worker process; small transactions so progress moves (and a cancel lands) several times a second."""
    worker = LiveWorker(
        interval=0.2,
        # Texts go to the worker's log (the console backend), never to a real phone.
        extra_env={"IMPORT_TRANSACTION_ROWS": "50", "LOG_LEVEL": "WARNING", "SMS_BACKEND": "console"},
    )
    try:
        yield worker
    finally:
        worker.stop()
        # pytest shows this only when the test fails: the worker's side of the story.
        sys.stderr.write(f"--- worker output ---\n{worker.output()[-4000:]}\n")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[CALL_FAILED] = report.failed
    return report


@pytest.fixture
def shot(tmp_path: Path) -> Callable[["Page", str], Path]:
    """Save a screenshot of the page as <name>.png: under $SCREENSHOT_DIR, or this test's temporary folder."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    def take(page: "Page", name: str, *, full_page: bool = True) -> Path:
        path = folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page, animations="disabled", caret="initial")
        return path

    return take
