"""Personal data made fit for a log line: enough to tell two customers apart, not enough to reach them.

Render keeps the log stream outside our database and its access rules, so a
phone number or email address never appears there whole: ops see
`+23324•••4567` and `k•••@example.com`, which still match a support ticket.
"""

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
