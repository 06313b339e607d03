"""render.yaml: the Blueprint's shape, and that every command it runs exists in this repository.

Render only finds a wrong command at deploy time, after a build; these checks
find it in CI. The commented worker-service alternative is parsed too, so it
stays valid while nobody uses it.
"""

import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import get_commands

from primepre.supervisor import build_parser
from tests.deploy.stack import ROOT

BLUEPRINT = ROOT / "render.yaml"
ALTERNATIVE_MARKER = "# --- Alternative"
# Render reads PYTHON_VERSION itself; everything else must be read by our code.
RENDER_OWN_VARIABLES = {"PYTHON_VERSION"}
CODE_READING_ENV = [
    ROOT / "primepre" / "settings.py",
    ROOT / "primepre" / "supervisor.py",
    ROOT / "primepre" / "logging.py",
    ROOT / "gunicorn_config.py",
    ROOT / "users" / "management" / "commands" / "ensure_admin.py",
]


@pytest.fixture(scope="module")
def blueprint() -> dict[str, Any]:
    return yaml.safe_load(BLUEPRINT.read_text())


@pytest.fixture(scope="module")
def web(blueprint: dict[str, Any]) -> dict[str, Any]:
    [service] = [s for s in blueprint["services"] if s["type"] == "web"]
    return service


