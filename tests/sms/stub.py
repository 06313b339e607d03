"""A local stand-in for Twilio's Messages API: a real HTTP server on 127.0.0.1, in a thread.

It answers `POST /2010-04-01/Accounts/{sid}/Messages.json` the way Twilio does
(201 with a message SID, or Twilio's JSON error bodies), checks HTTP basic auth,
and records every request. Replies are scripted per 'To' number — "429 then
201", "400 with code 21211" ... — and anything unscripted is accepted. The real
twilio Client reaches it through TWILIO_API_BASE_URL, so nothing of twilio's is
mocked.
"""

import base64
import json
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

MESSAGES_PATH = re.compile(r"^/2010-04-01/Accounts/(?P<sid>AC[0-9a-zA-Z]+)/Messages\.json$")


@dataclass(frozen=True)
class Reply:
    status: int
    code: int | None = None
    message: str = ""
    delay: float = 0.0


def created(*, delay: float = 0.0) -> Reply:
    return Reply(201, delay=delay)


def rate_limited() -> Reply:
    return Reply(429, 20429, "Too Many Requests")


def server_error() -> Reply:
    return Reply(500, 20500, "Internal Server Error")


def invalid_number(to: str) -> Reply:
    return Reply(400, 21211, f"The 'To' number {to} is not a valid phone number.")


def not_mobile(to: str) -> Reply:
    return Reply(400, 21614, f"'To' number {to} is not a valid mobile number")


def too_slow(seconds: float) -> Reply:
    """Accepted, but only after `seconds`: longer than the client's timeout, it is a timeout."""
    return Reply(201, delay=seconds)


@dataclass(frozen=True)
class ReceivedRequest:
    account_sid: str
    username: str
    password: str
    to: str
    from_: str
    body: str
    at: float


@dataclass
class TwilioStub:
    account_sid: str
    auth_token: str
    received: list[ReceivedRequest] = field(default_factory=list)
    scripts: dict[str, deque[Reply]] = field(default_factory=lambda: defaultdict(deque))
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def script(self, to: str, *replies: Reply) -> None:
        """The replies for the next requests to `to`, in order; then 201s."""
        with self.lock:
            self.scripts[to].extend(replies)

    def requests_to(self, to: str) -> list[ReceivedRequest]:
        with self.lock:
            return [request for request in self.received if request.to == to]

    def _next_reply(self, to: str) -> Reply:
        with self.lock:
            queue = self.scripts.get(to)
            return queue.popleft() if queue else created()

    def start(self) -> "TwilioStub":
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                match = MESSAGES_PATH.match(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                form = {key: values[0] for key, values in parse_qs(self.rfile.read(length).decode()).items()}
                if match is None:
                    self._answer(404, _error(404, 20404, "The requested resource was not found"))
                    return
                username, password = _basic_auth(self.headers.get("Authorization", ""))
                request = ReceivedRequest(
                    account_sid=match["sid"],
                    username=username,
                    password=password,
                    to=form.get("To", ""),
                    from_=form.get("From", ""),
                    body=form.get("Body", ""),
                    at=time.monotonic(),
                )
                with stub.lock:
                    stub.received.append(request)
                if (username, password) != (stub.account_sid, stub.auth_token) or match["sid"] != stub.account_sid:
                    self._answer(401, _error(401, 20003, "Authenticate"))
                    return
                reply = stub._next_reply(request.to)
                if reply.delay:
                    time.sleep(reply.delay)
                if reply.status == 201:
                    self._answer(201, _message(request))
                else:
                    self._answer(reply.status, _error(reply.status, reply.code, reply.message))

            def _answer(self, status: int, payload: dict) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and went away, as a timeout test intends

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="twilio-stub", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


def _basic_auth(header: str) -> tuple[str, str]:
    if not header.startswith("Basic "):
        return "", ""
    username, _, password = base64.b64decode(header[6:]).decode().partition(":")
    return username, password


def _error(status: int, code: int | None, message: str) -> dict:
    # Twilio's legacy error body, which twilio-python turns into TwilioRestException.
    return {
        "code": code,
        "message": message,
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }


def _message(request: ReceivedRequest) -> dict:
    sid = "SM" + uuid.uuid4().hex
    now = formatdate(usegmt=True)
    return {
        "account_sid": request.account_sid,
        "api_version": "2010-04-01",
        "body": request.body,
        "date_created": now,
        "date_sent": None,
        "date_updated": now,
        "direction": "outbound-api",
        "error_code": None,
        "error_message": None,
        "from": request.from_,
        "messaging_service_sid": None,
        "num_media": "0",
        "num_segments": "1",
        "price": None,
        "price_unit": "USD",
        "sid": sid,
        "status": "queued",
        "subresource_uris": {},
        "to": request.to,
        "uri": f"/2010-04-01/Accounts/{request.account_sid}/Messages/{sid}.json",
    }
