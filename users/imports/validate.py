"""Validate stage: one source row in; a normalised `Candidate`, or every problem in the row, out.

The pipeline calls `RowValidator.validate` once per row of files up to 1,048,575
rows, so the per-file work (where each field lives, its header label) happens
once in `__init__`, and the normalisers take fast paths for the common forms
(see `users.customers.normalise`). A row with several bad cells gets one
problem per cell, so the admin fixes it in one go.
"""

from django.conf import settings

from users.customers.normalise import (
    InvalidValue,
    clean_text,
    normalise_email,
    normalise_name,
    normalise_phone,
    normalise_region,
    normalise_shipping_mark,
    split_full_name,
)
from users.imports.rows import TEMPLATE_COLUMNS, Candidate, Field, HeaderMap, RowProblem, SourceRow

# A problem's `value` repeats the cell; a 32,767-character cell is cut to this (`raw` keeps it whole).
VALUE_MAX_LENGTH = 500

# Positions in the per-row lists: the template's column order (TEMPLATE_COLUMNS).
_MARK, _FIRST, _LAST, _EMAIL, _PHONE, _REGION = range(6)
_TEMPLATE_LABELS = tuple(label for _field, label in TEMPLATE_COLUMNS)


class RowValidator:
    """Checks the rows of one sheet against its header map.

    A sheet with a single name column (`Field.FULL_NAME`) and no first-name
    column has each name split into first and last.
    """

    def __init__(self, header: HeaderMap, *, default_phone_region: str | None = None) -> None:
        # Read here, not as a default argument, so a changed setting (and override_settings) applies.
        self.default_phone_region = default_phone_region or settings.IMPORT_DEFAULT_PHONE_REGION
        columns = header.columns
        self.split_names = Field.FIRST_NAME not in columns and Field.FULL_NAME in columns
        fields = (
            Field.SHIPPING_MARK,
            Field.FULL_NAME if self.split_names else Field.FIRST_NAME,
            Field.LAST_NAME,
            Field.EMAIL,
            Field.PHONE,
            Field.REGION,
        )
        # The sheet's column for each position (None when it has none; the name's last part
        # when names are split), and the header text a problem names.
        self._indices = tuple(
            None if (position == _LAST and self.split_names) else columns.get(field_)
            for position, field_ in enumerate(fields)
        )
        self._labels = tuple(header.label(field_) for field_ in fields)
        self._mapped = tuple(index for index in self._indices if index is not None)

    def validate(self, row: SourceRow) -> Candidate | list[RowProblem] | None:
        """None for an empty row, a Candidate for a good one, otherwise one RowProblem per bad cell."""
        cells = row.cells
        width = len(cells)
        values = [cells[index] if index is not None and index < width else None for index in self._indices]
        texts = [clean_text(value) for value in values]
        if not any(texts):
            return None

        failures: list[tuple[int, InvalidValue]] = []
        mark = first = last = email = phone = region = ""
        try:
            mark = normalise_shipping_mark(values[_MARK], text=texts[_MARK])
        except InvalidValue as invalid:
            failures.append((_MARK, invalid))
        if self.split_names:
            try:
                first, last = split_full_name(values[_FIRST], text=texts[_FIRST])
            except InvalidValue as invalid:
                failures.append((_FIRST, invalid))
            else:
                texts[_FIRST], texts[_LAST] = first, last  # the template's layout has two name columns
        else:
            try:
                first = normalise_name(values[_FIRST], field_label="first name", text=texts[_FIRST])
            except InvalidValue as invalid:
                failures.append((_FIRST, invalid))
            try:
                last = normalise_name(values[_LAST], field_label="last name", text=texts[_LAST])
            except InvalidValue as invalid:
                failures.append((_LAST, invalid))
        try:
            email = normalise_email(values[_EMAIL], text=texts[_EMAIL])
        except InvalidValue as invalid:
            failures.append((_EMAIL, invalid))
        try:
            phone = normalise_phone(values[_PHONE], default_region=self.default_phone_region, text=texts[_PHONE])
        except InvalidValue as invalid:
            failures.append((_PHONE, invalid))
        try:
            region = normalise_region(values[_REGION], text=texts[_REGION]).value
        except InvalidValue as invalid:
            failures.append((_REGION, invalid))

        raw = _template_layout(texts)
        if failures:
            return [
                RowProblem(
                    row_number=row.number,
                    column=self._labels[position],
                    value=_shorten(texts[position]),
                    code=invalid.code,
                    reason=invalid.reason,
                    raw=raw,
                )
                for position, invalid in failures
            ]
        return Candidate(
            row_number=row.number,
            shipping_mark=mark,
            first_name=first,
            last_name=last,
            email=email,
            phone=phone,
            region=region,
            raw=raw,
        )


def _template_layout(texts: list[str]) -> dict[str, str]:
    """The row as the template lays it out, so a rejected row can be fixed and uploaded again."""
    return dict(zip(_TEMPLATE_LABELS, texts, strict=True))


def _shorten(text: str) -> str:
    if len(text) <= VALUE_MAX_LENGTH:
        return text
    return f"{text[:VALUE_MAX_LENGTH]}… ({len(text):,} characters)"
