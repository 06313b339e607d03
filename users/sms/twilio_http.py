"""Twilio's own HTTP client, able to talk to another base URL (settings.TWILIO_API_BASE_URL).

Imported only when a text is sent through Twilio (it imports twilio). The tests
point it at a stub server on 127.0.0.1 that speaks the Messages API, so the real
twilio library is exercised end to end without the network or mocks; in
production the setting is empty and requests go to Twilio unchanged.
"""

from urllib.parse import urlsplit, urlunsplit

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response


class RebasedTwilioHttpClient(TwilioHttpClient):
    """TwilioHttpClient that swaps the scheme and host of every URL for `base_url`'s, when one is given."""

    def __init__(self, *, base_url: str = "", timeout: float | None = None) -> None:
        # No transport-level retries: users.sms.services decides what to retry, and when.
        super().__init__(pool_connections=True, timeout=timeout)
        base = urlsplit(base_url) if base_url else None
        if base is not None and not (base.scheme and base.netloc):
            raise ValueError(f"TWILIO_API_BASE_URL must look like https://host[:port], got {base_url!r}")
        self._base = base

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        if self._base is not None:
            parts = urlsplit(url)
            path = self._base.path.rstrip("/") + parts.path
            url = urlunsplit((self._base.scheme, self._base.netloc, path, parts.query, parts.fragment))
        return super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
