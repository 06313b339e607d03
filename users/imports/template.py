"""The customer upload template: the six columns the importer expects, sample rows and an Instructions sheet.

Built on request (a few milliseconds, ~8 KB) rather than shipped as a file, so
its columns, region list and limits always match the code and the settings.
"""

from typing import BinaryIO

from django.conf import settings

from users.customers.normalise import MARK_MAX_LENGTH, MARK_MIN_LENGTH, NAME_MAX_LENGTH
from users.imports.rows import TEMPLATE_COLUMNS, Field
from users.models import Region

TEMPLATE_FILENAME = "customer_upload_template.xlsx"
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DATA_SHEET_TITLE = "Customers"
INSTRUCTIONS_SHEET_TITLE = "Instructions"

# Valid rows, so a template uploaded as it is shows what success looks like; their marks say what they are.
SAMPLE_ROWS: tuple[dict[Field, str], ...] = (
    {
        Field.SHIPPING_MARK: "PM SAMPLE 1",
        Field.FIRST_NAME: "Kwame",
        Field.LAST_NAME: "Mensah",
        Field.EMAIL: "kwame.mensah@example.com",
        Field.PHONE: "0241234567",
        Field.REGION: "Greater Accra",
    },
    {
        Field.SHIPPING_MARK: "PM SAMPLE 2",
        Field.FIRST_NAME: "Ama",
        Field.LAST_NAME: "Serwaa",
        Field.EMAIL: "",
        Field.PHONE: "+233 55 123 4567",
        Field.REGION: "Ashanti",
    },
    {
        Field.SHIPPING_MARK: "PM SAMPLE 3",
        Field.FIRST_NAME: "Kofi",
        Field.LAST_NAME: "Boateng",
        Field.EMAIL: "kofi.boateng@example.com",
        Field.PHONE: "0201234567",
        Field.REGION: "",
    },
)
REQUIRED_FIELDS = frozenset({Field.SHIPPING_MARK, Field.FIRST_NAME, Field.LAST_NAME, Field.PHONE})
COLUMN_WIDTHS: dict[Field, int] = {
    Field.SHIPPING_MARK: 18,
    Field.FIRST_NAME: 16,
    Field.LAST_NAME: 16,
    Field.EMAIL: 30,
    Field.PHONE: 18,
    Field.REGION: 18,
}
# Rows that get the Region drop-down (the upload dialog's limit is 10,000 rows).
FORMATTED_ROWS = 10_000


def _instructions() -> list[tuple[str, str]]:
    """(heading, text) lines of the Instructions sheet; a heading alone starts a section."""
    region_names = ", ".join(str(label) for label in Region.labels)
    inline_rows = settings.IMPORT_INLINE_MAX_ROWS
    upload_mb = settings.IMPORT_MAX_UPLOAD_SIZE // (1024 * 1024)
    return [
        ("How to fill in this template", ""),
        ("", "Keep the header row. Type one customer per row, starting on row 2 of the Customers sheet."),
        ("", "Delete the three sample rows (marks PM SAMPLE 1–3) before uploading, or they become customers."),
        ("", "Columns may be in any order; extra columns are ignored and reported."),
        ("Columns", ""),
        (
            "Shipping Mark (required)",
            f"{MARK_MIN_LENGTH}–{MARK_MAX_LENGTH} characters: letters, digits, spaces, '-' and '_'. "
            "Stored in capitals; unique across all customers ('pm4 sample' and 'PM4 SAMPLE' are the same mark).",
        ),
        ("First Name (required)", f"At most {NAME_MAX_LENGTH} characters."),
        ("Last Name (required)", f"At most {NAME_MAX_LENGTH} characters."),
        ("Email (optional)", "A valid address; unique across customers when given."),
        (
            "Phone Number (required)",
            "A Ghana number (0241234567, 024 123 4567) or an international one with its country code "
            "(+233241234567). Unique across customers. The column is formatted as text so Excel keeps "
            "the leading 0.",
        ),
        ("Region (optional)", f"One of Ghana's 16 regions: {region_names}. Empty means Greater Accra."),
        ("Limits", ""),
        (
            "",
            f"Files up to {upload_mb} MB. The upload dialog checks up to {inline_rows:,} rows while you wait; "
            "larger files go through the import page, which runs them in the background.",
        ),
        ("", "Rows that match an existing customer (same mark, phone or email) are reported and skipped."),
        ("", "Rows with problems are listed with the reason; fix them and upload those rows again."),
    ]


def customer_template_xlsx(*, out: BinaryIO) -> None:
    """Write the upload template (.xlsx) to `out`."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    workbook = Workbook()
    sheet = workbook.active
    sheet.title = DATA_SHEET_TITLE
    header_font = Font(bold=True, color="FFFFFF")
    header_fill = PatternFill("solid", fgColor="1F4E78")
    required_fill = PatternFill("solid", fgColor="C00000")

    letters: dict[Field, str] = {}
    for index, (field_, label) in enumerate(TEMPLATE_COLUMNS, start=1):
        letter = get_column_letter(index)
        letters[field_] = letter
        cell = sheet.cell(row=1, column=index, value=label)
        cell.font = header_font
        cell.fill = required_fill if field_ in REQUIRED_FIELDS else header_fill
        cell.alignment = Alignment(horizontal="center")
        sheet.column_dimensions[letter].width = COLUMN_WIDTHS[field_]

    for row_number, sample in enumerate(SAMPLE_ROWS, start=2):
        for index, (field_, _label) in enumerate(TEMPLATE_COLUMNS, start=1):
            value = sample[field_] or None
            cell = sheet.cell(row=row_number, column=index, value=value)
            if field_ is Field.PHONE:
                cell.number_format = "@"

    # Text format for the whole column, so a typed 0241234567 keeps its 0 instead of becoming the number
    # 241234567. A column style, not 10,000 formatted empty cells, which readers would count as rows.
    sheet.column_dimensions[letters[Field.PHONE]].number_format = "@"

    regions = DataValidation(
        type="list",
        formula1='"{}"'.format(",".join(str(label) for label in Region.labels)),
        allow_blank=True,
        showErrorMessage=True,
        errorTitle="Unknown region",
        error="Choose one of Ghana's 16 regions from the list, or leave the cell empty for Greater Accra.",
    )
    region = letters[Field.REGION]
    regions.add(f"{region}2:{region}{FORMATTED_ROWS + 1}")
    sheet.add_data_validation(regions)
    sheet.freeze_panes = "A2"

    instructions = workbook.create_sheet(INSTRUCTIONS_SHEET_TITLE)
    instructions.column_dimensions["A"].width = 26
    instructions.column_dimensions["B"].width = 110
    for row_number, (heading, text) in enumerate(_instructions(), start=1):
        instructions.cell(row=row_number, column=1, value=heading or None).font = Font(bold=bool(heading))
        instructions.cell(row=row_number, column=2, value=text or None).alignment = Alignment(wrap_text=True)

    workbook.properties.title = "Primepre customer upload template"
    workbook.save(out)