def env_vars(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {var["key"]: var for var in service["envVars"]}


def commented_alternative() -> list[dict[str, Any]]:
    text = BLUEPRINT.read_text()
    commented = text[text.index(ALTERNATIVE_MARKER) :].splitlines()
    lines = [line[1:] for line in commented if line.startswith("#  ")]
    return yaml.safe_load("\n".join(lines))


def assert_command_exists(command: str) -> None:
    """One step of a build or start command: pip's requirements file, a manage.py command, or a module."""
    words = shlex.split(command)
    if words[:3] == ["pip", "install", "-r"]:
        assert (ROOT / words[3]).is_file(), f"{words[3]} is missing"
    elif words[:2] == ["python", "manage.py"]:
        assert words[2] in get_commands(), f"manage.py has no {words[2]!r} command"
    elif words[:3] == ["python", "-m", "primepre.supervisor"]:
        build_parser().parse_args(words[3:])  # exits (fails the test) on an unknown option
    elif words[:2] == ["python", "-m"]:
        assert importlib.util.find_spec(words[2]) is not None, f"no module {words[2]}"
    else:
        pytest.fail(f"render.yaml runs {command!r}, which this test doesn't know how to check")


def steps(command: str) -> list[str]:
    return [step.strip() for step in command.split("&&")]


def test_the_web_service_is_a_free_python_service_checked_at_health(web: dict[str, Any]) -> None:
    assert (web["runtime"], web["plan"], web["healthCheckPath"]) == ("python", "free", "/health")


def test_the_build_installs_requirements_collects_static_files_and_migrates(web: dict[str, Any]) -> None:
    build = steps(web["buildCommand"])
    assert build[0] == "pip install -r requirements.txt"
    assert "python manage.py collectstatic --noinput" in build and "python manage.py migrate --noinput" in build


def test_one_start_command_runs_web_and_worker_under_the_supervisor(web: dict[str, Any]) -> None:
    assert web["startCommand"] == "python -m primepre.supervisor"


@pytest.mark.parametrize("field", ["buildCommand", "startCommand"])
def test_every_command_the_web_service_runs_exists(web: dict[str, Any], field: str) -> None:
    for step in steps(web[field]):
        assert_command_exists(step)


def test_render_waits_longer_than_the_supervisor_does_before_killing(web: dict[str, Any]) -> None:
    from primepre.supervisor import Timings

    assert web["maxShutdownDelaySeconds"] > Timings().stop_seconds, "else Render kills mid-shutdown"


def test_the_free_database_is_wired_in_as_database_url(blueprint: dict[str, Any], web: dict[str, Any]) -> None:
    [database] = blueprint["databases"]
    assert database["plan"] == "free" and database["region"] == web["region"], "internal URL needs one region"
    assert env_vars(web)["DATABASE_URL"]["fromDatabase"] == {"name": database["name"], "property": "connectionString"}


def test_secrets_are_entered_in_renders_dashboard_never_committed(web: dict[str, Any]) -> None:
    variables = env_vars(web)
    assert variables["SECRET_KEY"] == {"key": "SECRET_KEY", "generateValue": True}, "Render makes the key"
    for key in (
        "TWILIO_ACCOUNT_SID",
        "TWILIO_AUTH_TOKEN",
        "TWILIO_PHONE_NUMBER",
        "DJANGO_SUPERUSER_PASSWORD",
    ):
        assert variables[key] == {"key": key, "sync": False}, f"{key} must be entered in Render's dashboard"


def test_the_blueprint_keeps_the_production_defaults(web: dict[str, Any]) -> None:
    variables = env_vars(web)
    assert variables["DEBUG"]["value"] == "false"
    assert "ALLOW_PLAIN_HTTP" not in variables, "Render serves HTTPS; settings refuse plain HTTP there"
    assert variables["ADMIN_URL"] == {"key": "ADMIN_URL", "sync": False}, "each deployment picks its admin's path"


def test_renders_health_check_path_is_never_redirected_to_https(web: dict[str, Any]) -> None:
    from django.conf import settings

    path = web["healthCheckPath"].lstrip("/")
    assert any(re.search(pattern, path) for pattern in settings.SECURE_REDIRECT_EXEMPT), (
        "Render's health check calls over plain HTTP; a redirect would fail every deploy"
    )


def test_python_and_concurrency_are_pinned(web: dict[str, Any]) -> None:
    variables = env_vars(web)
    local = (ROOT / ".python-version").read_text().strip()
    assert re.fullmatch(re.escape(local) + r"\.\d+", variables["PYTHON_VERSION"]["value"]), "same minor as local"
    assert variables["WEB_CONCURRENCY"]["value"] == "1" and variables["DEBUG"]["value"] == "false"


def test_hosts_and_cors_origins_are_asked_for(web: dict[str, Any]) -> None:
    assert {"ALLOWED_HOSTS", "CORS_ALLOWED_ORIGINS"} <= env_vars(web).keys()


def test_every_variable_render_sets_is_read_by_the_code(web: dict[str, Any]) -> None:
    code = "\n".join(path.read_text() for path in CODE_READING_ENV)
    unread = [key for key in env_vars(web) if key not in RENDER_OWN_VARIABLES and f'"{key}"' not in code]
    assert not unread, f"render.yaml sets variables nothing reads: {unread}"


def test_the_commented_worker_service_is_valid_and_shares_the_web_services_settings(
    blueprint: dict[str, Any], web: dict[str, Any]
) -> None:
    [worker] = commented_alternative()
    assert worker["type"] == "worker" and worker["region"] == web["region"]
    for field in ("buildCommand", "startCommand"):
        for step in steps(worker[field]):
            assert_command_exists(step)
    variables = env_vars(worker)
    assert variables["DATABASE_URL"]["fromDatabase"]["name"] == blueprint["databases"][0]["name"]
    shared = [var["fromService"] for var in variables.values() if "fromService" in var]
    assert {ref["name"] for ref in shared} == {web["name"]}
    assert {ref["envVarKey"] for ref in shared} <= env_vars(web).keys()


def test_the_separate_worker_needs_no_disk_because_uploads_are_in_shared_storage(
    blueprint: dict[str, Any], web: dict[str, Any]
) -> None:
    """A worker on its own instance reads uploads from where the web service stored them, never from a disk."""
    [worker] = commented_alternative()
    assert "disk" not in web and "disk" not in worker, "a disk attaches to one service; uploads must not need one"
    assert env_vars(web)["IMPORT_STORAGE"]["value"] in {"database", "s3"}
    assert env_vars(worker)["IMPORT_STORAGE"]["fromService"] == {
        "type": "web",
        "name": web["name"],
        "envVarKey": "IMPORT_STORAGE",
    }, "the worker must read files where the web service writes them"
    assert worker.get("numInstances", 1) >= 1


def test_the_web_command_of_the_alternative_exists() -> None:
    text = Path(BLUEPRINT).read_text()
    [command] = re.findall(r'"(python -m primepre\.supervisor --no-worker)"', text)
    assert_command_exists(command)
