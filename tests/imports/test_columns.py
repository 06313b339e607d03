"""Choosing columns: what the header stage says about each column, suggestions, choices, and remembered choices."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command

from tests.imports.checkstep import OWN_HEADER, dry_run, own_header_sheet, run
from tests.imports.spreadsheets import CUSTOMERS, HEADER, write_xlsx
from users.imports.columns import import_job_choose_columns, job_layout
from users.imports.errors import RefusalCode, ServiceError
from users.imports.header import (
    ColumnRules,
    MatchKind,
    RememberedColumns,
    column_index,
    column_letter,
    describe_columns,
    header_rows,
    resolve_column_choices,
    suggest_field,
)
from users.imports.rows import Field, SourceRow
from users.imports.services import import_job_commit
from users.models import AuditAction, ImportAuditEntry, ImportJob, ImportStatus, RememberedColumnMap, User, UserRole

CHOSEN = {"A": "full_name", "B": "phone", "C": "shipping_mark", "D": "email"}


def rows(*cells: tuple) -> list[SourceRow]:
    return [SourceRow(number, tuple(row)) for number, row in enumerate(cells, start=1)]


def layout_of(*cells: tuple, rules: ColumnRules | None = None):  # noqa: ANN201 - a SheetLayout
    head = rows(*cells)
    return describe_columns(head, header_rows(head), rules=rules)


# --- pure: letters, suggestions, how each column was matched --------------------------------------------------------


@pytest.mark.parametrize(("index", "letter"), [(0, "A"), (25, "Z"), (26, "AA"), (701, "ZZ"), (16_383, "XFD")])
def test_columns_are_named_by_their_letters_as_excel_names_them(index: int, letter: str) -> None:
    assert column_letter(index) == letter
    assert column_index(letter) == index


@pytest.mark.parametrize("letter", ["", "a", "A1", "XFE", "ABCD", "É"])
def test_a_letter_beyond_the_sheet_or_malformed_names_no_column(letter: str) -> None:
    assert column_index(letter) is None


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["0241234567", "+233 20 123 4567", 241234567], Field.PHONE),
        (["ama@example.com", "kofi@mail.example.org", ""], Field.EMAIL),
        (["PM4 KOFI", "PM000024", "AK-231"], Field.SHIPPING_MARK),
        (["Greater Accra", "ashanti", "Volta Region"], Field.REGION),
        (["Ama Mensah", "Kofi Owusu Boateng", "Mensah, Esi"], Field.FULL_NAME),
        (["yes", "no", "maybe"], None),
        ([None, "", "  "], None),
    ],
)
def test_a_columns_values_suggest_the_field_they_look_like(values: list, expected: Field | None) -> None:
    assert suggest_field(values) == expected


def test_a_field_already_taken_is_never_suggested() -> None:
    assert suggest_field(["0241234567", "0201234567"], taken={Field.PHONE}) is None
    assert suggest_field(["Ama Mensah", "Kofi Owusu"], taken={Field.FIRST_NAME, Field.LAST_NAME}) is None


def test_each_column_says_how_it_was_matched_and_unknown_ones_get_a_suggestion() -> None:
    layout = layout_of(
        ("Client", "Tel.", "Mark", "E-mail", "Notes"),
        ("Ama Mensah", "0241234567", "PM1", "ama@example.com", "call first"),
        ("Kofi Owusu", "0201234567", "PM2", "kofi@example.com", ""),
    )

    described = [(c.letter, c.header, c.field, c.matched_by, c.suggested) for c in layout.columns]
    assert described == [
        ("A", "Client", None, None, Field.FULL_NAME),
        ("B", "Tel.", Field.PHONE, MatchKind.SYNONYM, None),
        ("C", "Mark", Field.SHIPPING_MARK, MatchKind.SYNONYM, None),
        ("D", "E-mail", Field.EMAIL, MatchKind.EXACT, None),
        ("E", "Notes", None, None, None),
    ]
    assert layout.columns[0].samples == ("Ama Mensah", "Kofi Owusu")
    assert layout.missing_fields() == (Field.FULL_NAME,)


def test_the_template_header_is_matched_exactly_and_needs_nothing() -> None:
    layout = layout_of(HEADER, CUSTOMERS[0])

    assert {c.matched_by for c in layout.columns} == {MatchKind.EXACT}
    assert layout.missing_fields() == ()


def test_a_choice_marks_only_the_columns_it_changed() -> None:
    rules = ColumnRules(chosen={0: Field.FULL_NAME, 1: Field.PHONE, 2: Field.SHIPPING_MARK, 3: Field.EMAIL})
    layout = layout_of(OWN_HEADER, ("Ama Mensah", "0241234567", "PM1", "ama@example.com"), rules=rules)

    assert [c.matched_by for c in layout.columns] == [
        MatchKind.CHOSEN,
        MatchKind.SYNONYM,
        MatchKind.SYNONYM,
        MatchKind.EXACT,
    ]
    assert layout.header.columns == {Field.FULL_NAME: 0, Field.PHONE: 1, Field.SHIPPING_MARK: 2, Field.EMAIL: 3}
    assert layout.header.label(Field.FULL_NAME) == "Client", "problems name the column as the sheet does"


def test_remembered_choices_apply_to_the_same_header_row_only() -> None:
    seen: list[str] = []

    def remembered(key: str) -> RememberedColumns | None:
        seen.append(key)
        return RememberedColumns(
            fields=(Field.FULL_NAME, Field.PHONE, Field.SHIPPING_MARK, Field.EMAIL), confirmed_at="", confirmed_by=""
        )

    layout = layout_of(
        OWN_HEADER, ("Ama Mensah", "0241234567", "PM1", "a@b.co"), rules=ColumnRules(remembered=remembered)
    )
    spaced = layout_of(("CLIENT", "tel", "mark", "Email"), ("Ama Mensah", "0241234567", "PM1", "a@b.co"))
    other = layout_of(("Customer", "Tel.", "Mark", "E-mail"), ("Ama Mensah", "0241234567", "PM1", "a@b.co"))

    assert layout.columns[0].matched_by == MatchKind.REMEMBERED and layout.missing_fields() == ()
    assert spaced.key == layout.key == seen[0], "the key is the header in normal form: case and dots don't count"
    assert other.key != layout.key


@pytest.mark.parametrize(
    ("choices", "sentence"),
    [
        ({"Z": "phone"}, "The sheet has no column Z"),
        ({"A": "nickname"}, "is not a customer field"),
        ({"A": "phone"}, "Phone Number is chosen for columns A and B"),
        ({"A": "first_name"}, "Choose a column for Last Name"),
        ({"B": ""}, "Choose a column for Name and Phone Number"),
    ],
)
def test_a_column_choice_that_cant_work_is_refused_with_a_sentence(choices: dict, sentence: str) -> None:
    layout = layout_of(OWN_HEADER, ("Ama Mensah", "0241234567", "PM1", "ama@example.com"))

    with pytest.raises(ValueError, match=sentence):
        resolve_column_choices(layout, choices)


# --- on jobs: waiting for columns, choosing them, remembering them --------------------------------------------------

pytestmark_db = pytest.mark.django_db


@pytest.fixture
def owner(db: None) -> User:
    user = User.objects.create_user("0241000011", "pw", first_name="Ama", last_name="Admin", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="add_customer"))
    return user


def test_a_dry_run_missing_a_column_waits_at_the_check_step_with_the_sheets_columns(
    owner: User, tmp_path: Path
) -> None:
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))

    assert job.status == ImportStatus.VALIDATED, f"{job.error_code}: {job.error_message}"
    assert job.sheet_layout["missing"] == ["full_name"]
    first = job.sheet_layout["columns"][0]
    assert (first["column"], first["header"], first["field"], first["suggested"]) == ("A", "Client", None, "full_name")
    assert len(first["samples"]) == 3
    assert "no name columns" in job.sheet_layout["message"]
    with pytest.raises(ServiceError) as refused:
        import_job_commit(job=job, user=owner)
    assert refused.value.code == RefusalCode.COLUMNS_MISSING


def test_a_sheet_with_no_column_left_to_choose_is_refused_as_before(owner: User, tmp_path: Path) -> None:
    no_phone = write_xlsx(tmp_path / "no-phone.xlsx", [HEADER[:4], *(row[:4] for row in CUSTOMERS)])

    job = dry_run(owner, no_phone)

    assert (job.status, job.error_code) == (ImportStatus.FAILED, "missing_columns")
    assert "no Phone column" in job.error_message


def test_a_header_of_unknown_words_can_still_have_its_columns_chosen(owner: User, tmp_path: Path) -> None:
    sheet = write_xlsx(
        tmp_path / "own-words.xlsx",
        [
            ("Who", "Line", "Identifier"),
            ("Ama Mensah", "0241234567", "PM1 AMA"),
            ("Kofi Owusu", "0201234567", "PM2"),
        ],
    )

    job = dry_run(owner, sheet)

    assert job.status == ImportStatus.VALIDATED
    assert [c["suggested"] for c in job.sheet_layout["columns"]] == ["full_name", "phone", "shipping_mark"]


def test_choosing_the_columns_checks_the_file_again_and_remembers_them_for_that_header(
    owner: User, tmp_path: Path
) -> None:
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx", 12))

    job = import_job_choose_columns(job=job, user=owner, column_map={"A": "full_name"})
    assert job.status == ImportStatus.QUEUED and job.dry_run, "queued to be checked again, still a dry run"
    job = run(job)

    assert job.status == ImportStatus.VALIDATED
    assert (job.total_rows, job.valid_rows, job.failed_count) == (12, 12, 0)
    assert job.column_map == {"A": "full_name", "B": "phone", "C": "shipping_mark", "D": "email"}
    assert [c["matched_by"] for c in job.sheet_layout["columns"]] == ["chosen", "synonym", "synonym", "exact"]
    entry = ImportAuditEntry.objects.get(job=job)
    assert (entry.action, entry.user_name) == (AuditAction.COLUMNS_CHOSEN, "Ama Admin")
    assert entry.changes == [{"column": "A (Client)", "field": None, "before": "Ignored", "after": "Name"}]

    again = dry_run(owner, own_header_sheet(tmp_path / "more-clients.xlsx", 5))

    assert (again.status, again.valid_rows) == (ImportStatus.VALIDATED, 5), "the next sheet is read the same way"
    assert again.sheet_layout["columns"][0]["matched_by"] == "remembered"
    assert again.sheet_layout["remembered"]["confirmed_by"] == "Ama Admin"
    assert RememberedColumnMap.objects.count() == 1


def test_remembered_columns_are_shared_by_every_admin_of_the_service(owner: User, tmp_path: Path) -> None:
    colleague = User.objects.create_user("0241000012", "pw", first_name="Yaw", user_role=UserRole.ADMIN, is_staff=True)
    colleague.user_permissions.add(Permission.objects.get(codename="add_customer"))
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))
    run(import_job_choose_columns(job=job, user=owner, column_map=CHOSEN))

    theirs = dry_run(colleague, own_header_sheet(tmp_path / "theirs.xlsx"))

    assert theirs.sheet_layout["missing"] == [] and theirs.valid_rows == 12


def test_only_the_owner_chooses_columns_and_only_while_the_job_waits(owner: User, tmp_path: Path) -> None:
    colleague = User.objects.create_user("0241000012", "pw", user_role=UserRole.ADMIN, is_staff=True)
    colleague.user_permissions.add(Permission.objects.get(codename="add_customer"))
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))

    with pytest.raises(ServiceError) as not_theirs:
        import_job_choose_columns(job=job, user=colleague, column_map=CHOSEN)
    with pytest.raises(ServiceError) as bad_choice:
        import_job_choose_columns(job=job, user=owner, column_map={"A": "phone"})
    run(import_job_choose_columns(job=job, user=owner, column_map=CHOSEN))
    job.refresh_from_db()
    import_job_commit(job=job, user=owner)
    job.refresh_from_db()
    with pytest.raises(ServiceError) as committed:
        import_job_choose_columns(job=job, user=owner, column_map=CHOSEN)

    assert not_theirs.value.code == RefusalCode.PERMISSION_DENIED
    assert bad_choice.value.code == RefusalCode.INVALID_COLUMN_MAP
    assert committed.value.code == RefusalCode.NOT_VALIDATED


def test_the_job_keeps_its_layout_so_corrections_need_not_open_the_file(owner: User, tmp_path: Path) -> None:
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))
    job = run(import_job_choose_columns(job=job, user=owner, column_map=CHOSEN))

    layout = job_layout(ImportJob.objects.get(id=job.id))

    assert layout is not None and layout.header.columns[Field.FULL_NAME] == 0
    assert layout.header.label(Field.PHONE) == "Tel."


def test_the_command_line_refuses_a_sheet_whose_columns_must_be_chosen(owner: User, tmp_path: Path) -> None:
    sheet = own_header_sheet(tmp_path / "clients.xlsx")

    with pytest.raises(SystemExit) as exited:
        call_command("import_customers", str(sheet), "--dry-run", "--user", "0241000011")

    assert exited.value.code == 1


def test_a_remembered_choice_is_forgotten_by_deleting_it_in_the_admin(
    owner: User, superuser: User, tmp_path: Path, client: object
) -> None:
    job = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))
    job = run(import_job_choose_columns(job=job, user=owner, column_map=CHOSEN))
    remembered = RememberedColumnMap.objects.get()
    client.force_login(superuser)  # type: ignore[attr-defined]

    listed = client.get("/admin/users/rememberedcolumnmap/")  # type: ignore[attr-defined]
    job_page = client.get(f"/admin/users/importjob/{job.id}/change/")  # type: ignore[attr-defined]
    client.post(f"/admin/users/rememberedcolumnmap/{remembered.pk}/delete/", {"post": "yes"})  # type: ignore[attr-defined]
    again = dry_run(owner, own_header_sheet(tmp_path / "again.xlsx"))

    assert listed.status_code == 200 and "Client | Tel. | Mark | E-mail" in listed.content.decode()
    assert job_page.status_code == 200 and "Chose the columns" in job_page.content.decode(), "the trail, in the admin"
    assert again.sheet_layout["missing"] == ["full_name"], "forgotten: the next such sheet asks again"


def test_the_commit_reads_the_columns_its_check_read_even_if_the_remembered_choice_changed_meanwhile(
    owner: User, tmp_path: Path
) -> None:
    first = dry_run(owner, own_header_sheet(tmp_path / "clients.xlsx"))
    run(import_job_choose_columns(job=first, user=owner, column_map=CHOSEN))
    checked = dry_run(owner, own_header_sheet(tmp_path / "april.xlsx", 4))
    assert checked.valid_rows == 4, "checked with the remembered choice"
    RememberedColumnMap.objects.update(fields=["", "phone", "shipping_mark", "email"])  # someone forgets "Client"

    job = run(import_job_commit(job=checked, user=owner))

    assert (job.status, job.created_count) == (ImportStatus.COMPLETE, 4), f"{job.error_code}: {job.error_message}"
    assert job.sheet_layout["columns"][0]["matched_by"] == "remembered", "what the check showed is what it keeps"
