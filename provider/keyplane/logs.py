"""keyplane's log lines: one format for keyplane's own loggers and uvicorn's (text or JSON lines),
the access log (one line per call: service.Operation, status, error code, caller, request id,
latency) and the warning a refused authentication leaves (the access key id and the reason, never
a secret). Both formats carry the same fields; JSON puts each in its own member."""
from __future__ import annotations

import json
import logging
import time

ACCESS = logging.getLogger("keyplane.access")
AUTH = logging.getLogger("keyplane.auth")
FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"
# the request fields an access line carries (also a JSON line's members)
FIELDS = ("operation", "status", "error", "caller", "request_id", "latency_ms", "access_key_id", "source_ip",
          "unrecorded")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {"time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                + f".{int(record.msecs):03d}Z", "level": record.levelname, "logger": record.name,
                "pid": record.process, "message": record.getMessage()}
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def config(level: str = "warning", fmt: str = "text", access_log: bool = False) -> dict:
    """A logging.dictConfig for keyplane's and uvicorn's loggers alike (uvicorn takes it as log_config)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format must be one of {', '.join(FORMATS)}")
    level = level.upper()
    formatter = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    handler = {"class": "logging.StreamHandler", "formatter": "keyplane", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"keyplane": formatter},
        "handlers": {"keyplane": handler},
        "loggers": {
            "keyplane": {"handlers": ["keyplane"], "level": level, "propagate": False},
            # the access log and refused authentications show at their own level whatever --log-level says
            "keyplane.access": {"handlers": ["keyplane"], "level": "INFO" if access_log else "WARNING",
                                "propagate": False},
            "keyplane.auth": {"handlers": ["keyplane"], "level": "WARNING", "propagate": False},
            "uvicorn": {"handlers": ["keyplane"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["keyplane"], "level": level, "propagate": False},
            # uvicorn's own access lines say less than keyplane's: keyplane writes the access log
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def configure(level: str = "warning", fmt: str = "text", access_log: bool = False) -> dict:
    """Configure logging for a server process (the process is keyplane's). A record carries only
    what the formats show: no caller's file and line (a stack walk per record), no thread or
    multiprocessing names; the logging manual's own advice for a record that costs less."""
    import logging.config
    cfg = config(level, fmt, access_log)
    logging.config.dictConfig(cfg)
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    return cfg


def access(operation: str, status: int, error: str | None, caller: str | None, request_id: str,
           started: float, source_ip: str | None) -> None:
    if not ACCESS.isEnabledFor(logging.INFO):
        return
    latency = round((time.perf_counter() - started) * 1000, 3)
    ACCESS.info("%s %d %s %s %s %.3fms", operation, status, error or "-", caller or "-", request_id, latency,
                extra={"operation": operation, "status": status, "error": error, "caller": caller,
                       "request_id": request_id, "latency_ms": latency, "source_ip": source_ip})


def refused(access_key_id: str | None, error: str, reason: str, request_id: str, source_ip: str | None,
            unrecorded: int = 0) -> None:
    """`unrecorded`: refusals before this one that were neither logged nor audited (rate bound)."""
    AUTH.warning("authentication refused: access key %s from %s: %s: %s (request %s)%s", access_key_id or "-",
                 source_ip or "-", error, reason, request_id,
                 f"; {unrecorded} earlier refusal(s) not logged" if unrecorded else "",
                 extra={"access_key_id": access_key_id, "error": error, "request_id": request_id,
                        "source_ip": source_ip, "unrecorded": unrecorded or None})
