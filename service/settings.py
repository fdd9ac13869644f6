"""All configuration in one typed object; environment variables with the prefix LENADEX_.

Defaults run locally with no setup: SQLite under ./var/, no authentication, CORS open,
Korean reimbursement rules on. docs/operations.md lists every setting with its default.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Literal, get_args
from urllib.parse import urlsplit

import annotated_types
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rules.freshness import DEFAULT_FRESHNESS_DAYS

# Per hook call, all keys and pages together (a record is read whole or not at all: a part
# could hide the newest creatinine). 16 MiB holds some 20,000 Observations; more than that is
# no record the rules need, and five keys of 31 MB each once took 1.1 GB of memory.
DEFAULT_CALL_BYTES = 16 * 1024 * 1024
DEFAULT_CALL_ENTRIES = 20_000
# The governance report's operator token: long enough that it cannot be guessed online.
MIN_REPORTS_TOKEN_LENGTH = 32
MAX_REPORTS_TOKEN_LENGTH = 1024
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Never echoed in an error line (which goes to the log): a database URL may hold a password.
SECRET_SETTINGS = frozenset({"audit_salt", "reports_token", "database_url"})
# Variables with our prefix that are not settings, on purpose: they never warn as unknown.
NOT_SETTINGS = frozenset(
    {
        "LENADEX_TEST_POSTGRES_URL",  # the PostgreSQL server of the store tests (tests/service/conftest.py)
        "LENADEX_CHROMIUM",  # the browser of the browser tests and of sandbox/public_sandbox.py
        "LENADEX_REQUIRE_BROWSER",  # 1: the browser tests fail instead of skipping (tests/browser/conftest.py)
    }
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENADEX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    workers: int = Field(
        default=1,
        ge=0,
        description="gunicorn worker processes (1: one worker under gunicorn's master; 0: a "
        "count from the CPUs available)",
    )
    threads: int = Field(default=1, ge=1, description="Threads per worker that run the app")
    request_timeout_seconds: int = Field(
        default=30, ge=1, description="gunicorn kills a worker silent for longer than this"
    )
    database_url: str = Field(
        default="sqlite:///var/lenadex.sqlite3",
        description="SQLAlchemy URL of the feedback and audit store (PostgreSQL: postgresql+psycopg://user@host/db).",
    )
    migrate_at_start: bool = Field(
        default=True,
        description="Migrate the store to the newest schema at start; false: refuse to start "
        "unless it is at the newest already (run `lenadex migrate` first)",
    )
    audit_salt: str = Field(
        default="",
        description="HMAC-SHA256 key for the patient ids in the audit records. Empty: a random "
        "key is generated once and kept in the store.",
    )
    auth: Literal["off", "jwt"] = "off"
    jwks: str = Field(
        default="",
        description="Comma-separated 'issuer=source' entries, source a JWKS file path or https URL; "
        "a bare source only when exactly one issuer is trusted (it is then that issuer's)",
    )
    jwks_cache_seconds: int = Field(default=300, ge=0, description="How long a fetched JWKS is used")
    jwt_leeway_seconds: int = Field(default=30, ge=0, description="Clock skew allowed for exp and iat")
    jwt_max_lifetime_seconds: int = Field(
        default=300, ge=1, description="Longest exp - iat accepted (plus the leeway); CDS Hooks recommends 5 minutes"
    )
    max_authorization_bytes: int = Field(
        default=8192, ge=1024, description="A longer Authorization header is refused with 401"
    )
    trusted_issuers: str = Field(default="", description="Comma-separated issuer URLs")
    public_base_url: str = Field(
        default="",
        description="The base URL the EHR calls (scheme, host, port, path prefix); the JWT aud is "
        "checked against it. Required with auth=jwt.",
    )
    cors_origins: str = "*"
    region: str = Field(default="KR", description="KR applies the Korean reimbursement rules")
    max_body_bytes: int = Field(default=5 * 1024 * 1024, ge=1)
    fetch_timeout_seconds: float = Field(
        default=2.0, gt=0, allow_inf_nan=False, description="Per request to the FHIR server"
    )
    fetch_budget_seconds: float = Field(
        default=4.0, gt=0, allow_inf_nan=False, description="All fetches of one hook call"
    )
    fetch_max_pages: int = Field(default=10, ge=1)
    fetch_max_bytes: int = Field(
        default=DEFAULT_CALL_BYTES,
        ge=1024,
        description="All answers of one hook call's fetches together, decompressed (16 MiB)",
    )
    fetch_max_entries: int = Field(
        default=DEFAULT_CALL_ENTRIES, ge=1, description="All Bundle entries of one hook call's fetches together"
    )
    fhir_servers: str = Field(
        default="",
        description="Comma-separated FHIR base URLs or origins the service may fetch from with the "
        "EHR's token (then only those; they may be http, loopback or private). Empty: any https "
        "server on a public address, and loopback too while authentication is off.",
    )
    sandbox_page: bool = True
    reports_token: str = Field(
        default="",
        repr=False,
        description="The operator's bearer token for the governance report (/reports, "
        "/reports/cards): at least 32 visible ASCII characters. Empty: the report is open while "
        "auth is off, and off (403) with auth=jwt.",
    )
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    freshness_days: str = Field(
        default="",
        description="Freshness windows in days overriding the defaults of rules/freshness.py, "
        "e.g. 'creatinine=14,anc=7'",
    )

    @field_validator("host")
    @classmethod
    def _listen_address(cls, value: str) -> str:
        if not value or value != value.strip() or any(char.isspace() or char in "/[]" for char in value):
            # An empty host would make gunicorn listen on every interface.
            raise ValueError("LENADEX_HOST: must be a host name or IP address to listen on (e.g. 127.0.0.1, 0.0.0.0)")
        return value

    @field_validator("database_url")
    @classmethod
    def _store_url(cls, value: str) -> str:
        # Imported here: SQLAlchemy is not needed to read the other settings.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError, NoSuchModuleError

        allowed = "sqlite:///path/to/file.sqlite3 or postgresql+psycopg://user:password@host:5432/db"
        try:
            url = make_url(value)
        except ArgumentError:
            # Not the value: it may hold a password.
            raise ValueError(f"LENADEX_DATABASE_URL: must be a SQLAlchemy URL: {allowed}") from None
        if url.get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError(
                f"LENADEX_DATABASE_URL: must be SQLite or PostgreSQL ({allowed}), not {url.get_backend_name()!r}"
            )
        try:
            url.get_dialect().import_dbapi()
        except (ImportError, NoSuchModuleError):
            raise ValueError(
                f"LENADEX_DATABASE_URL: the database driver {url.drivername!r} is not installed: {allowed}"
            ) from None
        return value

    @field_validator("public_base_url")
    @classmethod
    def _public_base_url(cls, value: str) -> str:
        base = urlsplit(value)
        if value and (base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment):
            raise ValueError(
                f"LENADEX_PUBLIC_BASE_URL: must be the http(s) URL the EHR calls, without query or fragment (e.g. "
                f"https://cds.hospital.example), or empty; got {value[:200]!r}"
            )
        return value

    @field_validator("cors_origins")
    @classmethod
    def _cors_origins(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if not item or item == "*":
                continue
            parts = urlsplit(item)
            # A browser's Origin header is scheme://host[:port]: anything more never matches.
            if (
                not parts.scheme
                or not parts.netloc
                or "@" in parts.netloc
                or parts.path
                or parts.query
                or parts.fragment
                or item.endswith(("?", "#"))
            ):
                raise ValueError(
                    f"LENADEX_CORS_ORIGINS: must be * or comma-separated origins, scheme://host[:port] without a path "
                    f"(e.g. https://ehr.hospital.example); not {item[:200]!r}"
                )
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        code = value.strip().upper()
        if len(code) != 2 or not code.isascii() or not code.isalpha():
            raise ValueError(
                f"LENADEX_REGION: must be a two-letter country code (KR: the Korean reimbursement rules), "
                f"not {value[:40]!r}"
            )
        return code

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        if value.strip().upper() not in LOG_LEVELS:
            raise ValueError(f"LENADEX_LOG_LEVEL: must be one of {', '.join(LOG_LEVELS)}, not {value[:40]!r}")
        return value.strip().upper()

    @field_validator("freshness_days")
    @classmethod
    def _known_freshness_inputs(cls, value: str) -> str:
        parse_freshness(value)  # raises ValueError naming the problem
        return value

    @field_validator("reports_token")
    @classmethod
    def _strong_reports_token(cls, value: str) -> str:
        if value and not (
            MIN_REPORTS_TOKEN_LENGTH <= len(value) <= MAX_REPORTS_TOKEN_LENGTH
            and all("!" <= char <= "~" for char in value)
        ):
            # Never echo the value: it is a secret, and the error line goes to the log.
            raise ValueError(
                f"LENADEX_REPORTS_TOKEN: must be {MIN_REPORTS_TOKEN_LENGTH} to {MAX_REPORTS_TOKEN_LENGTH} "
                "visible ASCII characters without spaces (e.g. `openssl rand -hex 32`)"
            )
        return value

    @field_validator("fhir_servers")
    @classmethod
    def _fhir_server_urls(cls, value: str) -> str:
        # Imported here: the URL rules live with the fetching, which imports requests.
        from service.fhir_target import TargetRefused, parse_server_url

        for item in (part.strip() for part in value.split(",")):
            try:
                if item:
                    parse_server_url(item)
            except TargetRefused as refused:
                raise ValueError(f"{item!r}: {refused}") from None
        return value

    @model_validator(mode="after")
    def _complete_client_authentication(self) -> Settings:
        if self.auth == "jwt":
            self.jwks_by_issuer()  # raises ValueError naming the setting
            base = urlsplit(self.public_base_url)
            if base.scheme not in ("http", "https") or not base.netloc or base.query or base.fragment:
                # Without it the aud could only be compared with the Host header, which the
                # caller chooses: a token made for any other host would pass.
                raise ValueError(
                    "LENADEX_PUBLIC_BASE_URL must be the http(s) URL the EHR calls "
                    f"(e.g. https://cds.hospital.example) when LENADEX_AUTH=jwt; got {self.public_base_url!r}"
                )
        return self

    def jwks_by_issuer(self) -> dict[str, list[str]]:
        """Each trusted issuer's JWKS sources, from LENADEX_JWKS; ValueError when unbound or ambiguous."""
        issuers = self.csv(self.trusted_issuers)
        entries = self.csv(self.jwks)
        if not issuers:
            raise ValueError("LENADEX_TRUSTED_ISSUERS is empty; LENADEX_AUTH=jwt needs the issuer URLs it trusts")
        if not entries:
            raise ValueError("LENADEX_JWKS is empty; LENADEX_AUTH=jwt needs a JWKS for each trusted issuer")
        bound: dict[str, list[str]] = {issuer: [] for issuer in issuers}
        for entry in entries:
            issuer, source = _split_jwks_entry(entry)
            if issuer is None:
                if len(issuers) != 1:
                    # A key that could sign for every issuer would let one issuer pass as another.
                    raise ValueError(
                        f"LENADEX_JWKS entry {entry!r} names no issuer, and {len(issuers)} issuers are "
                        "trusted: write each entry as issuer=source"
                    )
                issuer = issuers[0]
            match = [trusted for trusted in issuers if trusted.rstrip("/") == issuer.rstrip("/")]
            if not match:
                raise ValueError(f"LENADEX_JWKS entry {entry!r}: issuer {issuer!r} is not in LENADEX_TRUSTED_ISSUERS")
            bound[match[0]].append(source)
        unbound = [issuer for issuer, sources in bound.items() if not sources]
        if unbound:
            raise ValueError(f"LENADEX_JWKS has no JWKS for the trusted issuer(s) {', '.join(unbound)}")
        return bound

    def freshness_windows(self) -> dict[str, int]:
        return parse_freshness(self.freshness_days)

    def csv(self, value: str) -> list[str]:
        return [item.strip() for item in value.split(",") if item.strip()]


