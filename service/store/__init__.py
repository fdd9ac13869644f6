"""The feedback and audit store (SQLAlchemy 2; SQLite by default, PostgreSQL via
LENADEX_DATABASE_URL), with its schema migrations in service/migrations/."""

from service.store.database import FeedbackStored, HookCall, Store, StoreBusy, StoreUnavailable, feedback_key
from service.store.report import CardCounts, ReasonTally, RuleTally

__all__ = [
    "CardCounts",
    "FeedbackStored",
    "HookCall",
    "ReasonTally",
    "RuleTally",
    "Store",
    "StoreBusy",
    "StoreUnavailable",
    "feedback_key",
]
