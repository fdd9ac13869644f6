"""The ``lenadex`` command as operators meet it, run as a real process with a clean environment:
bad settings (one line, exit code 2, no traceback), unknown LENADEX_ variables (a warning naming
the closest setting), ``lenadex migrate``, LENADEX_MIGRATE_AT_START, ``lenadex check-config`` and
``lenadex --version``. The store is a SQLite file in tmp_path (one migrate test on PostgreSQL)."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
import requests
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine

from service.settings import NOT_SETTINGS, Settings
from service.store import Store
from service.store.database import shipped_revisions

from .conftest import SANDBOX_ISSUER, SANDBOX_JWKS, needs_postgres, postgres_schema
from .served import serving

LENADEX = Path(sys.executable).parent / "lenadex"
NEWEST = shipped_revisions()[-1]
SECRET = "hunter2-the-database-password"
OPERATOR_TOKEN = "0123456789abcdef" * 4


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'var' / 'store.sqlite3'}"


def lenadex(tmp_path: Path, *args: str, **settings: str) -> subprocess.CompletedProcess[str]:
    """``lenadex ARGS`` in tmp_path, with no LENADEX_ variable but the store's URL and ``settings``
    (``LENADEX_PORT="x"``). The timeout only guards against a hang; nothing here is timed."""
    env = {
        k: v for k, v in os.environ.items() if not k.upper().startswith("LENADEX_") and k != "PROMETHEUS_MULTIPROC_DIR"
    }
    env["LENADEX_DATABASE_URL"] = sqlite_url(tmp_path)
    env.update(settings)
    return subprocess.run(
        [str(LENADEX), *args], check=False, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )


def migrate_to(url: str, revision: str) -> None:
    """The schema at ``revision``, as an older lenadex left it."""
    config = Config()
    config.set_main_option("script_location", "service:migrations")
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def revision_of(url: str) -> str | None:
    store = Store(url)
    try:
        return store.schema_revision()
    finally:
        store.close()


# --- bad values ----------------------------------------------------------------------------

# One bad value per setting, and a piece of what the line must say is allowed.
BAD_VALUES: dict[str, tuple[str, str]] = {
    "host": ("", "host name or IP address"),
    "port": ("80800", "a whole number from 1 to 65535, not '80800'"),
    "workers": ("many", "a whole number of at least 0"),
    "threads": ("0", "a whole number of at least 1"),
    "request_timeout_seconds": ("30s", "a whole number of at least 1"),
    "migrate_at_start": ("sometimes", "true or false"),
    "database_url": (f"mysql://lenadex:{SECRET}@db/lenadex", "SQLite or PostgreSQL"),
    "auth": ("JWT", "one of off, jwt"),
    "jwks_cache_seconds": ("-1", "a whole number of at least 0"),
    "jwt_leeway_seconds": ("half a minute", "a whole number of at least 0"),
    "jwt_max_lifetime_seconds": ("0", "a whole number of at least 1"),
    "max_authorization_bytes": ("100", "a whole number of at least 1024"),
    "public_base_url": ("cds.hospital.example", "http(s) URL"),
    "cors_origins": ("https://ehr.hospital.example/", "without a path"),
    "region": ("Korea", "two-letter country code"),
    "max_body_bytes": ("5MB", "a whole number of at least 1"),
    "fetch_timeout_seconds": ("inf", "a number above 0"),
    "fetch_budget_seconds": ("0", "a number above 0"),
    "fetch_max_pages": ("0", "a whole number of at least 1"),
    "fetch_max_bytes": ("16M", "a whole number of at least 1024"),
    "fetch_max_entries": ("-5", "a whole number of at least 1"),
    "fhir_servers": ("ftp://ehr.hospital.example/fhir", "only http and https"),
    "sandbox_page": ("maybe", "true or false"),
    "reports_token": ("too-short-a-secret", "32 to 1024 visible ASCII characters"),
    "log_level": ("LOUD", "DEBUG, INFO, WARNING, ERROR"),
    "log_format": ("xml", "one of json, text"),
    "freshness_days": ("kidney=14", "unknown input 'kidney'"),
}
JWT = {
    "LENADEX_AUTH": "jwt",
    "LENADEX_TRUSTED_ISSUERS": SANDBOX_ISSUER,
    "LENADEX_JWKS": str(SANDBOX_JWKS),
    "LENADEX_PUBLIC_BASE_URL": "https://cds.hospital.example",
}
# Settings whose values are only wrong together with others (LENADEX_AUTH=jwt): what to set, the
# variable the line names, and what it says.
CROSS_FIELD: dict[str, tuple[dict[str, str], str, str]] = {
    "trusted_issuers": ({**JWT, "LENADEX_TRUSTED_ISSUERS": ""}, "LENADEX_TRUSTED_ISSUERS", "is empty"),
    "jwks": ({**JWT, "LENADEX_JWKS": "/nowhere/jwks.json"}, "LENADEX_JWKS", "cannot read JWKS file"),
    "public_base_url": ({**JWT, "LENADEX_PUBLIC_BASE_URL": ""}, "LENADEX_PUBLIC_BASE_URL", "when LENADEX_AUTH=jwt"),
}
# Any text is a valid value.
FREE_FORM = {"audit_salt"}


def test_every_setting_has_a_bad_value_case() -> None:
    assert set(BAD_VALUES) | set(CROSS_FIELD) | FREE_FORM == set(Settings.model_fields)


def assert_refused(result: subprocess.CompletedProcess[str], variable: str, allowed: str) -> str:
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"lenadex: {variable}"), lines[0]
    assert allowed in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_a_bad_value_is_one_line_naming_the_variable_and_exit_code_2(tmp_path: Path, name: str) -> None:
    value, allowed = BAD_VALUES[name]
    result = lenadex(tmp_path, "check-config", **{f"LENADEX_{name.upper()}": value})
    line = assert_refused(result, f"LENADEX_{name.upper()}: ", allowed)
    if name in ("database_url", "reports_token"):
        assert value not in line and SECRET not in result.stdout + result.stderr
    assert not (tmp_path / "var").exists()


@pytest.mark.parametrize("name", sorted(CROSS_FIELD))
def test_a_setting_wrong_with_jwt_auth_is_one_line_naming_it(tmp_path: Path, name: str) -> None:
    settings, variable, says = CROSS_FIELD[name]
    assert_refused(lenadex(tmp_path, "check-config", **settings), variable, says)


@pytest.mark.parametrize("subcommand", ["serve", "migrate"])
def test_serve_and_migrate_refuse_a_bad_value_before_touching_the_store(tmp_path: Path, subcommand: str) -> None:
    result = lenadex(tmp_path, subcommand, LENADEX_FETCH_MAX_PAGES="ten")
    assert_refused(result, "LENADEX_FETCH_MAX_PAGES:", "a whole number of at least 1, not 'ten'")
    assert result.stdout == ""  # serve did not announce itself
    assert not (tmp_path / "var").exists()


def test_serve_refuses_an_unreadable_jwks_file_before_the_workers_fail(tmp_path: Path) -> None:
    result = lenadex(tmp_path, "serve", **{**JWT, "LENADEX_JWKS": str(tmp_path / "missing.json")})
    assert_refused(result, "LENADEX_JWKS:", "cannot read JWKS file")


def test_several_bad_values_are_still_one_line_naming_each(tmp_path: Path) -> None:
    result = lenadex(tmp_path, "serve", LENADEX_PORT="http", LENADEX_SANDBOX_PAGE="perhaps")
    line = assert_refused(result, "LENADEX_", "LENADEX_PORT: must be a whole number")
    assert "LENADEX_SANDBOX_PAGE: must be true or false" in line


# --- unknown variables ---------------------------------------------------------------------


def test_a_mistyped_variable_warns_naming_the_closest_setting(tmp_path: Path) -> None:
    result = lenadex(tmp_path, "check-config", LENADEX_DATABSE_URL=f"postgresql+psycopg://u:{SECRET}@db/x")
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "lenadex: warning: LENADEX_DATABSE_URL is not a setting and is ignored; did you mean LENADEX_DATABASE_URL?"
    ]
    assert SECRET not in result.stdout + result.stderr


def test_a_variable_like_no_setting_warns_without_a_guess(tmp_path: Path) -> None:
    result = lenadex(tmp_path, "check-config", LENADEX_ZZYZX="1")
    assert result.returncode == 0, result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("lenadex: warning: LENADEX_ZZYZX is not a setting and is ignored")
    assert "did you mean" not in line


def test_our_variables_that_are_not_settings_and_lowercase_settings_do_not_warn(tmp_path: Path) -> None:
    ours = {name: "1" for name in NOT_SETTINGS}
    assert "LENADEX_TEST_POSTGRES_URL" in ours  # what this very test suite reads
    result = lenadex(tmp_path, "check-config", **ours, lenadex_log_level="debug")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "logs        DEBUG, json" in result.stdout  # the lowercase name is read as the setting


def test_the_service_starts_despite_a_mistyped_variable_and_warns_once(tmp_path: Path) -> None:
    with serving(
        sqlite_url(tmp_path), tmp_path, workers=1, auth=False, settings={"LENADEX_LOG_FORMATT": "text"}
    ) as server:
        assert requests.get(server.base_url + "/cds-services", timeout=10).status_code == 200
    lines = server.log_path.read_text().splitlines()
    warnings = [line for line in lines if line.startswith("lenadex: warning")]
    assert warnings == [
        "lenadex: warning: LENADEX_LOG_FORMATT is not a setting and is ignored; did you mean LENADEX_LOG_FORMAT?"
    ]
    assert any(line.startswith("{") for line in lines)  # the typo changed nothing: JSON logs


# --- migrations ----------------------------------------------------------------------------


def test_migrate_brings_an_empty_store_to_the_newest_revision_and_exits(tmp_path: Path) -> None:
    first = lenadex(tmp_path, "migrate")
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines() == [
        f"lenadex: the store {sqlite_url(tmp_path)} is at revision {NEWEST} (the newest; migrated from an empty store)"
    ]
    assert revision_of(sqlite_url(tmp_path)) == NEWEST
    again = lenadex(tmp_path, "migrate")
    assert again.returncode == 0, again.stderr
    assert f"is at revision {NEWEST} (the newest; nothing to migrate)" in again.stdout


@needs_postgres
@pytest.mark.postgres
def test_migrate_on_postgresql(tmp_path: Path) -> None:
    with postgres_schema() as url:
        migrate_to(url, shipped_revisions()[0])
        result = lenadex(tmp_path, "migrate", LENADEX_DATABASE_URL=url)
        assert result.returncode == 0, result.stderr
        assert f"is at revision {NEWEST} (the newest; migrated from {shipped_revisions()[0]})" in result.stdout
        assert "search_path" not in result.stdout  # the URL's query is not shown (it may hold a password)
        assert revision_of(url) == NEWEST


def test_with_migrate_at_start_false_an_unmigrated_store_is_refused_in_one_line(tmp_path: Path) -> None:
    result = lenadex(tmp_path, "serve", LENADEX_MIGRATE_AT_START="false")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        (
            f"lenadex: the store has no schema yet, not at the newest ({NEWEST}), and LENADEX_MIGRATE_AT_START "
            "is false: run `lenadex migrate` first"
        )
    ]
    assert result.stdout == ""
    assert not (tmp_path / "var" / "store.sqlite3").exists()  # not even an empty file


def test_a_rolling_deploy_older_schema_refused_then_migrate_then_serve(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    (tmp_path / "var").mkdir()
    older = shipped_revisions()[-2]
    migrate_to(url, older)
    refused = lenadex(tmp_path, "serve", LENADEX_MIGRATE_AT_START="false")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert refused.stderr.splitlines() == [
        (
            f"lenadex: the store's schema is at revision {older}, not at the newest ({NEWEST}), and "
            "LENADEX_MIGRATE_AT_START is false: run `lenadex migrate` first"
        )
    ]
    assert revision_of(url) == older  # the refused start changed nothing
    checked = lenadex(tmp_path, "check-config", LENADEX_MIGRATE_AT_START="false")
    assert checked.returncode == 2 and "run `lenadex migrate` first" in checked.stderr

    migrated = lenadex(tmp_path, "migrate")
    assert migrated.returncode == 0, migrated.stderr
    assert f"migrated from {older}" in migrated.stdout
    with serving(url, tmp_path, workers=1, auth=False, settings={"LENADEX_MIGRATE_AT_START": "false"}) as server:
        assert requests.get(server.base_url + "/healthz", timeout=10).json() == {"status": "ok"}
    assert revision_of(url) == NEWEST


def test_the_default_start_migrates_an_older_schema(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path)
    (tmp_path / "var").mkdir()
    migrate_to(url, shipped_revisions()[0])
    with serving(url, tmp_path, workers=1, auth=False) as server:
        assert requests.get(server.base_url + "/healthz", timeout=10).status_code == 200
    assert revision_of(url) == NEWEST


@pytest.mark.parametrize("subcommand", ["serve", "migrate", "check-config"])
def test_a_schema_newer_than_this_lenadex_is_refused_in_one_line(tmp_path: Path, subcommand: str) -> None:
    assert lenadex(tmp_path, "migrate").returncode == 0
    with sqlite3.connect(tmp_path / "var" / "store.sqlite3") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    result = lenadex(tmp_path, subcommand)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.splitlines()
    assert line.startswith("lenadex: the store's schema is at revision 9999, which lenadex ")
    assert f"its newest is {NEWEST}" in line


def test_an_unreachable_store_is_one_line_without_the_password(tmp_path: Path) -> None:
    # Nothing listens on port 9 (discard): the connection is refused at once.
    url = f"postgresql+psycopg://lenadex:{SECRET}@127.0.0.1:9/lenadex"
    for subcommand, code in (("check-config", 2), ("migrate", 1), ("serve", 1)):
        result = lenadex(tmp_path, subcommand, LENADEX_DATABASE_URL=url)
        assert result.returncode == code, (subcommand, result.stdout + result.stderr)
        [line] = result.stderr.splitlines()
        assert line.startswith(
            "lenadex: LENADEX_DATABASE_URL: the store postgresql+psycopg://lenadex:***@127.0.0.1:9/lenadex "
            "cannot be reached: "
        ), line
        assert SECRET not in result.stdout + result.stderr


# --- check-config and --version ------------------------------------------------------------


def test_check_config_prints_a_summary_without_secrets_and_creates_nothing(tmp_path: Path) -> None:
    salt = "a-salt-that-must-stay-secret-0123456789"
    result = lenadex(
        tmp_path,
        "check-config",
        LENADEX_REPORTS_TOKEN=OPERATOR_TOKEN,
        LENADEX_AUDIT_SALT=salt,
        **{k: v for k, v in JWT.items()},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0] == f"lenadex: configuration OK (lenadex {version('lenadex')})"
    assert (
        f"  store       {sqlite_url(tmp_path)}: no file yet (the first start creates it, at revision {NEWEST})" in lines
    )
    assert "  auth        jwt, 1 trusted issuer(s), aud https://cds.hospital.example" in lines
    assert "  reports     operator token set" in lines
    assert OPERATOR_TOKEN not in result.stdout and salt not in result.stdout
    assert not (tmp_path / "var").exists()


def test_check_config_reads_the_revision_of_an_existing_store(tmp_path: Path) -> None:
    assert lenadex(tmp_path, "migrate").returncode == 0
    result = lenadex(tmp_path, "check-config", LENADEX_MIGRATE_AT_START="false")
    assert result.returncode == 0, result.stderr
    assert f"  store       {sqlite_url(tmp_path)}: reachable, schema at revision {NEWEST} (the newest)" in result.stdout
    assert "  migrations  not at start (lenadex migrate)" in result.stdout


def test_version_prints_the_installed_version() -> None:
    result = subprocess.run([str(LENADEX), "--version"], check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"lenadex {version('lenadex')}\n"
