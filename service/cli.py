"""The ``lenadex`` command: ``lenadex serve`` starts the service; ``lenadex sandbox`` is the EHR
stand-in (sandbox/cli.py)."""

from __future__ import annotations

import argparse
import sys

from service.settings import SettingsError, load_settings


def _worker_count(text: str) -> int:
    if text == "auto":
        return 0
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a number of workers, or 0/auto for one from the CPU count") from None
    if count < 0:
        raise argparse.ArgumentTypeError("the number of workers cannot be negative")
    return count


def serve(args: argparse.Namespace) -> int:
    overrides = {"host": args.host, "port": args.port, "workers": args.workers}
    try:
        config = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as error:
        print(f"lenadex: {error}", file=sys.stderr)
        return 2
    print(f"lenadex: CDS services at http://{config.host}:{config.port}/cds-services", flush=True)
    # Imported only here: prometheus_client must not be loaded before gunicorn's master has
    # set up the metrics folder of its workers.
    from service import gunicorn_conf

    gunicorn_conf.serve(config)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lenadex", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the CDS Hooks service")
    serve_parser.add_argument("--host", default=None, help="default 127.0.0.1 (LENADEX_HOST)")
    serve_parser.add_argument("--port", type=int, default=None, help="default 8080 (LENADEX_PORT)")
    serve_parser.add_argument(
        "--workers",
        type=_worker_count,
        default=None,
        help="gunicorn workers: 1 (default, LENADEX_WORKERS), N, or 0/auto for 2 per CPU + 1",
    )
    serve_parser.set_defaults(run=serve)
    from sandbox import cli as sandbox_cli  # imports only argparse; its commands load the rest

    sandbox_cli.register(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
