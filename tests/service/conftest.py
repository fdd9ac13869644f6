"""Fixtures of the service tests: a store on SQLite or on the real PostgreSQL server, apps
built on it, and JWTs signed like the public CDS Hooks sandbox signs them.

PostgreSQL: set LENADEX_TEST_POSTGRES_URL (CI: postgresql+psycopg://postgres@127.0.0.1:5432/test).
Every test gets a schema of its own (through the connection's search_path), dropped after the
test, so runs and tests cannot see each other's rows.
"""

from __future__ import annotations

import logging

import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service.app import create_app
from service.settings import Settings
from service.store import Store

# The public CDS Hooks sandbox's JWKS and test key: public test material, kept in the repo.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SANDBOX_JWKS = FIXTURES / "cds-hooks-sandbox-jwks.json"
SANDBOX_PRIVATE_KEY = FIXTURES / "cds-hooks-sandbox-test-private-key.pem"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"

POSTGRES_URL = os.environ.get("LENADEX_TEST_POSTGRES_URL", "")
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="LENADEX_TEST_POSTGRES_URL is not set")


@contextmanager
def postgres_schema() -> Iterator[str]:
    """The URL of a fresh schema on the test PostgreSQL server; dropped afterwards."""
    schema = f"lenadex_test_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=[pytest.mark.postgres, needs_postgres])])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The store's URL: a SQLite file in tmp_path, and a schema of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'store.sqlite3'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def open_store(database_url: str) -> Iterator[Callable[..., Store]]:
    """Opens (and migrates) stores on the test database; all are closed after the test."""
    stores: list[Store] = []

    def open_(**options: Any) -> Store:
        store = Store(database_url, **options)
        store.migrate()
        stores.append(store)
        return store

    yield open_
    for store in stores:
        store.close()


@pytest.fixture
def store(open_store: Callable[..., Store]) -> Store:
    return open_store()


@pytest.fixture
def make_app(database_url: str) -> Iterator[Callable[..., Flask]]:
    """Apps on the test database, with settings overridden by keyword."""
    apps: list[Flask] = []

    def make(**settings: Any) -> Flask:
        app = create_app(Settings(database_url=database_url, **settings))
        apps.append(app)
        return app

    yield make
    for app in apps:
        app.extensions["lenadex.store"].close()


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


def _break(app: Flask) -> None:
    store: Store = app.extensions["lenadex.store"]
    store.engine.dispose()
    # Nothing listens on port 9 (discard): every connection attempt is refused.
    store.engine = create_engine("postgresql+psycopg://lenadex@127.0.0.1:9/gone", connect_args={"connect_timeout": 2})
    store.replay_engine.dispose()
    store.replay_engine = store.engine  # SQLite keeps the JWT replay cache in a file of its own


@pytest.fixture
def break_store() -> Callable[[Flask], None]:
    """Makes an app's store unreachable, as a database that went down."""
    return _break


@pytest.fixture(scope="session")
def sandbox_private_key() -> Any:
    return serialization.load_pem_private_key(SANDBOX_PRIVATE_KEY.read_bytes(), password=None)


@pytest.fixture
def sandbox_token(sandbox_private_key: Any) -> Callable[..., str]:
    """A JWT as the public CDS Hooks sandbox makes it; keywords change or drop (None) claims
    and header fields: ``sandbox_token(aud=url, exp=..., kid=None, key=other_key, alg="RS384")``."""

    def sign(aud: str, *, key: Any = None, alg: str = "ES384", **changes: Any) -> str:
        now = int(time.time())
        header: dict[str, Any] = {"typ": "JWT", "kid": SANDBOX_KID, "jku": SANDBOX_JKU}
        claims: dict[str, Any] = {
            "iss": SANDBOX_ISSUER,
            "aud": aud,
            "iat": now,
            "exp": now + 300,
            "jti": str(uuid.uuid4()),
        }
        for name, value in changes.items():
            target = header if name in ("typ", "kid", "jku") else claims
            if value is None:
                target.pop(name, None)
            else:
                target[name] = value
        return jwt.encode(claims, key if key is not None else sandbox_private_key, algorithm=alg, headers=header)

    return sign


@pytest.fixture
def root_logging() -> Iterator[None]:
    """configure_logging replaces the root handlers: put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers, root.level = handlers, level
