"""Client authentication: the EHR's JWT, as CDS Hooks 2.0.1 "Trusting CDS Clients" asks.

With ``LENADEX_AUTH=jwt`` every request carries ``Authorization: Bearer <JWT>``, except
/livez, /readyz, /healthz, /metrics, the /sandbox page and CORS preflights (a browser sends no
credentials in a preflight). A token is accepted when all of these hold:

- the Authorization header is at most LENADEX_MAX_AUTHORIZATION_BYTES long;
- ``iss`` is in LENADEX_TRUSTED_ISSUERS, and the token is verified only with the keys of that
  issuer: LENADEX_JWKS binds each JWKS (a file, or an URL) to one issuer, so a key of one
  trusted client can never sign for another;
- header ``alg`` is ES384 or RS384 (never ``none``, never HMAC: an HMAC "signature" made with
  our own public key as the secret would otherwise verify), ``typ`` is JWT when present, and
  ``kid`` names a key of that issuer's JWKS;
- a ``jku`` header is followed only when it is one of that issuer's URLs. A jku that is not
  listed is never fetched; the token can then only be verified with a key we already hold (the
  public CDS Hooks sandbox always sends its jku, and its key may be configured as a file);
- the signature verifies; ``aud`` is the URL called, LENADEX_PUBLIC_BASE_URL + path (never
  the Host header, which the caller chooses), compared without a trailing slash;
- ``exp`` and ``iat`` are integral JSON numbers between 0 and 2^53 (not strings; 1.7e9 is
  fine, 1.5 is not), ``iat`` is not in the future and ``exp`` not in the past beyond the
  leeway, and ``exp - iat`` is at most LENADEX_JWT_MAX_LIFETIME_SECONDS plus the leeway;
- ``jti`` has not been seen before the token expired. The record of seen ids is in the store,
  so a token replayed to another worker or replica is refused too.

A refusal is a 401 whose OperationOutcome says only "authentication failed"; the reason is
logged at info level. The token itself is never logged.

The governance report (/reports, service/reports.py) is not for the EHR: it takes no JWT but
the operator's own credential, LENADEX_REPORTS_TOKEN (``report_refusal``), so an EHR's token
alone never opens it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from flask import Flask, Response, request

from service.errors import error_response
from service.settings import Settings
from service.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

ALGORITHMS = ("ES384", "RS384")
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "jti"]
MIN_RSA_BITS = 2048
# The largest integer a JSON number carries exactly in every client (IEEE double): a NumericDate
# beyond it is no real time, and would overflow 64-bit columns once the leeway is added.
MAX_NUMERIC_DATE = 2**53
# Paths a load balancer, a scraper or a browser must reach without a token.
OPEN_PATHS = ("/livez", "/readyz", "/healthz", "/metrics")
OPEN_PREFIXES = ("/sandbox",)
# Paths with a credential of their own instead of the EHR's JWT (checked by report_refusal).
REPORT_PREFIX = "/reports"
REPORT_REALM = "lenadex governance report"


class AuthFailed(Exception):
    """Why a token was refused: for the log, never for the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _RemoteJwks:
    """The keys at one allow-listed JWKS URL, fetched on first use and again when the cached
    copy is older than the TTL, or when a token names a kid it lacks (the client rotated its
    keys) — but not more often than every ``min_refresh_seconds``, so tokens with made-up kids
    cannot make us hammer the client's server."""

    def __init__(self, url: str, *, cache_seconds: float, min_refresh_seconds: float, timeout: float) -> None:
        self.url = url
        self.cache_seconds = cache_seconds
        self.min_refresh_seconds = min_refresh_seconds
        self.timeout = timeout
        self._keys: dict[str, dict[str, Any]] = {}
        self._checked_at: float | None = None
        self._lock = threading.Lock()

    def find(self, kid: str) -> dict[str, Any] | None:
        with self._lock:
            now = time.monotonic()
            age = None if self._checked_at is None else now - self._checked_at
            if age is None or age >= self.cache_seconds or (kid not in self._keys and age >= self.min_refresh_seconds):
                self._refresh(now)
            return self._keys.get(kid)

    def _refresh(self, now: float) -> None:
        self._checked_at = now  # also after a failure: that is the back-off
        try:
            response = requests.get(self.url, timeout=self.timeout, headers={"Accept": "application/json"})
            response.raise_for_status()
            self._keys = keys_by_kid(response.json())
        except (requests.RequestException, ValueError) as error:
            log.warning(
                "JWKS %s could not be fetched (%s); keeping the keys fetched before", self.url, type(error).__name__
            )


