"""Heavy libraries stay out of processes that don't use them: an idle web worker stays small.

openpyxl, calamine, twilio and phonenumbers cost tens of MB between them; only
the code that reads a spreadsheet, sends a text or normalises a phone number
may import them, inside its functions. Each check runs in a fresh interpreter
and, on failure, names the chain of project modules that pulled the library in.
"""

import json
import subprocess
import sys

import pytest

from tests.deploy.stack import ROOT

HEAVY = ("openpyxl", "python_calamine", "twilio", "phonenumbers")

# Records, for each heavy library, the project frames on the stack when it was first imported.
TRACER = """
import json, os, sys, traceback
HEAVY = {heavy!r}
ROOT = {root!r}
culprits = {{}}

class Tracer:
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top in HEAVY and top not in culprits:
            stack = traceback.extract_stack()
            frames = [f for f in stack if f.filename.startswith(ROOT) and "/.venv/" not in f.filename]
            culprits[top] = [f"{{os.path.relpath(f.filename, ROOT)}}:{{f.lineno}}" for f in frames][::-1]
        return None

sys.meta_path.insert(0, Tracer())
"""

SERVE_HEALTH = """
import io
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "primepre.settings")
from primepre.wsgi import application
environ = {
    "REQUEST_METHOD": "GET", "PATH_INFO": "/health", "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
    "SERVER_PORT": "8000", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(), "wsgi.errors": sys.stderr,
    "wsgi.url_scheme": "http", "wsgi.multithread": False, "wsgi.multiprocess": True, "wsgi.run_once": False,
}
statuses = []
b"".join(application(environ, lambda status, headers, exc_info=None: statuses.append(status)))
assert statuses == ["200 OK"], statuses
"""

REPORT = """
print(json.dumps({"loaded": sorted(m for m in HEAVY if m in sys.modules), "culprits": culprits}))
"""


def loaded_heavy_modules(code: str, **env: str) -> tuple[list[str], dict[str, list[str]]]:
    script = TRACER.format(heavy=HEAVY, root=str(ROOT) + "/") + code + REPORT
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "false", "SECRET_KEY": "lazy-imports-" + "0123456789abcdef" * 3, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return report["loaded"], report["culprits"]


def explain(culprits: dict[str, list[str]]) -> str:
    return "; ".join(f"{module} imported via {' <- '.join(chain[:6])}" for module, chain in culprits.items())


@pytest.fixture(scope="module")
def idle_web_worker(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[str], dict[str, list[str]]]:
    database = tmp_path_factory.mktemp("idle") / "idle.sqlite3"
    return loaded_heavy_modules(SERVE_HEALTH, DATABASE_URL=f"sqlite:///{database}")


@pytest.mark.parametrize(
    "module",
    [
        "openpyxl",
        "python_calamine",
        "twilio",
        "phonenumbers",
    ],
)
def test_an_idle_web_worker_serving_health_does_not_import(
    module: str, idle_web_worker: tuple[list[str], dict[str, list[str]]]
) -> None:
    loaded, culprits = idle_web_worker
    assert module not in loaded, f"keep it inside the functions that need it: {explain({module: culprits[module]})}"


def test_the_gunicorn_config_loads_neither_django_nor_heavy_libraries() -> None:
    code = "import runpy; runpy.run_path('gunicorn_config.py')\nassert 'django' not in sys.modules, 'django'\n"
    loaded, culprits = loaded_heavy_modules(code)
    assert loaded == [], explain(culprits)
