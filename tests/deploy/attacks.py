"""Hostile requests against the body limits, sent over real HTTP, and the serving worker's peak memory.

tests/deploy/test_request_memory.py asserts on them; bench/attack_memory.py prints them as a table.
Each is the worst shape found for one family of endpoint at its limit (users/api/limits.py,
users/api/parsers.py): what Python inflates most (empty lists and objects, floats, tiny strings,
strings with one character outside the BMP, which makes CPython store every character in 4 bytes),
and what the framing can lie about (no length, a length shorter than the body, huge headers).

Requests go through a raw socket, so a test decides the framing and the headers byte for byte. A
large body waits a moment after its headers, as curl does, then streams and stops at the first byte of
an answer: a request the server refuses from its headers alone gets that answer before its body is
sent, where it would otherwise be lost to the reset of a connection closed with unread data.

The worker's peak is VmHWM from /proc/<pid>/status, which only ever grows. Where the kernel allows it
(Linux 4.0+, the same user), `run(..., resets=True)` first writes 5 to /proc/<pid>/clear_refs, which
restarts it from the current RSS, so a row is that request's own peak on top of what the worker holds.
"""

import json
import secrets
import select
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import jwt

KB = 1024
MB = 1024 * KB
ORIGIN = "https://app.primepre.test"
LOGIN = "/api/auth/login/"
BULK_CREATE = "/api/auth/customers/excel/bulk-create/"
BULK_CREATE_ASYNC = "/api/auth/customers/excel/bulk-create-async/"
UPLOAD = "/api/auth/customers/excel/upload/"
JOBS = "/api/imports/"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# The defaults the attacks are sized against (primepre/settings.py): each attack sits at one of them.
SIGN_IN_LIMIT = 4 * KB
ADMIN_LIMIT = 64 * KB
JSON_LIMIT = 6 * MB
UPLOAD_LIMIT = 50 * MB
CUSTOMERS = 10_000
# What the JSON shape check lets through per customer (users/api/parsers.py): 16 keys and values.
KEYS_PER_CUSTOMER = 16


@dataclass(frozen=True)
class Attack:
    """One request: what it is, where it goes, how it is framed, and the answers that mean it was handled."""

    shape: str
    family: str
    path: str
    body: Callable[[], bytes]
    expect: tuple[int, ...]
    content_type: str = "application/json"
    credentials: str = "none"  # "none", "importer", "forged" or "expired" (a bearer token)
    framing: str = "length"  # "length", "chunked", or "lying" (declares `declared` bytes, sends the whole body)
    declared: int = 0
    headers: tuple[tuple[str, str], ...] = ()
    slow: bool = False  # writes thousands of rows: the benchmark runs it, the test leaves it out


@dataclass(frozen=True)
class Outcome:
    attack: Attack
    status: int | None  # None: the connection was reset before an answer arrived
    message: str
    body_bytes: int
    peak_rss_mb: float
    rss_after_mb: float  # what the worker kept once it had answered
    seconds: float
    cors: bool  # the answer carried Access-Control-Allow-Origin


# --- bodies -------------------------------------------------------------------------------------------------