def keys_by_kid(jwks: Any) -> dict[str, dict[str, Any]]:
    """The signing keys of a JWKS document, by kid (keys without a kid cannot be chosen)."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise ValueError('not a JWKS: expected {"keys": [...]}')
    return {
        key["kid"]: key
        for key in jwks["keys"]
        if isinstance(key, dict) and isinstance(key.get("kid"), str) and key.get("use", "sig") == "sig"
    }


class KeyRing:
    """Public keys by kid: JWKS files read at start-up, and JWKS URLs (the allowed jku)."""

    def __init__(
        self, sources: list[str], *, cache_seconds: float, timeout: float, min_refresh_seconds: float = 10.0
    ) -> None:
        self.file_keys: dict[str, dict[str, Any]] = {}
        self.remote: dict[str, _RemoteJwks] = {}
        for source in sources:
            if source.startswith(("https://", "http://")):
                if source.startswith("http://") and not source.startswith(("http://127.0.0.1", "http://localhost")):
                    log.warning("JWKS URL %s is not https: use it for testing only", source)
                self.remote[source] = _RemoteJwks(
                    source, cache_seconds=cache_seconds, min_refresh_seconds=min_refresh_seconds, timeout=timeout
                )
            else:
                try:
                    self.file_keys.update(keys_by_kid(json.loads(Path(source).read_text(encoding="utf-8"))))
                except (OSError, ValueError) as error:
                    raise ValueError(f"LENADEX_JWKS: cannot read JWKS file {source}: {error}") from None

    def find(self, kid: str, jku: str | None) -> dict[str, Any]:
        if kid in self.file_keys:
            return self.file_keys[kid]
        if jku is not None and jku not in self.remote:
            raise AuthFailed(f"jku {jku[:200]!r} is not allow-listed in LENADEX_JWKS")
        for url in [jku] if jku is not None else list(self.remote):
            key = self.remote[url].find(kid)
            if key is not None:
                return key
        raise AuthFailed(f"unknown kid {kid[:100]!r}")


def public_key(jwk: Mapping[str, Any], alg: str) -> Any:
    """The key of the JWK, refused unless it is the kind of key ``alg`` needs."""
    if jwk.get("alg") not in (None, alg):
        raise AuthFailed(f"key {jwk.get('kid')!r} is for {jwk.get('alg')}, token says {alg}")
    try:
        key = jwt.PyJWK(dict(jwk), algorithm=alg).key
    except jwt.PyJWTError as error:
        raise AuthFailed(f"key {jwk.get('kid')!r} does not fit {alg}: {type(error).__name__}") from None
    if alg == "ES384" and not (isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp384r1"):
        raise AuthFailed("ES384 needs a public P-384 key")
    if alg == "RS384" and not (isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS):
        raise AuthFailed(f"RS384 needs a public RSA key of at least {MIN_RSA_BITS} bits")
    return key


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")


def _numeric_date(claims: Mapping[str, Any], name: str) -> int:
    """A NumericDate claim as an int: an integral JSON number in [0, 2^53]; AuthFailed otherwise."""
    value = claims.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise AuthFailed(f"{name} is not a number")
    if isinstance(value, float) and not value.is_integer():  # also NaN and ±Infinity
        raise AuthFailed(f"{name} is not a whole number of seconds")
    if not 0 <= value <= MAX_NUMERIC_DATE:
        raise AuthFailed(f"{name} is out of range")
    return int(value)


class JwtVerifier:
    def __init__(self, config: Settings, store: Store, keys: Mapping[str, KeyRing] | None = None) -> None:
        sources = config.jwks_by_issuer()  # ValueError when a JWKS is unbound or ambiguous
        self.keys: dict[str, KeyRing] = (
            dict(keys)
            if keys is not None
            else {
                issuer: KeyRing(
                    issuer_sources, cache_seconds=config.jwks_cache_seconds, timeout=config.fetch_timeout_seconds
                )
                for issuer, issuer_sources in sources.items()
            }
        )
        self.leeway = config.jwt_leeway_seconds
        self.max_lifetime = config.jwt_max_lifetime_seconds
        self.max_authorization_bytes = config.max_authorization_bytes
        self.store = store

    def _issuer_keys(self, issuer: Any) -> tuple[str, KeyRing]:
        if isinstance(issuer, str):
            for trusted, ring in self.keys.items():
                if _same_url(issuer, trusted):
                    return trusted, ring
        raise AuthFailed(f"issuer {str(issuer)[:200]!r} is not trusted")

    def verify(self, authorization: str | None, called_url: str) -> dict[str, Any]:
        """The claims of a valid, first-seen token; AuthFailed otherwise."""
        if authorization is not None and len(authorization) > self.max_authorization_bytes:
            raise AuthFailed(f"Authorization header longer than {self.max_authorization_bytes} bytes")
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthFailed("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
            # Read unverified only to choose the issuer's keys; the same payload is verified below.
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise AuthFailed("malformed token") from None
        alg, kid, jku = header.get("alg"), header.get("kid"), header.get("jku")
        if alg not in ALGORITHMS:
            raise AuthFailed(f"algorithm {str(alg)[:20]!r} not allowed")
        if header.get("typ") is not None and str(header["typ"]).upper() != "JWT":
            raise AuthFailed("typ is not JWT")
        if not isinstance(kid, str) or not kid:
            raise AuthFailed("no kid")
        if jku is not None and not isinstance(jku, str):
            raise AuthFailed("jku is not a string")
        issuer, ring = self._issuer_keys(unverified.get("iss"))

        key = public_key(ring.find(kid, jku), alg)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[alg],
                # aud, iss and the times are checked below, with the rules of the contract
                # (PyJWT would take "exp": "99999999999" and overflow on an Infinity).
                options={
                    "require": REQUIRED_CLAIMS,
                    "verify_aud": False,
                    "verify_iss": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except (jwt.PyJWTError, ValueError, OverflowError) as error:
            raise AuthFailed(f"{type(error).__name__}: {error}"[:200]) from None

        if not isinstance(claims["iss"], str) or not _same_url(claims["iss"], issuer):
            raise AuthFailed("iss changed between reading and verifying")
        self._check_times(claims)
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if not any(isinstance(aud, str) and _same_url(aud, called_url) for aud in audiences):
            raise AuthFailed(f"aud is not the URL called ({called_url})")
        jti = claims["jti"]
        if not isinstance(jti, str) or not jti or len(jti) > 256:
            raise AuthFailed("jti is not a string of 1 to 256 characters")
        # Kept until the token can no longer pass the exp check, leeway included.
        if not self.store.claim_jti(claims["iss"], jti, _numeric_date(claims, "exp") + self.leeway):
            raise AuthFailed("jti replayed")
        return claims

    def _check_times(self, claims: Mapping[str, Any]) -> None:
        exp, iat = _numeric_date(claims, "exp"), _numeric_date(claims, "iat")
        now = int(time.time())
        if exp < now - self.leeway:
            raise AuthFailed("expired: exp is in the past")
        if iat > now + self.leeway:
            raise AuthFailed("not yet valid: iat is in the future")
        if "nbf" in claims and _numeric_date(claims, "nbf") > now + self.leeway:
            raise AuthFailed("not yet valid: nbf is in the future")
        if exp < iat:
            raise AuthFailed("exp is before iat")
        if exp - iat > self.max_lifetime + self.leeway:
            raise AuthFailed(f"lifetime exp - iat of {exp - iat} s is over {self.max_lifetime} s")


def called_url(config: Settings) -> str:
    """The URL the client called, as the ``aud`` it should have put in its token: always from
    LENADEX_PUBLIC_BASE_URL (required with auth on), never from the Host header."""
    return config.public_base_url.rstrip("/") + request.path


def needs_token(method: str, path: str) -> bool:
    """Whether the EHR's JWT is checked (the report paths check the operator's token instead)."""
    if method == "OPTIONS" or path in OPEN_PATHS:
        return False
    return not any(path == prefix or path.startswith(prefix + "/") for prefix in (*OPEN_PREFIXES, REPORT_PREFIX))


def is_report_path(path: str) -> bool:
    return path == REPORT_PREFIX or path.startswith(REPORT_PREFIX + "/")


def report_refusal(config: Settings, authorization: str | None) -> Response | None:
    """None when the request may read the governance report; otherwise the refusal.

    - LENADEX_REPORTS_TOKEN set: ``Authorization: Bearer <token>`` is required, whatever
      LENADEX_AUTH says. A browser cannot add a bearer header to a page it loads, but it can
      ask for a password: HTTP Basic with any user name and the token as password is accepted
      too. Compared in constant time (SHA-256 of both first, so not even the length shows).
      Missing or wrong: 401 with ``WWW-Authenticate`` (Bearer and Basic).
    - not set, LENADEX_AUTH=jwt: the report is off, 403 (an EHR's JWT never opens it).
    - not set, auth off (the local default): open, like every other endpoint then.
    """
    expected = config.reports_token
    if not expected:
        if config.auth == "jwt":
            return error_response(403, "the governance report is off: LENADEX_REPORTS_TOKEN is not set")
        return None
    presented = _report_credential(authorization, config.max_authorization_bytes)
    if presented is not None and hmac.compare_digest(
        hashlib.sha256(presented.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    ):
        return None
    log.info("governance report: %s", "no operator token" if presented is None else "wrong operator token")
    response = error_response(401, "authentication failed")
    response.headers.add("WWW-Authenticate", f'Bearer realm="{REPORT_REALM}"')
    response.headers.add("WWW-Authenticate", f'Basic realm="{REPORT_REALM}", charset="UTF-8"')
    return response


def _report_credential(authorization: str | None, max_bytes: int) -> str | None:
    """The bearer token, or the password of HTTP Basic credentials; None when neither."""
    if not authorization or len(authorization) > max_bytes:
        return None
    scheme, _, value = authorization.partition(" ")
    value = value.strip()
    if not value:
        return None
    if scheme.lower() == "bearer":
        return value
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        _user, colon, password = decoded.partition(":")
        return password if colon else None
    return None


def install_auth(app: Flask, config: Settings, store: Store) -> None:
    """Require a valid client JWT on every request but the open ones (LENADEX_AUTH=jwt)."""
    if config.auth != "jwt":
        return
    if not config.public_base_url:
        # Settings validation refuses this already; settings built without validation must not
        # fall back to the Host header, which the caller chooses.
        raise ValueError("LENADEX_PUBLIC_BASE_URL is required when LENADEX_AUTH=jwt")
    verifier = JwtVerifier(config, store)
    app.extensions["lenadex.auth"] = verifier

    @app.before_request
    def _require_client_jwt() -> Response | None:
        if not needs_token(request.method, request.path):
            return None
        try:
            verifier.verify(request.headers.get("Authorization"), called_url(config))
        except AuthFailed as failure:
            log.info("authentication failed: %s", failure.reason)
            response = error_response(401, "authentication failed")
            response.headers["WWW-Authenticate"] = "Bearer"
            return response
        except StoreUnavailable:
            # Without the replay cache a token cannot be checked: refuse, but as our fault.
            log.error("authentication impossible: the store is unavailable")
            return error_response(503, "service unavailable; retry later")
        return None
