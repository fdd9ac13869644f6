"""Logging: one JSON object per line (LENADEX_LOG_FORMAT=json, the default) or plain text.

Each line has time, level, logger, message and, while a request is being answered, its
request_id (the ``X-Request-Id`` of the answer, service/app.py) and the hookInstance and service
it belongs to, so that all lines of one request, and of one hook call, can be found together;
the access line adds status and latency_ms.

What never goes into a log: tokens (the Authorization header, fhirAuthorization), patient ids
in clear, FHIR resources. Exception messages can carry request data (pydantic puts the
offending input into its message), so a logged exception keeps its type and stack but not
its message.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import traceback
from datetime import datetime, timezone
from typing import Any

from flask import g, has_request_context

from service.settings import Settings

# Record attributes copied into the line when present (set with ``extra=`` or from the request).
CONTEXT_FIELDS = ("request_id", "hookInstance", "service", "method", "path", "status", "latency_ms")

QUIETER_LOGGERS = {
    # Our own access line replaces werkzeug's, which would print the query string.
    "werkzeug": logging.WARNING,
    # Seven lines about plugins at every start of every worker.
    "alembic.runtime.plugins": logging.WARNING,
}


class RequestContext(logging.Filter):
    """Adds the request id, hookInstance and service of the request being answered to every
    record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if has_request_context():
            for name, attribute in (
                ("request_id", "request_id"),
                ("hookInstance", "hook_instance"),
                ("service", "service_id"),
            ):
                if getattr(record, name, None) is None:
                    setattr(record, name, g.get(attribute))
        return True


def _exception_without_message(exc_info: Any) -> tuple[str, str]:
    error_type, error, trace = exc_info
    frames = "".join(traceback.format_list(traceback.extract_tb(trace)))
    return error_type.__name__, frames


_RAW_IN_JSON = re.compile(r"[\x7f-\x9f\u2028\u2029]")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            entry["exception"], entry["stack"] = _exception_without_message(record.exc_info)
        # json.dumps escapes C0 controls but, with ensure_ascii off, writes C1 controls and the
        # Unicode line separators raw; some line readers (str.splitlines among them) break on
        # those, so they are written as \u escapes too (they can only occur inside strings).
        return _RAW_IN_JSON.sub(
            lambda m: f"\\u{ord(m.group(0)):04x}", json.dumps(entry, ensure_ascii=False, default=str)
        )


# What a text line must not carry raw: C0 and C1 controls (a line feed or carriage return would
# start a forged line; an escape sequence would rewrite the terminal), DEL, the Unicode line and
# paragraph separators some viewers break lines on, and the backslash itself, so that an
# escape in the log can be told from the same characters sent literally.
_UNSAFE_IN_TEXT = re.compile(r"[\\\x00-\x1f\x7f-\x9f\u2028\u2029]")
_NAMED_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _one_line(value: object) -> str:
    """``value`` as text that stays on its line: controls written as \\n, \\r, \\t, \\x1b…"""
    return _UNSAFE_IN_TEXT.sub(_escape_character, str(value))


def _escape_character(match: re.Match[str]) -> str:
    character = match.group(0)
    named = _NAMED_ESCAPES.get(character)
    if named is not None:
        return named
    code = ord(character)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


class TextFormatter(logging.Formatter):
    """One line per record: the message and every context value come from requests (a
    hookInstance, a path, an error text), so their control characters are escaped. JSON lines
    need no such step: json.dumps writes every control character as an escape."""

    def format(self, record: logging.LogRecord) -> str:
        time = datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")
        line = f"{time} {record.levelname} {_one_line(record.name)}: {_one_line(record.getMessage())}"
        context = [
            f"{name}={_one_line(getattr(record, name))}"
            for name in CONTEXT_FIELDS
            if getattr(record, name, None) is not None
        ]
        if context:
            line += " [" + " ".join(context) + "]"
        if record.exc_info and record.exc_info[0] is not None:
            # The stack is the service's own (file names and source lines), never request data,
            # and is read as the indented lines under its record.
            name, frames = _exception_without_message(record.exc_info)
            line += f"\n{frames}{_one_line(name)}"
        return line


def formatter_for(log_format: str) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def configure_logging(config: Settings) -> None:
    """Send every log record to stderr in the configured format. Called by the entry points
    (``lenadex serve``, each gunicorn worker), not by the app factory, so that tests and
    embedding applications keep their own logging."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter_for(config.log_format))
    handler.addFilter(RequestContext())
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(config.log_level.upper())
    for name, level in QUIETER_LOGGERS.items():
        logging.getLogger(name).setLevel(level)
