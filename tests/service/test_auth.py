"""Client JWT authentication (CONTRACT.md "Security", CDS Hooks 2.0.1 "Trusting CDS Clients").

Tokens are signed with the public CDS Hooks sandbox's published test key, exactly as the
sandbox signs them, unless a case needs another key. The key and its JWKS are the copies in
tests/fixtures/, so these tests need nothing outside the repository.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask
from pytest_httpserver import HTTPServer

from service.app import create_app
from service.auth import JwtVerifier
from service.settings import Settings

from .conftest import SANDBOX_ISSUER

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SANDBOX_JWKS = FIXTURES / "cds-hooks-sandbox-jwks.json"
SANDBOX_PRIVATE_KEY = FIXTURES / "cds-hooks-sandbox-test-private-key.pem"
# The base URL the tests' EHR calls: the Flask test client's host.
PUBLIC_BASE_URL = "http://localhost"
DISCOVERY = f"{PUBLIC_BASE_URL}/cds-services"
Token = Callable[..., str]


@pytest.fixture(scope="session")
def sandbox_private_key() -> PrivateKeyTypes:
    """The sandbox's test key from tests/fixtures/ (the conftest fixture of the same name reads
    it from outside the repository)."""
    return serialization.load_pem_private_key(SANDBOX_PRIVATE_KEY.read_bytes(), password=None)


def auth_options(**changes: Any) -> dict[str, Any]:
    """Settings of jwt authentication trusting the public sandbox, with changes."""
    return {
        "auth": "jwt",
        "jwks": str(SANDBOX_JWKS),
        "trusted_issuers": SANDBOX_ISSUER,
        "public_base_url": PUBLIC_BASE_URL,
        **changes,
    }


def _settings(tmp_path: Path, **changes: Any) -> Settings:
    return Settings(database_url=f"sqlite:///{tmp_path / 'auth.sqlite3'}", **auth_options(**changes))


@pytest.fixture
def make_jwt_app(tmp_path: Path) -> Callable[..., Flask]:
    return lambda **changes: create_app(_settings(tmp_path, **changes))


@pytest.fixture
def jwt_app(make_jwt_app: Callable[..., Flask]) -> Flask:
    return make_jwt_app()


def _get(app: Flask, token: str | None, path: str = "/cds-services") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return app.test_client().get(path, headers=headers)


def _jwk(public_key: Any, kid: str, alg: str) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.get_default_algorithms()[alg].to_jwk(public_key))
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


def _write_jwks(path: Path, *keys: dict[str, Any]) -> str:
    path.write_text(json.dumps({"keys": list(keys)}))
    return str(path)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture(autouse=True)
def auth_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="service.auth")
    return caplog


def reasons(caplog: pytest.LogCaptureFixture) -> str:
    """The refusal reasons logged so far (what the client is never told)."""
    return " | ".join(r.getMessage() for r in caplog.records if r.name == "service.auth")


def assert_refused(response: Any) -> None:
    assert response.status_code == 401
    assert response.json == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "login", "diagnostics": "authentication failed"}],
    }
    assert response.headers["WWW-Authenticate"] == "Bearer"


# --- accepted ------------------------------------------------------------------------------


def test_a_token_of_the_public_sandbox_is_accepted(jwt_app: Flask, sandbox_token: Token) -> None:
    assert _get(jwt_app, sandbox_token(DISCOVERY)).status_code == 200


def test_a_token_is_needed_on_every_cds_endpoint(jwt_app: Flask, sandbox_token: Token) -> None:
    client = jwt_app.test_client()
    assert_refused(client.get("/cds-services"))
    assert_refused(client.post("/cds-services/lenalidomide-order-select", json={}))
    assert_refused(client.post("/cds-services/lenalidomide-order-select/feedback", json={}))
    assert_refused(client.get("/rules"))
    feedback_url = "http://localhost/cds-services/lenalidomide-order-select/feedback"
    body = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2025-03-01T09:30:00Z"}
    accepted = client.post(feedback_url, json=body, headers={"Authorization": f"Bearer {sandbox_token(feedback_url)}"})
    assert accepted.status_code == 200


def test_health_metrics_preflight_and_sandbox_page_need_no_token(jwt_app: Flask) -> None:
    client = jwt_app.test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.options("/cds-services", headers={"Origin": "https://sandbox.cds-hooks.org"}).status_code == 204
    assert client.options("/cds-services/lenalidomide-order-select").status_code == 204
    assert client.get("/sandbox").status_code != 401


def test_auth_is_off_by_default(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'off.sqlite3'}"))
    assert Settings.model_fields["auth"].default == "off"
    assert _get(app, None).status_code == 200


def test_exp_and_iat_have_a_small_leeway(jwt_app: Flask, sandbox_token: Token) -> None:
    now = int(time.time())
    assert _get(jwt_app, sandbox_token(DISCOVERY, iat=now - 310, exp=now - 10)).status_code == 200
    assert _get(jwt_app, sandbox_token(DISCOVERY, iat=now + 10, exp=now + 310)).status_code == 200


def test_aud_is_compared_without_a_trailing_slash(jwt_app: Flask, sandbox_token: Token) -> None:
    assert _get(jwt_app, sandbox_token(DISCOVERY + "/")).status_code == 200
    assert _get(jwt_app, sandbox_token(["https://other.example/cds-services", DISCOVERY])).status_code == 200


def test_behind_a_proxy_aud_is_the_public_url(make_jwt_app: Callable[..., Flask], sandbox_token: Token) -> None:
    app = make_jwt_app(public_base_url="https://cds.hospital.example/lenadex/")
    assert _get(app, sandbox_token("https://cds.hospital.example/lenadex/cds-services")).status_code == 200
    assert_refused(_get(app, sandbox_token(DISCOVERY)))


def test_rs384_with_an_rsa_key_is_accepted(
    make_jwt_app: Callable[..., Flask], sandbox_token: Token, tmp_path: Path
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = _write_jwks(tmp_path / "ehr.json", _jwk(key.public_key(), "ehr-rsa-1", "RS384"))
    app = make_jwt_app(
        jwks=f"{SANDBOX_ISSUER}={SANDBOX_JWKS},https://ehr.example={jwks}",
        trusted_issuers=f"{SANDBOX_ISSUER},https://ehr.example",
    )
    token = sandbox_token(DISCOVERY, key=key, alg="RS384", kid="ehr-rsa-1", jku=None, iss="https://ehr.example")
    assert _get(app, token).status_code == 200
    # The same key with another algorithm, or a key of the wrong kind, is refused.
    assert_refused(
        _get(app, sandbox_token(DISCOVERY, key=key, alg="RS256", kid="ehr-rsa-1", jku=None, iss="https://ehr.example"))
    )
    assert_refused(
        _get(app, sandbox_token(DISCOVERY, alg="ES384", kid="ehr-rsa-1", jku=None, iss="https://ehr.example"))
    )


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_rsa_keys_shorter_than_2048_bits_are_refused(
    make_jwt_app: Callable[..., Flask], sandbox_token: Token, tmp_path: Path, auth_log: pytest.LogCaptureFixture
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    jwks = _write_jwks(tmp_path / "weak.json", _jwk(key.public_key(), "weak", "RS384"))
    app = make_jwt_app(jwks=jwks)
    assert_refused(_get(app, sandbox_token(DISCOVERY, key=key, alg="RS384", kid="weak", jku=None)))
    assert "at least 2048 bits" in reasons(auth_log)


# --- refused -------------------------------------------------------------------------------


def test_expired_token(jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture) -> None:
    now = int(time.time())
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=now - 400, exp=now - 100)))
    assert "expired" in reasons(auth_log)


def test_token_issued_in_the_future(jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture) -> None:
    now = int(time.time())
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iat=now + 120, exp=now + 420)))
    assert "iat is in the future" in reasons(auth_log)


def test_wrong_aud(jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture) -> None:
    assert_refused(_get(jwt_app, sandbox_token("http://localhost/cds-services/lenalidomide-order-select")))
    assert_refused(_get(jwt_app, sandbox_token("https://elsewhere.example/cds-services")))
    assert reasons(auth_log).count("aud is not the URL called") == 2


def test_wrong_iss(jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture) -> None:
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, iss="https://evil.example")))
    assert "issuer 'https://evil.example' is not trusted" in reasons(auth_log)


def test_sandbox_issuer_not_trusted_unless_configured(make_jwt_app: Callable[..., Flask], sandbox_token: Token) -> None:
    app = make_jwt_app(trusted_issuers="https://ehr.hospital.example")
    assert_refused(_get(app, sandbox_token(DISCOVERY)))


def test_unknown_kid(jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture) -> None:
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, kid="not-a-known-key", jku=None)))
    assert "unknown kid 'not-a-known-key'" in reasons(auth_log)


def test_tampered_signature_and_payload(
    jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture
) -> None:
    header, payload, signature = sandbox_token(DISCOVERY).split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=="))
    raw[10] ^= 0x01
    assert_refused(_get(jwt_app, f"{header}.{payload}.{_b64(bytes(raw))}"))
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    forged = _b64(json.dumps({**claims, "iss": SANDBOX_ISSUER, "exp": claims["exp"] + 86400}).encode())
    assert_refused(_get(jwt_app, f"{header}.{forged}.{signature}"))
    assert reasons(auth_log).count("InvalidSignatureError") == 2


def test_alg_none(jwt_app: Flask, auth_log: pytest.LogCaptureFixture) -> None:
    now = int(time.time())
    claims = {"iss": SANDBOX_ISSUER, "aud": DISCOVERY, "iat": now, "exp": now + 300, "jti": "none-1"}
    token = jwt.encode(claims, None, algorithm="none", headers={"kid": "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"})
    assert_refused(_get(jwt_app, token))
    assert_refused(_get(jwt_app, token.rstrip(".") + ".c2lnbmF0dXJl"))
    assert reasons(auth_log).count("algorithm 'none' not allowed") == 2


def test_hmac_signed_with_the_public_key_as_secret(jwt_app: Flask, auth_log: pytest.LogCaptureFixture) -> None:
    """The classic algorithm confusion: HS256 keyed with the (public) JWKS key."""
    now = int(time.time())
    jwk = json.loads(SANDBOX_JWKS.read_text())["keys"][0]
    public_pem = jwt.algorithms.ECAlgorithm.from_jwk(jwk).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for secret in (public_pem, json.dumps(jwk).encode()):
        header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": jwk["kid"]}).encode())
        payload = _b64(
            json.dumps(
                {"iss": SANDBOX_ISSUER, "aud": DISCOVERY, "iat": now, "exp": now + 300, "jti": f"hs-{len(secret)}"}
            ).encode()
        )
        signature = _b64(hmac.new(secret, f"{header}.{payload}".encode(), hashlib.sha256).digest())
        assert_refused(_get(jwt_app, f"{header}.{payload}.{signature}"))
    assert reasons(auth_log).count("algorithm 'HS256' not allowed") == 2


def test_missing_or_malformed_credentials(jwt_app: Flask, sandbox_token: Token) -> None:
    client = jwt_app.test_client()
    assert_refused(client.get("/cds-services"))
    assert_refused(client.get("/cds-services", headers={"Authorization": "Basic dXNlcjpwYXNz"}))
    assert_refused(client.get("/cds-services", headers={"Authorization": "Bearer"}))
    assert_refused(_get(jwt_app, "not.a.jwt"))
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, jti=None)))
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, exp=None)))
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, typ="at+jwt")))
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, kid=None, jku=None)))


def test_a_token_signed_with_another_key_under_the_sandbox_kid(
    jwt_app: Flask, sandbox_token: Token, auth_log: pytest.LogCaptureFixture
) -> None:
    impostor = ec.generate_private_key(ec.SECP384R1())
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, key=impostor)))
    assert "InvalidSignatureError" in reasons(auth_log)


# --- replay --------------------------------------------------------------------------------


def test_a_replayed_jti_is_refused_also_by_another_instance_sharing_the_store(
    make_app: Callable[..., Flask], sandbox_token: Token, auth_log: pytest.LogCaptureFixture
) -> None:
    first, second = make_app(**auth_options()), make_app(**auth_options())
    token = sandbox_token(DISCOVERY)
    assert _get(first, token).status_code == 200
    assert_refused(_get(first, token))
    assert_refused(_get(second, token))
    fresh = sandbox_token(DISCOVERY)
    assert _get(second, fresh).status_code == 200
    assert_refused(_get(first, fresh))
    assert reasons(auth_log).count("jti replayed") == 3


def test_a_refused_token_does_not_use_up_its_jti(jwt_app: Flask, sandbox_token: Token) -> None:
    """Otherwise anyone who saw a jti could burn it with a broken token."""
    now = int(time.time())
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, jti="j-1", iss="https://evil.example")))
    assert _get(jwt_app, sandbox_token(DISCOVERY, jti="j-1", iat=now)).status_code == 200


# --- jku -----------------------------------------------------------------------------------


@pytest.fixture
def ehr_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def test_an_allow_listed_jku_is_fetched_cached_and_refreshed_for_a_new_kid(
    make_jwt_app: Callable[..., Flask], sandbox_token: Token, httpserver: HTTPServer, ehr_key: Any
) -> None:
    jku = httpserver.url_for("/.well-known/jwks.json")
    httpserver.expect_request("/.well-known/jwks.json").respond_with_json(
        {"keys": [_jwk(ehr_key.public_key(), "k1", "ES384")]}
    )
    app = make_jwt_app(jwks=jku, trusted_issuers="https://ehr.example")

    def token(kid: str, key: Any = ehr_key) -> str:
        return sandbox_token(DISCOVERY, key=key, kid=kid, jku=jku, iss="https://ehr.example")

    assert _get(app, token("k1")).status_code == 200
    assert _get(app, token("k1")).status_code == 200
    assert len(httpserver.log) == 1  # cached

    # The EHR rotates its key. A kid we lack makes us fetch again, but not more than every
    # few seconds, so made-up kids cannot make us hammer the EHR.
    rotated = ec.generate_private_key(ec.SECP384R1())
    httpserver.clear_all_handlers()
    httpserver.expect_request("/.well-known/jwks.json").respond_with_json(
        {"keys": [_jwk(rotated.public_key(), "k2", "ES384")]}
    )
    assert_refused(_get(app, token("k2", rotated)))
    assert len(httpserver.log) == 1
    verifier: JwtVerifier = app.extensions["lenadex.auth"]
    verifier.keys["https://ehr.example"].remote[jku].min_refresh_seconds = 0
    assert _get(app, token("k2", rotated)).status_code == 200
    assert len(httpserver.log) == 2


def test_a_jku_that_is_not_allow_listed_is_never_fetched(
    jwt_app: Flask, sandbox_token: Token, httpserver: HTTPServer, ehr_key: Any, auth_log: pytest.LogCaptureFixture
) -> None:
    jku = httpserver.url_for("/attacker/jwks.json")
    httpserver.expect_request("/attacker/jwks.json").respond_with_json(
        {"keys": [_jwk(ehr_key.public_key(), "attacker", "ES384")]}
    )
    assert_refused(_get(jwt_app, sandbox_token(DISCOVERY, key=ehr_key, kid="attacker", jku=jku)))
    assert httpserver.log == []
    assert "is not allow-listed in LENADEX_JWKS" in reasons(auth_log)


def test_a_jwks_url_that_does_not_answer_refuses_tokens(
    make_jwt_app: Callable[..., Flask], sandbox_token: Token, ehr_key: Any
) -> None:
    jku = "http://127.0.0.1:9/jwks.json"
    app = make_jwt_app(jwks=jku, trusted_issuers="https://ehr.example", fetch_timeout_seconds=1)
    assert_refused(_get(app, sandbox_token(DISCOVERY, key=ehr_key, kid="k1", jku=jku, iss="https://ehr.example")))


# --- what is logged ------------------------------------------------------------------------


def test_the_reason_is_logged_at_info_and_the_token_never(
    jwt_app: Flask, sandbox_token: Token, caplog: pytest.LogCaptureFixture
) -> None:
    token = sandbox_token("https://elsewhere.example/cds-services")
    with caplog.at_level(logging.DEBUG):
        assert_refused(_get(jwt_app, token))
    reasons = [r for r in caplog.records if r.name == "service.auth"]
    assert [r.levelno for r in reasons] == [logging.INFO]
    assert "aud" in reasons[0].getMessage()
    for record in caplog.records:
        text = record.getMessage() + str(record.__dict__)
        assert token not in text and token.split(".")[2] not in text


# --- configuration -------------------------------------------------------------------------


@pytest.mark.parametrize("missing", ["jwks", "trusted_issuers"])
def test_jwt_auth_without_keys_or_issuers_does_not_start(tmp_path: Path, missing: str) -> None:
    with pytest.raises(ValueError, match=f"LENADEX_{missing.upper()} is empty"):
        create_app(_settings(tmp_path, **{missing: ""}))


def test_a_jwks_file_that_cannot_be_read_does_not_start(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read JWKS file"):
        create_app(_settings(tmp_path, jwks=str(tmp_path / "missing.json")))


def test_store_down_during_authentication_is_503_not_401(
    jwt_app: Flask, sandbox_token: Token, break_store: Callable[[Flask], None]
) -> None:
    break_store(jwt_app)
    response = _get(jwt_app, sandbox_token(DISCOVERY))
    assert response.status_code == 503
    assert response.json["resourceType"] == "OperationOutcome"