def repeated(head: bytes, unit: bytes, tail: bytes, size: int) -> bytes:
    """head + unit, unit, … + tail, as close to `size` bytes as whole units allow (units joined by commas)."""
    count = max(1, (size - len(head) - len(tail) + 1) // (len(unit) + 1))
    return head + b",".join([unit] * count) + tail


def customer(n: int, *, pad: int = 0, astral: bool = False) -> dict[str, object]:
    """A customer as the upload dialog posts it (users/api/excel.py CandidateSerializer), optionally padded.

    With `pad`, the names and phones become `pad` characters of text and seven more keys of it ride along
    (the dialog sends nine keys; the shape check allows sixteen): no phone is valid, so every row fails and
    is echoed back in the answer. `astral` puts one emoji in each long value: CPython then stores all its
    characters in 4 bytes.
    """
    row: dict[str, object] = {
        "source_row_number": n + 1,
        "shipping_mark": f"PM {n:05d}",
        "shipping_mark_normalized": f"PM {n:05d}",
        "first_name": f"First{n}",
        "last_name": f"Last{n}",
        "email": f"customer{n}@example.com",
        "phone": f"024{n:07d}",
        "phone_normalized": f"+23324{n:07d}",
        "region": "GREATER_ACCRA",
    }
    if pad:
        text = ("\U0001f600" if astral else "") + "x" * pad
        row["first_name"] = row["last_name"] = row["phone"] = row["phone_normalized"] = text
        row.update({f"extra_{k}": text for k in range(KEYS_PER_CUSTOMER - len(row))})
    return row


def customers_body(count: int, *, size: int = 0, astral: bool = False, first: int = 0) -> bytes:
    """`{"customers": [...]}` of `count` customers, as JSON.stringify writes it; padded to about `size` bytes."""

    def encoded(rows: object) -> bytes:
        return json.dumps(rows, separators=(",", ":"), ensure_ascii=False).encode()

    pad = 0
    if size:
        plain = len(encoded(customer(first, pad=1, astral=astral)))
        per_character = (len(encoded(customer(first, pad=101, astral=astral))) - plain) / 100
        pad = max(int((size / count - plain - 1) / per_character), 1)
    return encoded({"customers": [customer(first + n, pad=pad, astral=astral) for n in range(count)]})


def multipart(fields: list[tuple[str, bytes]], files: list[tuple[str, str, bytes]], boundary: str) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + value + b"\r\n"
        for name, value in fields
    ]
    parts += [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
        f"Content-Type: {XLSX}\r\n\r\n".encode()
        + content
        + b"\r\n"
        for name, filename, content in files
    ]
    return b"".join(parts) + f"--{boundary}--\r\n".encode()


BOUNDARY = "----primepre-attack-" + "0" * 16
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
# With a CSRF cookie, Django's CSRF check reads the posted form to find the token: the form is parsed.
CSRF_COOKIE = ("Cookie", "csrftoken=" + "a" * 32)


def form_fields(size: int) -> bytes:
    """`size` bytes of the smallest form fields: one per 4 bytes."""
    return repeated(b"", b"a=1", b"", size).replace(b",", b"&")


def xlsx_rows(path: Path, rows: int) -> bytes:
    """A real spreadsheet of `rows` valid customers (bench/generate.py), as the dialog uploads it."""
    from bench.generate import generate_customers_xlsx

    return generate_customers_xlsx(path, rows, seed=3, error_rate=0.0).read_bytes()


# --- the catalogue --------------------------------------------------------------------------------------------


