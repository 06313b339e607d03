"""Every refusal code the services raise has one HTTP status and a line in docs/api.md, so the three never drift."""

from pathlib import Path

import pytest

from users.api.errors import HTTP_STATUS_BY_CODE
from users.imports.errors import RefusalCode

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


@pytest.mark.parametrize("code", list(RefusalCode), ids=[code.value for code in RefusalCode])
def test_every_refusal_code_has_an_http_status_and_is_documented(code: RefusalCode) -> None:
    assert code in HTTP_STATUS_BY_CODE, f"give {code.value!r} its status in users/api/errors.py"
    errors_table = API_DOC.read_text().split("## Errors", 1)[1]
    assert f"`{code.value}`" in errors_table, f"docs/api.md's Errors table should name {code.value!r}"
