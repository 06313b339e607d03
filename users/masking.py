"""Personal data made fit for a log line: enough to tell two customers apart, not enough to reach them.

Render keeps the log stream outside our database and its access rules, so a
phone number or email address never appears there whole: ops see
`+23324•••4567` and `k•••@example.com`, which still match a support ticket.
"""

import re

MASK = "•••"


def mask_phone(phone: str) -> str:
    """`+233241234567` → `+23324•••4567`: the country and network prefix and the last four digits."""
    phone = phone.strip()
    head = min(6, len(phone) - 4 - 3)  # at least three characters are always hidden
    if head < 1:
        return MASK + phone[-2:] if len(phone) > 4 else MASK
    return phone[:head] + MASK + phone[-4:]


def mask_email(email: str) -> str:
    """`kofi.mensah@example.com` → `k•••@example.com`: the first letter and the domain."""
    local, at, domain = email.strip().rpartition("@")
    if not at:
        return MASK
    return f"{local[:1]}{MASK}@{domain}"


# An email address: anything around an '@' up to a space, a quote or a bracket.
_EMAIL_IN_TEXT = r"[^\s'\"<>()\[\],;:]*@[^\s'\"<>()\[\],;:]*"
# A phone number as people type it: seven digits or more, with spaces, dashes, dots,
# slashes or brackets between them. Seven, because a number cut short is still most
# of someone's number; a row number, a count or a date that long is masked too,
# which costs a log reader little.
_PHONE_IN_TEXT = r"\+?\d(?:[\s\-./()]{0,3}\d){6,}"
_PERSONAL_DATA = re.compile(f"(?P<email>{_EMAIL_IN_TEXT})|(?P<phone>{_PHONE_IN_TEXT})")
_NOT_A_DIGIT = re.compile(r"[^\d+]")


def mask_personal_data(text: str) -> str:
    """Free text (a rejected cell's reason, a file name, a text message) with every email and phone masked.

    For text that may quote what a customer's row held, in any column: the cell
    that should have been a name may hold a phone number.
    """
    return _PERSONAL_DATA.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    found = match[0]
    if match["email"] is not None:
        return found if found == "@" else mask_email(found)
    return mask_phone(_NOT_A_DIGIT.sub("", found))
