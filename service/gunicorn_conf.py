"""Gunicorn, the production server of ``lenadex serve`` (one worker by default, N, or 0 = auto).

``lenadex serve`` runs gunicorn in-process with these options (``serve``); the module also works
as a gunicorn config file: ``gunicorn -c python:service.gunicorn_conf`` (settings from LENADEX_*).

- Workers: N, or for 0 two per CPU available plus one (gunicorn's rule of thumb; the CPUs are
  read from the container's cgroup quota when there is one, as under Kubernetes limits). One
  worker is the default: still gunicorn's master and its graceful shutdown, never a
  development server.
- The worker class is ``service.http_worker.LenadexWorker``: an event loop reads the requests,
  so slow clients hold a socket and not the worker; LENADEX_THREADS threads per worker run the
  app (1 by default; see that module for why and for what it costs).
- No preload: each worker imports the app and opens its own database pool after the fork.
  The master migrates the store once before forking (``on_starting``), so the workers find
  the schema current; with LENADEX_MIGRATE_AT_START=false it only checks that the schema is
  current (``lenadex migrate`` ran) and refuses to start otherwise.
- Metrics: each worker counts in its own process; prometheus_client's multiprocess mode keeps
  the counts in files under PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder unless set)
  and /metrics adds them up.
- Shutdown: on SIGTERM the listening socket closes and in-flight calls finish (at most
  GRACEFUL_TIMEOUT_SECONDS). A worker whose event loop is silent for
  LENADEX_REQUEST_TIMEOUT_SECONDS is killed and replaced; the fetches to the EHR have their
  own, shorter, timeouts (LENADEX_FETCH_*).
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from service.http_worker import GRACEFUL_TIMEOUT_SECONDS
from service.logs import QUIETER_LOGGERS
from service.settings import Settings


def available_cpus() -> int:
    """CPUs this process may use: the cgroup quota (cgroup v2 cpu.max) when set, else the
    CPUs it may be scheduled on."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if quota != "max":
            cpus = min(cpus, max(1, int(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, cpus)


def worker_count(requested: int) -> int:
    return requested if requested > 0 else 2 * available_cpus() + 1


def _prepare_metrics_folder() -> None:
    """Must run before prometheus_client is imported in this process or its workers."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        for stale in Path(folder).glob("*.db"):  # counts of an earlier run would add up
            stale.unlink()
    else:
        folder = tempfile.mkdtemp(prefix="lenadex-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder
        atexit.register(shutil.rmtree, folder, ignore_errors=True)


def on_starting(server: Any) -> None:
    """In the master, before any worker is forked: the store is migrated to the newest schema,
    or with LENADEX_MIGRATE_AT_START=false found there; otherwise one line and exit (2, or 1
    when the store cannot be reached), before anything listens."""
    from service.cli import StartRefused, prepare_store

    _prepare_metrics_folder()
    settings = Settings()
    try:
        # It closes its store: no pooled connection may be inherited by the workers.
        prepare_store(settings, migrate=settings.migrate_at_start)
    except StartRefused as refused:
        print(f"lenadex: {refused}", file=sys.stderr, flush=True)
        raise SystemExit(refused.exit_code) from None


def child_exit(server: Any, worker: Any) -> None:
    """A worker ended: its live gauges leave the sum (counters and histograms stay)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def worker_app() -> Any:
    """The WSGI app of one worker (called after the fork)."""
    from service.app import create_app, freeze_startup_heap
    from service.logs import configure_logging

    from a2wsgi import WSGIMiddleware

    from service.http_worker import BufferedRequests

    settings = Settings()
    configure_logging(settings)
    app = create_app(settings)
    freeze_startup_heap()
    return BufferedRequests(WSGIMiddleware(app, workers=settings.threads), settings.max_body_bytes)  # type: ignore[arg-type]


def _log_config(settings: Settings) -> dict[str, Any]:
    """Gunicorn's own lines (worker start, timeouts) in the same format as the service's."""
    formatter = "service.logs.JsonFormatter" if settings.log_format == "json" else "service.logs.TextFormatter"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"lenadex": {"()": formatter}},
        "handlers": {
            "stderr": {"class": "logging.StreamHandler", "formatter": "lenadex", "stream": "ext://sys.stderr"}
        },
        "root": {"handlers": ["stderr"], "level": settings.log_level.upper()},
        "loggers": {
            "gunicorn.error": {"handlers": ["stderr"], "level": settings.log_level.upper(), "propagate": False},
            # The app writes one access line per request itself.
            "gunicorn.access": {"handlers": [], "propagate": False},
            "uvicorn.error": {"handlers": ["stderr"], "level": settings.log_level.upper(), "propagate": False},
            "uvicorn.access": {"handlers": [], "propagate": False},
            **{name: {"level": level} for name, level in QUIETER_LOGGERS.items()},
        },
    }


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    return {
        "bind": f"{settings.host}:{settings.port}",
        "workers": worker_count(settings.workers),
        "worker_class": "service.http_worker.LenadexWorker",
        "timeout": settings.request_timeout_seconds,
        "graceful_timeout": GRACEFUL_TIMEOUT_SECONDS,
        "keepalive": 5,
        "preload_app": False,
        "logconfig_dict": _log_config(settings),
        # gunicorn's control socket (for gunicornc) sits at one path per user: two servers on
        # one machine would fight over it, and a container's home may be read-only.
        "control_socket_disable": True,
        "on_starting": on_starting,
        "child_exit": child_exit,
        "wsgi_app": "service.gunicorn_conf:worker_app()",
    }


def serve(settings: Settings) -> None:
    """Run gunicorn in this process (it becomes the master) until it is stopped."""
    from gunicorn.app.base import BaseApplication  # type: ignore[import-untyped]

    class _Lenadex(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in gunicorn_options(settings).items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return worker_app()

    _Lenadex().run()


# Read as a gunicorn config file (-c python:service.gunicorn_conf), the module's names are
# gunicorn's options: bind, workers, … from the LENADEX_* settings.
globals().update(gunicorn_options(Settings()))
