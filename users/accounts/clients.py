"""The address a request came from, as the sign-in defences count it.

Behind proxies, REMOTE_ADDR is the last proxy's address and the client is in
X-Forwarded-For, which each proxy appends to. Only the entries the trusted
proxies wrote can be believed: anything further left is whatever the client
chose to send. So the client is the TRUSTED_PROXY_COUNT-th address from the
right, exactly as DRF's NUM_PROXIES reads it, and with no trusted proxy the
header is ignored altogether.
"""

import ipaddress

from django.conf import settings
from django.http import HttpRequest
from rest_framework.request import Request


def client_ip(request: HttpRequest | Request) -> str | None:
    """The client's IP address, or None when the request names none that is valid.

    A value that isn't an IP address is never passed on: axes stores the
    address in a GenericIPAddressField, which PostgreSQL would refuse.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    candidate = remote
    if proxies > 0 and forwarded:
        addresses = [address.strip() for address in forwarded.split(",")]
        candidate = addresses[-min(proxies, len(addresses))]
    return _valid_ip(candidate) or _valid_ip(remote)


def _valid_ip(text: str) -> str | None:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None
