"""The ``lenadex`` command: ``lenadex serve`` starts the service."""

from __future__ import annotations

import argparse
import sys

from service.settings import Settings


def serve(args: argparse.Namespace) -> int:
    overrides = {"host": args.host, "port": args.port}
    config = Settings(**{k: v for k, v in overrides.items() if v is not None})
    from service.app import create_app

    app = create_app(config)
    print(f"lenadex: CDS services at http://{config.host}:{config.port}/cds-services", flush=True)
    app.run(host=config.host, port=config.port, threaded=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lenadex", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="start the CDS Hooks service")
    serve_parser.add_argument("--host", default=None, help="default 127.0.0.1 (LENADEX_HOST)")
    serve_parser.add_argument("--port", type=int, default=None, help="default 8080 (LENADEX_PORT)")
    serve_parser.add_argument("--workers", type=int, default=1, help="N > 1: production server with N workers")
    serve_parser.set_defaults(run=serve)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
