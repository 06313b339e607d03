"""The JSON parser every API view uses: it bounds what a body may build before json.loads builds it.

users/api/limits.py bounds a body's bytes; this bounds its shape. Python's
objects are far larger than the JSON that describes them: measured with
json.loads, 8 MB of `[[],[],…]` or `[{},{},…]` builds 210 MB, of `["ab",…]`
133 MB, of `[1e1,…]` 88 MB. So before parsing, one pass over the text counts
the arrays and objects it opens, the commas and colons between its values,
and its strings, and refuses (400, `json_too_complex`) a body that would build
more than the largest legitimate one: IMPORT_MAX_CUSTOMERS_PER_REQUEST
customers as the upload dialog posts them, one object of nine keys each. The
pass stops at the first count over its budget and keeps nothing, so it costs
at most a few tenths of a second and no memory to speak of. What the strings
hold is bounded by the byte limit.

Nesting deeper than Python's recursion limit is a 400 too, not a RecursionError and a 500.
"""

import re
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser, get_encoding
from rest_framework.utils import json

# A customer as the dialog posts it is one object; the list and the envelope around them add two.
# Twice that leaves room for clients that wrap each customer once more.
CONTAINERS_PER_CUSTOMER = 2
# A customer's nine keys take 9 colons and 9 commas (measured: 176,274 for 9,793 customers). 32 leaves
# room for a few more keys per customer, and what 32 small values cost is small.
SEPARATORS_PER_CUSTOMER = 32
# The rest of a body: `send_sms` and whatever else a client adds around the list.
ENVELOPE_ALLOWANCE = 64
ADVICE = "Send fewer customers per request, or upload the spreadsheet to the job API (POST /api/imports/)."

# The tokens that cost memory once parsed: a string (escapes included), the opening of an array or an
# object, a comma or a colon. Numbers and literals sit between separators, so counting those bounds them.
# A string left open at the end of the text (or ending in a lone backslash) still matches, so the search
# never restarts inside one: without that, text like `"\"\"\"…` would take quadratic time. Possessive
# quantifiers keep each match linear.
_TOKEN = re.compile(r'"(?:[^"\\]++|\\.)*+(?:"|\\?\Z)|[\[{,:]', re.DOTALL)


class JSONTooComplexError(ParseError):
    default_code = "json_too_complex"


def json_shape_budget() -> tuple[int, int]:
    """The most arrays and objects, and the most commas and colons, one JSON body may hold."""
    customers = settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST
    return (
        CONTAINERS_PER_CUSTOMER * customers + ENVELOPE_ALLOWANCE,
        SEPARATORS_PER_CUSTOMER * customers + ENVELOPE_ALLOWANCE,
    )


def json_shape_check(text: str) -> None:
    """Refuse text that would build more arrays, objects, values or strings than the budget allows.

    The counts are an upper bound on what json.loads builds: in valid JSON the
    pattern reads exactly the strings the parser reads, and invalid JSON stops
    the parser at its first error, before anything the two read differently. A
    valid text has at most one string more than its separators and containers
    together, so more strings than that budget is refused too.
    """
    max_containers, max_separators = json_shape_budget()
    max_strings = max_containers + max_separators + 1
    containers = separators = strings = 0
    for token in _TOKEN.finditer(text):
        first = text[token.start()]
        if first == '"':
            strings += 1
            if strings > max_strings:
                break
        elif first in "[{":
            containers += 1
            if containers > max_containers:
                break
        else:
            separators += 1
            if separators > max_separators:
                break
    else:
        return
    customers = settings.IMPORT_MAX_CUSTOMERS_PER_REQUEST
    if containers > max_containers:
        raise JSONTooComplexError(
            f"The JSON body opens more than {max_containers:,} arrays and objects, the most accepted "
            f"(enough for {customers:,} customers). {ADVICE}"
        )
    raise JSONTooComplexError(
        f"The JSON body holds more than {max_separators:,} values and keys, the most accepted "
        f"(enough for {customers:,} customers of {SEPARATORS_PER_CUSTOMER // 2} fields). {ADVICE}"
    )


class SafeJSONParser(JSONParser):
    """DRF's JSONParser, with the shape checked before parsing and deep nesting a 400."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        encoding = get_encoding(parser_context or {})
        try:
            # DRF hands over request.body, already held to its limit by users/api/limits.py.
            text = stream.read().decode(encoding) if stream is not None else ""
        except ValueError as exc:  # UnicodeDecodeError
            raise ParseError(f"JSON parse error - {exc}") from None
        json_shape_check(text)
        try:
            return json.loads(text, parse_constant=json.strict_constant if self.strict else None)
        except RecursionError:
            raise ParseError("JSON parse error - the body is nested too deeply.") from None
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
