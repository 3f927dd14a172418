"""`edgemarket content serve`: a content store directory served over HTTP for other machines.

It answers the three calls of Kubo's RPC API that `KuboContentStore` makes (POST
/api/v0/add, /api/v0/cat, /api/v0/pin/add), so workers and evaluators on other machines
use it with `EDGEMARKET_CONTENT_STORE=kubo:http://HOST:PORT` exactly as they would use a Kubo
node. Where Kubo runs, use Kubo; this is for a solver that has none. Like Kubo's RPC port it
is an admin interface: anyone who reaches it can add artifacts, so bind it to a private
network. Every artifact is CIDv1 raw sha2-256 of at most 256 KiB and is checked on the way
in; every other path answers 404.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import logging
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from services.common.content import (
    MAX_ARTIFACT_BYTES,
    ContentError,
    ContentNotFoundError,
    ContentTooLargeError,
    LocalContentStore,
)

log = logging.getLogger("edgemarket.content")

# A multipart body holds one artifact plus its headers and boundaries.
MAX_BODY_BYTES = MAX_ARTIFACT_BYTES + 16 * 1024


def _first_part(content_type: str, body: bytes) -> bytes:
    """The payload of the first part of a multipart/form-data body."""
    if not content_type.startswith("multipart/form-data"):
        raise ValueError(f"expected multipart/form-data, got {content_type[:60]!r}")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    if not message.is_multipart():
        raise ValueError("the multipart body has no parts")
    for part in message.iter_parts():
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes):
            return payload
    raise ValueError("the multipart body has no file part")


class _Handler(BaseHTTPRequestHandler):
    server: ContentServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _reply(
        self, status: HTTPStatus, body: bytes, content_type: str = "application/json"
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, status: HTTPStatus, message: str) -> None:
        # Kubo's error shape: {"Message": ..., "Code": 0, "Type": "error"}
        self._reply(status, json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode())

    def do_GET(self) -> None:
        self._error(HTTPStatus.METHOD_NOT_ALLOWED, "use POST, as Kubo's RPC API does")

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        args = parse_qs(url.query)
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "Content-Length is not a number")
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"body of {length} bytes; an artifact is at most {MAX_ARTIFACT_BYTES} bytes",
            )
            self.close_connection = True
            return
        body = self.rfile.read(length) if length else b""
        store = self.server.store
        try:
            if url.path == "/api/v0/add":
                data = _first_part(self.headers.get("Content-Type", ""), body)
                cid = store.put(data)
                self._reply(
                    HTTPStatus.OK,
                    json.dumps({"Name": "artifact", "Hash": cid, "Size": str(len(data))}).encode(),
                )
            elif url.path == "/api/v0/cat":
                self._reply(HTTPStatus.OK, store.get(_arg(args)), "application/octet-stream")
            elif url.path == "/api/v0/pin/add":
                cid = _arg(args)
                store.pin(cid)
                self._reply(HTTPStatus.OK, json.dumps({"Pins": [cid]}).encode())
            else:
                self._error(HTTPStatus.NOT_FOUND, f"no such call {url.path!r}")
        except ContentNotFoundError as exc:
            self._error(HTTPStatus.INTERNAL_SERVER_ERROR, f"not found: {exc}")
        except ContentTooLargeError as exc:
            self._error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, str(exc))
        except (ContentError, ValueError) as exc:
            self._error(HTTPStatus.BAD_REQUEST, str(exc))


def _arg(args: dict[str, list[str]]) -> str:
    values = args.get("arg")
    if not values or len(values) != 1:
        raise ValueError("expected exactly one ?arg=<cid>")
    return values[0]


class ContentServer(ThreadingHTTPServer):
    """A LocalContentStore over HTTP (the Kubo RPC subset the project's client uses)."""

    daemon_threads = True

    def __init__(self, directory: Path, host: str, port: int) -> None:
        self.store = LocalContentStore(directory)
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"