def attacks(workdir: Path) -> list[Attack]:
    """Every shape, at each family's limit. The first is the original incident."""
    junk_47mb = lambda: repeated(b'{"phone":[', b"[]", b"]}", 47 * MB)  # noqa: E731 - shared by three rows
    return [
        # Anonymous: the sign-in endpoints, and every endpoint not listed for large bodies (4 KB).
        Attack("47 MB of [[],[],…] in phone", "anonymous sign-in", LOGIN, junk_47mb, (413,)),
        Attack("the same, chunked (no length)", "anonymous sign-in", LOGIN, junk_47mb, (411,), framing="chunked"),
        Attack(
            "claims 4 KB, sends 47 MB", "anonymous sign-in", LOGIN, junk_47mb, (400,), framing="lying", declared=4 * KB
        ),
        Attack(
            "4 KB of [[],[],…]", "anonymous sign-in", LOGIN, lambda: repeated(b"[", b"[]", b"]", SIGN_IN_LIMIT), (400,)
        ),
        Attack("4 KB of [[[[… (deep)", "anonymous sign-in", LOGIN, lambda: b"[" * SIGN_IN_LIMIT, (400,)),
        Attack(
            "90 headers of 8 KB (cookies)",
            "anonymous sign-in",
            LOGIN,
            lambda: b"{}",
            (400,),
            headers=tuple((f"X-Filler-{n}", "a" * 8000) for n in range(89)) + (("Cookie", "c=" + "b" * 8000),),
        ),
        Attack(
            "one 64 KB header",
            "anonymous sign-in",
            LOGIN,
            lambda: b"{}",
            (400, 431),
            headers=(("Cookie", "c" * 65536),),
        ),
        Attack(
            "47 MB form",
            "session sign-in page",
            "/accounts/login/",
            lambda: form_fields(47 * MB),
            (413,),
            content_type="application/x-www-form-urlencoded",
        ),
        Attack(
            "64 KB form of 16,000 fields",
            "admin",
            "/admin/login/",
            lambda: form_fields(ADMIN_LIMIT),
            (400,),
            content_type="application/x-www-form-urlencoded",
            headers=(CSRF_COOKIE,),
        ),
        Attack(
            "64 KB multipart of 1,250 parts",
            "admin",
            "/admin/login/",
            lambda: multipart([("a", b"")] * 1250, [], "b"),
            (400,),
            content_type="multipart/form-data; boundary=b",
            headers=(CSRF_COOKIE,),
        ),
        # Not an importer: a forged or expired token earns nothing; the body is never read.
        Attack(
            "6 MB of [[],[],…], forged token",
            "not an importer",
            BULK_CREATE,
            lambda: repeated(b"[", b"[]", b"]", JSON_LIMIT),
            (401,),
            credentials="forged",
        ),
        Attack(
            "50 MB upload, expired token",
            "not an importer",
            UPLOAD,
            lambda: multipart([], [("file", "c.xlsx", secrets.token_bytes(UPLOAD_LIMIT))], BOUNDARY),
            (401,),
            content_type=MULTIPART,
            credentials="expired",
        ),
        # An importer's JSON: bulk-create (8 MB).
        Attack(
            "6 MB of [[],[],…]",
            "importer JSON",
            BULK_CREATE,
            lambda: repeated(b"[", b"[]", b"]", JSON_LIMIT),
            (400,),
            credentials="importer",
        ),
        Attack(
            "6 MB of [{},{},…] as customers",
            "importer JSON",
            BULK_CREATE,
            lambda: repeated(b'{"customers":[', b"{}", b"]}", JSON_LIMIT),
            (400,),
            credentials="importer",
        ),
        Attack(
            "6 MB of [1e1,1e1,…]",
            "importer JSON",
            BULK_CREATE,
            lambda: repeated(b"[", b"1e1", b"]", JSON_LIMIT),
            (400,),
            credentials="importer",
        ),
        Attack(
            '6 MB of ["ab","ab",…]',
            "importer JSON",
            BULK_CREATE,
            lambda: repeated(b"[", b'"ab"', b"]", JSON_LIMIT),
            (400,),
            credentials="importer",
        ),
        Attack(
            "6 MB string with one emoji",
            "importer JSON",
            BULK_CREATE,
            lambda: b'{"customers":"\xf0\x9f\x98\x80' + b"x" * (JSON_LIMIT - 20) + b'"}',
            (400,),
            credentials="importer",
        ),
        Attack(
            "6 MB of [[[[… (deep)",
            "importer JSON",
            BULK_CREATE,
            lambda: b"[" * JSON_LIMIT,
            (400,),
            credentials="importer",
        ),
        Attack(
            "claims 6 MB + 1",
            "importer JSON",
            BULK_CREATE,
            lambda: b"{}",
            (413,),
            credentials="importer",
            framing="lying",
            declared=JSON_LIMIT + 1,
        ),
        Attack(
            "10,000 customers × 16 long keys, all rejected",
            "importer JSON",
            BULK_CREATE,
            lambda: customers_body(CUSTOMERS, size=JSON_LIMIT - 64 * KB),
            (400,),
            credentials="importer",
        ),
        Attack(
            "the same, each value with an emoji",
            "importer JSON",
            BULK_CREATE,
            lambda: customers_body(CUSTOMERS, size=JSON_LIMIT - 64 * KB, astral=True),
            (400,),
            credentials="importer",
        ),
        Attack(
            "10,000 customers × 16 long keys, queued",
            "importer JSON",
            BULK_CREATE_ASYNC,
            lambda: customers_body(CUSTOMERS, size=JSON_LIMIT - 64 * KB, astral=True),
            (202,),
            credentials="importer",
        ),
        Attack(
            "10,000 real customers, created",
            "importer JSON",
            BULK_CREATE,
            lambda: customers_body(CUSTOMERS, first=100_000),
            (201,),
            credentials="importer",
            slow=True,
        ),
        # An importer's multipart: the upload preview and the job API (50 MB + 64 KB).
        Attack(
            "50 MB of random bytes as .xlsx",
            "importer upload",
            UPLOAD,
            lambda: multipart([], [("file", "c.xlsx", secrets.token_bytes(UPLOAD_LIMIT))], BOUNDARY),
            (400,),
            content_type=MULTIPART,
            credentials="importer",
        ),
        Attack(
            "a file and 1,001 form fields",
            "importer upload",
            JOBS,
            lambda: multipart([("f", b"1")] * 1001, [("file", "c.xlsx", b"x")], BOUNDARY),
            (400,),
            content_type=MULTIPART,
            credentials="importer",
        ),
        Attack(
            "six files",
            "importer upload",
            JOBS,
            lambda: multipart([], [("file", f"c{n}.xlsx", b"x" * MB) for n in range(6)], BOUNDARY),
            (400,),
            content_type=MULTIPART,
            credentials="importer",
        ),
        Attack(
            "a 50 MB form field",
            "importer upload",
            JOBS,
            lambda: multipart([("sheet_name", b"x" * UPLOAD_LIMIT)], [("file", "c.xlsx", b"x")], BOUNDARY),
            (413,),
            content_type=MULTIPART,
            credentials="importer",
        ),
        Attack(
            "claims 50 MB + 65 KB",
            "importer upload",
            JOBS,
            lambda: b"--x--\r\n",
            (413,),
            content_type=MULTIPART,
            credentials="importer",
            framing="lying",
            declared=UPLOAD_LIMIT + 65 * KB,
        ),
        Attack(
            "10,000-row sheet, previewed",
            "importer upload",
            UPLOAD,
            lambda: multipart([], [("file", "customers.xlsx", xlsx_rows(workdir / "10000.xlsx", CUSTOMERS))], BOUNDARY),
            (200,),
            content_type=MULTIPART,
            credentials="importer",
            slow=True,
        ),
    ]


