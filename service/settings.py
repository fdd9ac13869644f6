"""All configuration in one typed object; environment variables with the prefix LENADEX_.

Defaults run locally with no setup: SQLite under ./var/, no authentication, CORS open,
Korean reimbursement rules on. docs/operations.md lists every setting with its default.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rules.freshness import DEFAULT_FRESHNESS_DAYS


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENADEX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = Field(
        default=1,
        ge=0,
        description="1: a single process; N > 1: gunicorn with N workers; 0: gunicorn with a "
        "worker count from the CPUs available",
    )
    threads: int = Field(default=1, ge=1, description="Threads per gunicorn worker")
    request_timeout_seconds: int = Field(
        default=30, ge=1, description="gunicorn kills a worker silent for longer than this"
    )
    database_url: str = Field(
        default="sqlite:///var/lenadex.sqlite3",
        description="SQLAlchemy URL of the feedback and audit store (PostgreSQL: "
        "postgresql+psycopg://user@host/db).",
    )
    audit_salt: str = Field(
        default="",
        description="HMAC-SHA256 key for the patient ids in the audit records. Empty: a random "
        "key is generated once and kept in the store.",
    )
    auth: Literal["off", "jwt"] = "off"
    jwks: str = Field(default="", description="Comma-separated JWKS file paths and/or https URLs")
    jwks_cache_seconds: int = Field(default=300, ge=0, description="How long a fetched JWKS is used")
    jwt_leeway_seconds: int = Field(default=30, ge=0, description="Clock skew allowed for exp and iat")
    trusted_issuers: str = Field(default="", description="Comma-separated issuer URLs")
    public_base_url: str = ""
    cors_origins: str = "*"
    region: str = Field(default="KR", description="KR applies the Korean reimbursement rules")
    max_body_bytes: int = 5 * 1024 * 1024
    fetch_timeout_seconds: float = Field(default=2.0, description="Per request to the FHIR server")
    fetch_budget_seconds: float = Field(default=4.0, description="All fetches of one hook call")
    fetch_max_pages: int = 10
    sandbox_page: bool = True
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"
    freshness_days: str = Field(
        default="",
        description="Freshness windows in days overriding the defaults of rules/freshness.py, "
        "e.g. 'creatinine=14,anc=7'",
    )

    @field_validator("freshness_days")
    @classmethod
    def _known_freshness_inputs(cls, value: str) -> str:
        parse_freshness(value)  # raises ValueError naming the problem
        return value

    def freshness_windows(self) -> dict[str, int]:
        return parse_freshness(self.freshness_days)

    def csv(self, value: str) -> list[str]:
        return [item.strip() for item in value.split(",") if item.strip()]


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
