"""The ``lenadex`` command: ``lenadex serve`` starts the service, ``lenadex migrate`` brings the
store to the newest schema, ``lenadex check-config`` checks the settings (and that the store can
be reached) without starting anything, ``lenadex --version``; ``lenadex sandbox`` is the EHR
stand-in (sandbox/cli.py).

Exit codes: 0 done; 2 refused before doing anything — a setting with a bad value, a JWKS file
that cannot be read, a schema that is not the newest while LENADEX_MIGRATE_AT_START=false, a
schema newer than this lenadex (and, for check-config, a store that cannot be reached); 1 the
store cannot be reached by serve or migrate (worth retrying). Every refusal is one line on
stderr, ``lenadex: LENADEX_X: …`` where a setting is to blame, never a traceback. A LENADEX_
variable that is no setting is a one-line warning naming the closest setting, and ignored.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from service.settings import Settings, SettingsError, load_settings, unknown_variables

if TYPE_CHECKING:
    from service.store import Store

CONFIG_REFUSED = 2
STORE_UNREACHABLE = 1


class StartRefused(Exception):
    """Why the store is not ready to serve, in one line, with the exit code to end with."""

    def __init__(self, message: str, exit_code: int = CONFIG_REFUSED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("lenadex")
    except PackageNotFoundError:  # run from a source tree that was never installed
        return "unknown"


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


def _say(message: str) -> None:
    print(f"lenadex: {message}", file=sys.stderr, flush=True)


def _settings(**overrides: object) -> Settings | None:
    """The settings, after a warning for each unknown LENADEX_ variable; None (the one line
    said) when a setting is refused."""
    for warning in unknown_variables(os.environ):
        _say(warning)
    try:
        config = load_settings(**{k: v for k, v in overrides.items() if v is not None})
        _check_jwks_files(config)
    except (SettingsError, ValueError) as error:
        _say(" ".join(str(error).split()))
        return None
    return config


def _check_jwks_files(config: Settings) -> None:
    """The JWKS files of LENADEX_JWKS can be read (the workers read them at start; a file that
    cannot be read would only show as workers failing to boot). URLs are fetched on first use."""
    if config.auth != "jwt":
        return
    from service.auth import KeyRing

    for sources in config.jwks_by_issuer().values():
        files = [source for source in sources if not source.startswith(("https://", "http://"))]
        KeyRing(files, cache_seconds=config.jwks_cache_seconds, timeout=config.fetch_timeout_seconds)


def shown_url(database_url: str) -> str:
    """The store's URL without password and query (which may hold one), to show."""
    from sqlalchemy.engine import make_url

    return make_url(database_url).set(password=None, query={}).render_as_string(hide_password=True)


def _no_sqlite_file(database_url: str) -> bool:
    """A SQLite store whose file does not exist yet (opening the store would create it)."""
    from sqlalchemy.engine import make_url

    url = make_url(database_url)
    return bool(
        url.get_backend_name() == "sqlite"
        and url.database
        and url.database != ":memory:"
        and not os.path.exists(url.database)
    )


def _first_existing_folder(database_url: str) -> str:
    from sqlalchemy.engine import make_url

    folder = os.path.dirname(os.path.abspath(str(make_url(database_url).database)))
    while not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    return folder


def _unreachable(database_url: str, error: BaseException) -> str:
    """One line: the driver's first line of why (never the password)."""
    from sqlalchemy.engine import make_url

    cause = error.__cause__ if error.__cause__ is not None else error
    reason = str(getattr(cause, "orig", None) or cause).strip().splitlines()
    text = reason[0] if reason else type(cause).__name__
    password = make_url(database_url).password
    if password:
        text = text.replace(str(password), "***")
    return f"LENADEX_DATABASE_URL: the store {shown_url(database_url)} cannot be reached: {text[:300]}"


def _not_newest(current: str | None, newest: str) -> str:
    found = f"the store's schema is at revision {current}" if current else "the store has no schema yet"
    return f"{found}, not at the newest ({newest}), and LENADEX_MIGRATE_AT_START is false: run `lenadex migrate` first"


def _revision_checked(store: Store, database_url: str) -> str | None:
    """The store's revision; StartRefused when it is unreachable or newer than this lenadex."""
    from service.store import StoreUnavailable
    from service.store.database import shipped_revisions

    try:
        current = store.schema_revision()
    except StoreUnavailable as error:
        raise StartRefused(_unreachable(database_url, error), STORE_UNREACHABLE) from None
    shipped = shipped_revisions()
    if current is not None and current not in shipped:
        raise StartRefused(
            f"the store's schema is at revision {current}, which lenadex {_version()} does not know "
            f"(its newest is {shipped[-1]}): a newer lenadex has migrated this store"
        )
    return current