# --- sending -------------------------------------------------------------------------------------------------


def bearer(credentials: str, importer_token: str, secret_key: str) -> str | None:
    """The Authorization header for an attack's credentials: the importer's real token, or one made from it."""
    if credentials == "none":
        return None
    if credentials == "importer":
        return f"Bearer {importer_token}"
    claims = jwt.decode(importer_token, options={"verify_signature": False})
    if credentials == "forged":
        return "Bearer " + jwt.encode(claims, "not-the-server-key-" * 4, algorithm="HS256")
    return "Bearer " + jwt.encode({**claims, "exp": int(time.time()) - 60}, secret_key, algorithm="HS256")


def request_head(attack: Attack, body: bytes, port: int, authorization: str | None) -> bytes:
    # The API is called from the frontend's origin; Django's own pages post forms to their own origin.
    origin = ORIGIN if attack.path.startswith("/api/") else f"http://127.0.0.1:{port}"
    headers = [
        ("Host", f"127.0.0.1:{port}"),
        ("Origin", origin),
        ("Content-Type", attack.content_type),
        ("Connection", "close"),
        *attack.headers,
    ]
    if authorization:
        headers.append(("Authorization", authorization))
    if attack.framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
    else:
        headers.append(("Content-Length", str(attack.declared if attack.framing == "lying" else len(body))))
    lines = [f"POST {attack.path} HTTP/1.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def body_pieces(attack: Attack, body: bytes, piece: int = 64 * KB) -> Iterator[bytes]:
    for start in range(0, len(body), piece):
        chunk = body[start : start + piece]
        yield f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" if attack.framing == "chunked" else chunk
    if attack.framing == "chunked":
        yield b"0\r\n\r\n"


# A body this small is sent with its headers: only a large one is worth waiting on an early answer for.
EARLY_ANSWER_ABOVE = 64 * KB


def answered(sock: socket.socket, wait: float) -> bool:
    return bool(select.select([sock], [], [], wait)[0])


def exchange(port: int, attack: Attack, body: bytes, authorization: str | None) -> bytes:
    """Send one request and return the raw answer (b"" if the connection was reset before one came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=120) as sock:
        sock.sendall(request_head(attack, body, port, authorization))
        if len(body) <= EARLY_ANSWER_ABOVE or not answered(sock, 0.3):
            for piece in body_pieces(attack, body):
                try:
                    sock.sendall(piece)
                except (BrokenPipeError, ConnectionResetError):
                    break
                if answered(sock, 0):
                    break
        received = bytearray()
        try:
            while chunk := sock.recv(256 * KB):
                received += chunk
        except (ConnectionResetError, TimeoutError):
            pass
        return bytes(received)


def parse_answer(raw: bytes) -> tuple[int | None, dict[str, str], bytes]:
    head, _, content = raw.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/"):
        return None, {}, b""
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(status_line.split()[1]), headers, content


def message_of(headers: dict[str, str], content: bytes) -> str:
    """The sentence an answer gives: the JSON envelope's message, else the page's text."""
    if headers.get("content-type", "").startswith("application/json"):
        try:
            data = json.loads(content)
        except ValueError:
            return ""
        if isinstance(data, dict):
            return str(data.get("message") or data.get("detail") or "")
        return ""
    import re

    return " ".join(re.sub(rb"<[^>]+>", b" ", content).decode("utf-8", "replace").split())[:300]


# --- the worker's memory -----------------------------------------------------------------------------------------


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / KB
    raise AssertionError(f"no {field} for pid {pid}")


def peak_rss_mb(pid: int) -> float:
    """The process's peak resident set (VmHWM) in MB."""
    return _status_mb(pid, "VmHWM")


def rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


def reset_peak(pid: int) -> bool:
    """Start the peak afresh from the current RSS; False where the kernel doesn't allow it."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def run(
    attack: Attack, *, port: int, worker_pid: int, importer_token: str, secret_key: str, resets: bool = True
) -> Outcome:
    body = attack.body()
    if resets:
        reset_peak(worker_pid)
    started = time.monotonic()
    raw = exchange(port, attack, body, bearer(attack.credentials, importer_token, secret_key))
    seconds = time.monotonic() - started
    status, headers, content = parse_answer(raw)
    return Outcome(
        attack=attack,
        status=status,
        message=message_of(headers, content),
        body_bytes=len(body),
        peak_rss_mb=round(peak_rss_mb(worker_pid), 1),
        rss_after_mb=round(rss_mb(worker_pid), 1),
        seconds=round(seconds, 2),
        cors=headers.get("access-control-allow-origin") == ORIGIN,
    )


def size_text(n: int) -> str:
    return f"{n / MB:.1f} MB" if n >= MB else f"{n / KB:.1f} KB" if n >= KB else f"{n} B"


def table(outcomes: list[Outcome], *, baseline_mb: float) -> str:
    """The outcomes as a Markdown table."""
    lines = [
        f"Web worker idle: {baseline_mb:.1f} MB RSS.",
        "",
        "| Request shape | Endpoint | Credentials | Body | Status | Worker peak RSS |",
        "| --- | --- | --- | ---: | ---: | ---: |",
    ]
    for o in outcomes:
        a = o.attack
        status = str(o.status) if o.status is not None else "reset"
        credentials = {"none": "none", "importer": "importer JWT", "forged": "forged JWT", "expired": "expired JWT"}
        lines.append(
            f"| {a.shape} | `{a.path}` | {credentials[a.credentials]} | {size_text(o.body_bytes)} | {status} "
            f"| {o.peak_rss_mb:.0f} MB |"
        )
    return "\n".join(lines)
