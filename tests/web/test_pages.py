"""The import pages as the server renders them: who may open them, and what they show."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.conftest import PASSWORD
from users.models import Customer, ImportJob, ImportStatus, User

pytestmark = pytest.mark.django_db

TEMPLATES = Path(settings.BASE_DIR, "users", "templates")
STATIC = Path(settings.BASE_DIR, "users", "static", "imports")


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def make_job(user: User | None, **fields: object) -> ImportJob:
    defaults: dict[str, object] = {"original_filename": "customers.xlsx", "status": ImportStatus.COMPLETE}
    return ImportJob.objects.create(created_by=user, **{**defaults, **fields})


def test_anonymous_visitor_is_sent_to_the_login_page() -> None:
    response = Client().get("/imports/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/imports/")


def test_login_page_asks_for_phone_number_and_password() -> None:
    html = Client().get("/accounts/login/").content.decode()

    assert '<label for="id_username">Phone number</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_staff_signs_in_with_a_phone_number_in_local_form_and_lands_on_the_import_page(admin_user: User) -> None:
    client = Client()
    response = client.post("/accounts/login/", {"username": "024 100 0001", "password": PASSWORD})

    assert response.status_code == 302 and response["Location"] == "/imports/"
    assert client.get("/imports/").status_code == 200


def test_wrong_password_is_refused_with_a_sentence(admin_user: User) -> None:
    response = Client().post("/accounts/login/", {"username": "0241000001", "password": "nope"})

    assert response.status_code == 200
    assert "Please enter a correct phone number and password" in response.content.decode()


def test_signed_in_user_without_the_import_permission_is_told_why(plain_user: User) -> None:
    response = signed_in(plain_user).get("/imports/")

    assert response.status_code == 403
    assert "permission to import customers" in response.content.decode()


def test_staff_without_add_customer_cannot_see_the_history_either(plain_user: User) -> None:
    plain_user.is_staff = True
    plain_user.save()

    assert signed_in(plain_user).get("/imports/history/").status_code == 403


def test_import_page_has_the_labelled_spreadsheet_input_duplicate_choice_and_validate_button(admin_user: User) -> None:
    html = signed_in(admin_user).get("/imports/").content.decode()

    assert '<label for="file-input" class="dropzone-label">Spreadsheet</label>' in html
    assert "<legend>On duplicates</legend>" in html
    assert 'name="on_duplicate" value="skip" checked' in html
    assert 'name="on_duplicate" value="update"' in html
    assert "Text each new customer a welcome SMS" in html
    assert ">Validate</button>" in html
    assert "Download the template" in html


def test_import_page_gives_its_script_the_csrf_token_and_the_job_api(admin_user: User) -> None:
    response = signed_in(admin_user).get("/imports/")
    config = response.context["page_config"]

    assert config["csrfToken"]
    assert config["urls"]["create"] == "/api/imports/"
    assert config["urls"]["page"] == "/imports/{id}/"
    assert config["maxUploadBytes"] == settings.IMPORT_MAX_UPLOAD_SIZE


def test_returning_admin_sees_their_running_import(admin_user: User) -> None:
    running = make_job(admin_user, status=ImportStatus.RUNNING, dry_run=False)
    make_job(admin_user, status=ImportStatus.COMPLETE)

    config = signed_in(admin_user).get("/imports/").context["page_config"]

    assert config["jobId"] == str(running.id), "coming back to /imports/ must show the import still running"


def test_a_finished_import_does_not_take_over_the_upload_form(admin_user: User) -> None:
    make_job(admin_user, status=ImportStatus.COMPLETE)

    assert signed_in(admin_user).get("/imports/").context["page_config"]["jobId"] is None


def test_another_admins_running_import_is_not_resumed_on_my_page(admin_user: User, superuser: User) -> None:
    make_job(superuser, status=ImportStatus.RUNNING)

    assert signed_in(admin_user).get("/imports/").context["page_config"]["jobId"] is None


def test_an_import_page_for_someone_elses_job_is_not_found(admin_user: User, superuser: User) -> None:
    job = make_job(superuser)

    assert signed_in(admin_user).get(f"/imports/{job.id}/").status_code == 404


def test_history_lists_who_when_file_counts_and_status(admin_user: User) -> None:
    make_job(
        admin_user,
        original_filename="march-customers.xlsx",
        total_rows=120,
        created_count=110,
        updated_count=3,
        skipped_count=2,
        failed_count=5,
        status=ImportStatus.COMPLETE,
        finished_at=timezone.now(),
    )

    html = signed_in(admin_user).get("/imports/history/").content.decode()
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", html, re.S)]

    assert "march-customers.xlsx" in cells
    assert "Ama Admin" in cells
    assert ["120", "110", "3", "2", "5", "Complete"] == cells[-6:]


def test_history_shows_only_my_imports_unless_i_may_see_all(admin_user: User, superuser: User) -> None:
    make_job(admin_user, original_filename="mine.xlsx")
    make_job(superuser, original_filename="theirs.xlsx")

    mine = signed_in(admin_user).get("/imports/history/").content.decode()
    everyone = signed_in(superuser).get("/imports/history/").content.decode()

    assert "mine.xlsx" in mine and "theirs.xlsx" not in mine
    assert "mine.xlsx" in everyone and "theirs.xlsx" in everyone


def test_history_runs_a_fixed_number_of_queries_however_many_jobs(
    admin_user: User, django_assert_max_num_queries: object
) -> None:
    for n in range(30):
        make_job(admin_user, original_filename=f"file-{n}.xlsx")
    client = signed_in(admin_user)

    with django_assert_max_num_queries(8):  # session, user, permissions, count, one page of jobs with their creators
        response = client.get("/imports/history/")

    assert response.status_code == 200


def test_history_when_empty_points_to_the_import_page(admin_user: User) -> None:
    html = signed_in(admin_user).get("/imports/history/").content.decode()

    assert "No imports yet." in html


def test_imported_customers_page_lists_the_jobs_customers(admin_user: User) -> None:
    job = make_job(admin_user)
    Customer.objects.create(
        shipping_mark="PM 0001",
        first_name="Kwame",
        last_name="Mensah",
        phone="+233241111111",
        import_job=job,
        import_row_number=2,
    )
    Customer.objects.create(shipping_mark="PM 0002", first_name="Other", last_name="Person", phone="+233242222222")

    html = signed_in(admin_user).get(f"/imports/{job.id}/customers/").content.decode()

    assert "Kwame Mensah" in html
    assert "Other Person" not in html


def test_pages_load_nothing_from_other_hosts(admin_user: User) -> None:
    """Self-contained for a closed network: no CDN, no web fonts, no remote scripts."""
    sources = [path.read_text() for path in [*TEMPLATES.rglob("*.html"), *STATIC.rglob("*.*")]]
    html = signed_in(admin_user).get("/imports/").content.decode()

    remote_ref = re.compile(r"""(?:src|href|url)\s*[=(]\s*["']?(?:https?:)?//""")
    remote = [ref for text in [*sources, html] for ref in remote_ref.findall(text)]
    assert remote == []


def test_static_files_are_served_by_whitenoise_after_collectstatic(tmp_path: Path, settings: object) -> None:
    from django.core.management import call_command

    settings.STATIC_ROOT = tmp_path  # type: ignore[attr-defined]
    call_command("collectstatic", "--noinput", verbosity=0)

    response = Client().get("/static/imports/imports.js")

    assert response.status_code == 200
    assert type(response).__module__.startswith("whitenoise"), "whitenoise, not Django, must serve static files"


def test_the_template_link_downloads_a_spreadsheet(admin_user: User) -> None:
    client = signed_in(admin_user)
    html = client.get("/imports/").content.decode()
    href = re.search(r'<a href="([^"]+)" download>Download the template</a>', html).group(1)

    response = client.get(href)

    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])[:2] == b"PK"


def test_a_missing_page_is_a_sentence_not_a_stack_trace(admin_user: User) -> None:
    response = signed_in(admin_user).get("/imports/00000000-0000-0000-0000-000000000000/")

    assert response.status_code == 404
    assert "This page doesn't exist" in response.content.decode()


def test_a_server_error_page_renders_without_a_request() -> None:
    from django.template import loader

    html = loader.get_template("500.html").render({})

    assert "Something went wrong on the server" in html and "Traceback" not in html


def test_an_expired_form_asks_to_reload_instead_of_a_csrf_error(admin_user: User) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post("/accounts/login/", {"username": "0241000001", "password": PASSWORD})

    assert response.status_code == 403
    assert "Reload the page and try again" in response.content.decode()


def test_the_page_offers_exactly_the_formats_the_readers_read() -> None:
    from users.imports.formats import SpreadsheetFormat
    from users.web.views import ACCEPTED_EXTENSIONS

    read = {f".{kind.value}" for kind in SpreadsheetFormat} | {".xlsm"}  # an .xlsx with macros, never run
    assert set(ACCEPTED_EXTENSIONS) == read, "an extension the page offers must be one the import can read"
