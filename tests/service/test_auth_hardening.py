"""Client JWT authentication, the hardened checks: each JWKS bound to its issuer, ``aud`` from
the configured public URL only, NumericDate claims that are real times with a short lifetime,
and an oversized token refused like any other.

Every test here fails on a service that trusted any configured key for any trusted issuer,
took ``aud`` from the Host header, let PyJWT read ``exp`` however it could, or had gunicorn
answer a long header with its HTML page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import flask
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Flask

from service import cli
from service.app import create_app
from service.settings import Settings

from .conftest import SANDBOX_ISSUER
from .test_auth import (
    DISCOVERY,
    SANDBOX_JWKS,
    Token,
    _get,
    _jwk,
    _settings,
    _write_jwks,
    assert_refused,
    auth_log,  # noqa: F401  (the autouse fixture that captures the refusal reasons)
    auth_options,
    reasons,
    sandbox_private_key,  # noqa: F401  (the sandbox key from tests/fixtures/)
)

EHR = "https://ehr.example"


@pytest.fixture
def make_jwt_app(tmp_path: Path) -> Callable[..., Flask]:
    return lambda **changes: create_app(_settings(tmp_path, **changes))


@pytest.fixture
def jwt_app(make_jwt_app: Callable[..., Flask]) -> Flask:
    return make_jwt_app()


@pytest.fixture
def ehr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


@pytest.fixture
def two_issuers(tmp_path: Path, ehr_key: ec.EllipticCurvePrivateKey) -> Flask:
    """The public sandbox and an EHR, each with its own JWKS."""
    ehr_jwks = _write_jwks(tmp_path / "ehr.json", _jwk(ehr_key.public_key(), "ehr-1", "ES384"))
    return create_app(
        _settings(
            tmp_path,
            trusted_issuers=f"{SANDBOX_ISSUER},{EHR}",
            jwks=f"{SANDBOX_ISSUER}={SANDBOX_JWKS},{EHR}={ehr_jwks}",
        )
    )


# --- each JWKS belongs to one issuer -------------------------------------------------------


def test_an_issuer_is_not_accepted_with_another_issuers_key(
    two_issuers: Flask, sandbox_token: Token, ehr_key: Any, auth_log: pytest.LogCaptureFixture
) -> None:
    assert _get(two_issuers, sandbox_token(DISCOVERY)).status_code == 200
    assert _get(two_issuers, sandbox_token(DISCOVERY, key=ehr_key, kid="ehr-1", jku=None, iss=EHR)).status_code == 200
    # The sandbox's key is public: signing for the EHR with it must not work.
    assert_refused(_get(two_issuers, sandbox_token(DISCOVERY, iss=EHR, jku=None)))
    assert_refused(_get(two_issuers, sandbox_token(DISCOVERY, key=ehr_key, kid="ehr-1", jku=None)))
    assert reasons(auth_log).count("unknown kid") == 2


def test_an_unbound_jwks_with_several_issuers_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LENADEX_JWKS entry .* names no issuer, and 2 issuers are trusted"):
        create_app(_settings(tmp_path, trusted_issuers=f"{SANDBOX_ISSUER},{EHR}", jwks=str(SANDBOX_JWKS)))
    with pytest.raises(ValueError, match="is not in LENADEX_TRUSTED_ISSUERS"):
        create_app(_settings(tmp_path, jwks=f"{EHR}={SANDBOX_JWKS}"))
    with pytest.raises(ValueError, match=f"no JWKS for the trusted issuer.*{EHR}"):
        create_app(
            _settings(tmp_path, trusted_issuers=f"{SANDBOX_ISSUER},{EHR}", jwks=f"{SANDBOX_ISSUER}={SANDBOX_JWKS}")
        )


def test_an_ambiguous_configuration_stops_serve_with_one_line_and_exit_code_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def never_serve(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the service started")

    monkeypatch.setattr(flask.Flask, "run", never_serve)
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "LENADEX_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        **{
            f"LENADEX_{key.upper()}": value
            for key, value in auth_options(trusted_issuers=f"{SANDBOX_ISSUER},{EHR}").items()
        },
    }.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["serve", "--workers", "1"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and error.startswith("lenadex: LENADEX_JWKS ")


# --- aud: the configured public URL, never the Host header ----------------------------------


def test_jwt_auth_without_a_public_base_url_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="LENADEX_PUBLIC_BASE_URL must be the http"):
        _settings(tmp_path, public_base_url="")
    with pytest.raises(ValueError, match="LENADEX_PUBLIC_BASE_URL"):
        _settings(tmp_path, public_base_url="cds.hospital.example")
    # Settings that skipped validation still do not fall back to the Host header.
    unchecked = Settings.model_construct(
        database_url=f"sqlite:///{tmp_path / 'unchecked.sqlite3'}", **auth_options(public_base_url="")
    )
    with pytest.raises(ValueError, match="LENADEX_PUBLIC_BASE_URL is required"):
        create_app(unchecked)


def test_the_host_header_does_not_make_the_aud(
    tmp_path: Path, make_jwt_app: Callable[..., Flask], sandbox_token: Token
) -> None:
    # Without a public base URL the only other source of the aud would be the Host header,
    # which the caller chooses: the service does not start.
    with pytest.raises(ValueError, match="LENADEX_PUBLIC_BASE_URL"):
        create_app(_settings(tmp_path, public_base_url=""))
    app = make_jwt_app(public_base_url="https://cds.hospital.example")
    client = app.test_client()
    for host in ("attacker.example", "localhost", "cds.hospital.example"):
        token = sandbox_token(f"http://{host}/cds-services")
        assert_refused(client.get("/cds-services", headers={"Host": host, "Authorization": f"Bearer {token}"}))
    token = sandbox_token("https://cds.hospital.example/cds-services")
    assert (
        client.get(
            "/cds-services", headers={"Host": "attacker.example", "Authorization": f"Bearer {token}"}
        ).status_code
        == 200
    )


# --- exp and iat ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        ("exp", lambda now: str(now + 300)),
        ("exp", lambda now: now + 299.5),
        ("iat", lambda now: str(now)),
        ("iat", lambda now: now + 0.25),
    ],
    ids=["exp-string", "exp-fraction", "iat-string", "iat-fraction"],
)
def test_exp_and_iat_must_be_whole_numbers(
    jwt_app: Flask, sandbox_token: Token, claim: str, value: Callable[[int], Any], auth_log: pytest.LogCaptureFixture
) -> None:
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, **{claim: value(int(time.time()))})))
    assert claim in reasons(auth_log)


def test_whole_numbers_written_as_floats_are_accepted_fractions_not(jwt_app: Flask, sandbox_token: Token) -> None:
    """JSON has one number type: 1.7e9 is as whole as 1700000000 (documented choice)."""
    now = int(time.time())
    assert _get(jwt_app, sandbox_token(DISCOVERY, iat=float(now), exp=float(now + 300))).status_code == 200
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=float(now), exp=now + 300.5)))


@pytest.mark.parametrize("exp", [2**53 + 1, 2**63, 10**30], ids=["2^53+1", "2^63", "10^30"])
def test_exp_beyond_2_to_the_53_is_refused_not_stored(
    make_app: Callable[..., Flask], sandbox_token: Token, exp: int, auth_log: pytest.LogCaptureFixture
) -> None:
    """On SQLite and PostgreSQL alike (make_app runs on both): no 500 from the replay store."""
    app = make_app(**auth_options())
    assert_refused(_get(app, sandbox_token(DISCOVERY, exp=exp)))
    assert_refused(_get(app, sandbox_token(DISCOVERY, iat=exp, exp=exp)))
    assert reasons(auth_log).count("out of range") == 2


def test_a_token_valid_for_more_than_five_minutes_is_refused(
    jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture
) -> None:
    now = int(time.time())
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=now, exp=now + 600)))
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=now, exp=99_999_999_999)))  # the year 5138
    assert reasons(auth_log).count("lifetime") == 2
    # Five minutes plus the leeway is the longest accepted.
    assert _get(jwt_app, sandbox_token(DISCOVERY, iat=now, exp=now + 330)).status_code == 200
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=now, exp=now + 331)))


def test_the_longest_lifetime_is_a_setting(make_jwt_app: Callable[..., Flask], sandbox_token: Token) -> None:
    app = make_jwt_app(jwt_max_lifetime_seconds=600, jwt_leeway_seconds=0)
    now = int(time.time())
    assert _get(app, sandbox_token(DISCOVERY, iat=now, exp=now + 600)).status_code == 200
    assert_refused(_get(app, sandbox_token(DISCOVERY, iat=now, exp=now + 601)))


# --- an oversized token --------------------------------------------------------------------


def _padded_token(sandbox_token: Token, size: int) -> str:
    """A validly signed sandbox token of about ``size`` characters."""
    bare = len(sandbox_token(DISCOVERY, padding=""))
    token = sandbox_token(DISCOVERY, padding="x" * ((size - bare) * 3 // 4 + 3))
    assert size <= len(token) < size + 16
    return token


def test_a_9_kib_token_is_refused_with_the_json_401(
    jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture
) -> None:
    response = _get(jwt_app, _padded_token(sandbox_token, 9 * 1024))
    assert_refused(response)
    assert response.mimetype == "application/json"
    assert "longer than 8192 bytes" in reasons(auth_log)


def test_the_authorization_limit_is_a_setting(make_jwt_app: Callable[..., Flask], sandbox_token: Token) -> None:
    assert_refused(_get(make_jwt_app(max_authorization_bytes=4096), _padded_token(sandbox_token, 5 * 1024)))
    assert (
        _get(make_jwt_app(max_authorization_bytes=16 * 1024), _padded_token(sandbox_token, 9 * 1024)).status_code == 200
    )