def prepare_store(config: Settings, *, migrate: bool) -> tuple[str | None, str]:
    """Bring the store to the newest schema (``migrate``), or check that it is there; the
    revisions before and after. StartRefused, in one line, when it cannot be served from.

    Run by gunicorn's master before it forks (service/gunicorn_conf.py, on_starting) and by
    ``lenadex migrate``."""
    from service.store import Store, StoreUnavailable
    from service.store.database import shipped_revisions

    newest = shipped_revisions()[-1]
    if not migrate and _no_sqlite_file(config.database_url):
        raise StartRefused(_not_newest(None, newest))  # and do not create the file
    try:
        store = Store(config.database_url, audit_salt=config.audit_salt)
    except OSError as error:  # the SQLite file's folder cannot be created
        message = f"LENADEX_DATABASE_URL: {error.strerror or error}: {error.filename}"
        raise StartRefused(message, STORE_UNREACHABLE) from None
    try:
        current = _revision_checked(store, config.database_url)
        if current != newest:
            if not migrate:
                raise StartRefused(_not_newest(current, newest))
            try:
                store.migrate()
            except StoreUnavailable as error:
                raise StartRefused(_unreachable(config.database_url, error), STORE_UNREACHABLE) from None
        return current, newest
    finally:
        store.close()  # no pooled connection may be inherited by gunicorn's workers


def serve(args: argparse.Namespace) -> int:
    config = _settings(host=args.host, port=args.port, workers=args.workers)
    if config is None:
        return CONFIG_REFUSED
    try:
        # Here, before gunicorn says anything, so that a refusal is the only line. Its
        # on_starting (for `gunicorn -c python:service.gunicorn_conf`) then finds the schema
        # current: one more query.
        prepare_store(config, migrate=config.migrate_at_start)
    except StartRefused as refused:
        _say(str(refused))
        return refused.exit_code
    print(f"lenadex: CDS services at http://{config.host}:{config.port}/cds-services", flush=True)
    # Imported only here: prometheus_client must not be loaded before gunicorn's master has
    # set up the metrics folder of its workers.
    from service import gunicorn_conf

    gunicorn_conf.serve(config)
    return 0


def migrate(args: argparse.Namespace) -> int:
    config = _settings()
    if config is None:
        return CONFIG_REFUSED
    try:
        before, after = prepare_store(config, migrate=True)
    except StartRefused as refused:
        _say(str(refused))
        return refused.exit_code
    done = "nothing to migrate" if before == after else f"migrated from {before or 'an empty store'}"
    print(f"lenadex: the store {shown_url(config.database_url)} is at revision {after} (the newest; {done})")
    return 0


def check_config(args: argparse.Namespace) -> int:
    """Every setting, the JWKS files, and the store: reachable, and at a schema `serve` accepts."""
    config = _settings()
    if config is None:
        return CONFIG_REFUSED
    from service.store import Store
    from service.store.database import shipped_revisions

    newest = shipped_revisions()[-1]
    url = shown_url(config.database_url)
    if _no_sqlite_file(config.database_url):
        if not config.migrate_at_start:
            _say(_not_newest(None, newest))
            return CONFIG_REFUSED
        folder = _first_existing_folder(config.database_url)
        if not os.access(folder, os.W_OK | os.X_OK):
            _say(f"LENADEX_DATABASE_URL: the store's file cannot be created: {folder} is not writable")
            return CONFIG_REFUSED
        store_line = f"{url}: no file yet (the first start creates it, at revision {newest})"
    else:
        store = Store(config.database_url, audit_salt=config.audit_salt)
        try:
            current = _revision_checked(store, config.database_url)
        except StartRefused as refused:
            _say(str(refused))
            return CONFIG_REFUSED
        finally:
            store.close()
        if current == newest:
            store_line = f"{url}: reachable, schema at revision {current} (the newest)"
        elif config.migrate_at_start:
            store_line = f"{url}: reachable, schema at {current or 'none'}; the start migrates it to {newest}"
        else:
            _say(_not_newest(current, newest))
            return CONFIG_REFUSED
    if config.auth == "jwt":
        auth_line = f"jwt, {len(config.csv(config.trusted_issuers))} trusted issuer(s), aud {config.public_base_url}"
    else:
        auth_line = "off"
    print(f"lenadex: configuration OK (lenadex {_version()})")
    lines = [
        f"  listen      {config.host}:{config.port}, workers {config.workers or 'auto'}, threads {config.threads}",
        f"  store       {store_line}",
        f"  migrations  {'at start' if config.migrate_at_start else 'not at start (lenadex migrate)'}",
        f"  auth        {auth_line}",
        f"  audit key   {'LENADEX_AUDIT_SALT' if config.audit_salt else 'generated, kept in the store'}",
        f"  reports     {'operator token set' if config.reports_token else 'no operator token'}",
        f"  logs        {config.log_level}, {config.log_format}",
    ]
    print("\n".join(lines))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lenadex", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"lenadex {_version()}")
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
    commands.add_parser(
        "migrate", help="bring the store (LENADEX_DATABASE_URL) to the newest schema, then exit"
    ).set_defaults(run=migrate)
    commands.add_parser(
        "check-config", help="check the LENADEX_ settings and the store without starting the service"
    ).set_defaults(run=check_config)
    from sandbox import cli as sandbox_cli  # imports only argparse; its commands load the rest

    sandbox_cli.register(commands)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
