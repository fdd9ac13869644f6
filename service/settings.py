"""All configuration in one typed object; environment variables with the prefix LENADEX_.

Defaults run locally with no setup: SQLite under ./var/, no authentication, CORS open,
Korean reimbursement rules on.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LENADEX_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = Field(
        default="sqlite:///var/lenadex.sqlite3",
        description="SQLAlchemy URL of the feedback and audit store (PostgreSQL: "
        "postgresql+psycopg://user@host/db).",
    )
    auth: Literal["off", "jwt"] = "off"
    jwks: str = Field(default="", description="Comma-separated JWKS file paths and/or https URLs")
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

    def csv(self, value: str) -> list[str]:
        return [item.strip() for item in value.split(",") if item.strip()]