def _split_jwks_entry(entry: str) -> tuple[str | None, str]:
    """'https://ehr.example=https://ehr.example/jwks.json' → (issuer, source); a bare source → (None, source).
    Only an http(s) URL without a query counts as the issuer part, so a bare JWKS URL with a
    query string ('…?a=b') stays a bare source."""
    issuer, sep, source = entry.partition("=")
    issuer, source = issuer.strip(), source.strip()
    if sep and source and issuer.startswith(("https://", "http://")) and "?" not in issuer:
        return issuer, source
    return None, entry.strip()


class SettingsError(ValueError):
    """A setting that stops the service from starting, said in one line naming the variable."""


def load_settings(**overrides: object) -> Settings:
    """The settings from the environment (and overrides); SettingsError in one line otherwise:
    each problem as ``LENADEX_X: what is allowed``, the problems joined by "; "."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            name = ".".join(str(part) for part in item["loc"])
            if item["type"] == "value_error" or name not in Settings.model_fields:
                # Our own validators say what is allowed (the cross-field ones name their variables).
                message = str(item["msg"]).removeprefix("Value error, ")
            else:
                message = f"must be {allowed_values(name)}"
                if name not in SECRET_SETTINGS:
                    message += f", not {str(item.get('input'))[:60]!r}"
            if name and f"LENADEX_{name.upper()}" not in message:
                message = f"LENADEX_{name.upper()}: {message}"
            problems.append(" ".join(message.split()))  # one line, whatever the message held
        raise SettingsError("; ".join(problems)) from None


def allowed_values(name: str) -> str:
    """What a setting takes, in words, from its type and bounds: 'a whole number from 1 to 65535'."""
    field = Settings.model_fields[name]
    if field.annotation is bool:
        return "true or false"
    choices = get_args(field.annotation)
    if choices:
        return "one of " + ", ".join(str(choice) for choice in choices)
    kind = "a whole number" if field.annotation is int else "a number" if field.annotation is float else "text"
    at_least = above = at_most = None
    for bound in field.metadata:
        if isinstance(bound, annotated_types.Ge):
            at_least = bound.ge
        elif isinstance(bound, annotated_types.Gt):
            above = bound.gt
        elif isinstance(bound, annotated_types.Le):
            at_most = bound.le
    if at_least is not None and at_most is not None:
        return f"{kind} from {at_least} to {at_most}"
    words = [kind]
    if at_least is not None:
        words.append(f"of at least {at_least}")
    if above is not None:
        words.append(f"above {above}")
    if at_most is not None:
        words.append(f"of at most {at_most}")
    return " ".join(words)


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A warning for each LENADEX_ variable that is no setting (and not in NOT_SETTINGS), naming
    the setting whose name is closest when one is close (difflib). The value is never shown."""
    settings = {f"LENADEX_{name.upper()}" for name in Settings.model_fields}
    prefix = "LENADEX_"
    warnings = []
    for variable in sorted(environ):
        name = variable.upper()  # the settings are read without regard to case
        if not name.startswith(prefix) or name in settings or name in NOT_SETTINGS:
            continue
        # Compared without the prefix, which every name shares and which would make all close.
        close = difflib.get_close_matches(
            name.removeprefix(prefix), [known.removeprefix(prefix) for known in settings], n=1, cutoff=0.6
        )
        hint = (
            f"did you mean {prefix}{close[0]}?"
            if close
            else 'no setting has a similar name (the settings are listed in the README, "Settings")'
        )
        warnings.append(f"warning: {variable} is not a setting and is ignored; {hint}")
    return warnings


def parse_freshness(text: str) -> dict[str, int]:
    """'creatinine=14, anc=7' → {'creatinine': 14, 'anc': 7}; only inputs the rules know."""
    windows: dict[str, int] = {}
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        name, _, days = item.partition("=")
        name = name.strip()
        if name not in DEFAULT_FRESHNESS_DAYS:
            raise ValueError(f"unknown input {name!r}; known: {', '.join(DEFAULT_FRESHNESS_DAYS)}")
        if not days.strip().isdigit() or int(days) < 1:
            raise ValueError(f"{name}: the window must be a whole number of days ≥ 1, not {days.strip()!r}")
        windows[name] = int(days)
    return windows
