"""Structured logs: one JSON object per line on stderr, secrets kept out."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

from services.common.json_input import JsonObject

# Attributes every LogRecord has; anything else on a record came from `extra=` and is a field.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "taskName"}
_URL_PASSWORD = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]*@", re.I)


def redact_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to log."""
    return _URL_PASSWORD.sub(r"\g<scheme>\g<user>:***@", url)


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON line: ts, level, logger, msg and every extra field."""

    def format(self, record: logging.LogRecord) -> str:
        doc: JsonObject = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                doc[key] = value
        if record.exc_info and record.exc_info[0] is not None:
            doc["error"] = f"{record.exc_info[0].__name__}: {record.exc_info[1]}"
        return json.dumps(doc, default=str, separators=(",", ":"))


def configure_logging(level: str | int = "INFO") -> None:
    """Send every log record to stderr as JSON lines (idempotent)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "_edgemarket", False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._edgemarket = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    # httpx logs every request at INFO: far too chatty for an indexer polling the head.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def get_logger(name: str) -> logging.Logger:
    """A logger; pass structured fields with `extra={...}`."""
    return logging.getLogger(name)
