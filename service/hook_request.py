"""Pydantic models of the CDS Hooks 2.0.1 request, as strict as the standard and as lenient
as real clients need (CDS_HOOKS_NOTES.md "What real clients do"):

- draftOrders without ``type`` and draft resources with odd fields (e.g. ``category`` as one
  object) are accepted: the draft Bundle is kept as raw JSON and read by fhir_mappings/;
- ``encounterId`` and ``fhirAuthorization`` are optional;
- unknown top-level and context fields are ignored, as the standard allows extensions.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.errors import ApiError


class FhirAuthorization(BaseModel):
    model_config = ConfigDict(extra="ignore")

    access_token: str = Field(min_length=1)
    token_type: Literal["Bearer", "bearer"]
    expires_in: int | None = None
    scope: str | None = None
    subject: str | None = None
    patient: str | None = None

    def __repr__(self) -> str:  # the token must never reach a log
        return "FhirAuthorization(access_token=***)"

    __str__ = __repr__


class DraftOrders(BaseModel):
    """A FHIR Bundle of draft orders; only its shape is checked here."""

    model_config = ConfigDict(extra="allow")

    resourceType: Literal["Bundle"]
    type: str | None = None
    entry: list[dict[str, Any]] = Field(default_factory=list)

    def resources(self) -> list[dict[str, Any]]:
        return [e["resource"] for e in self.entry if isinstance(e.get("resource"), dict)]


class PatientViewContext(BaseModel):
    model_config = ConfigDict(extra="ignore")

    userId: str = Field(min_length=1)
    patientId: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9\-\.]+$")
    encounterId: str | None = None


class OrderSignContext(PatientViewContext):
    draftOrders: DraftOrders


class OrderSelectContext(OrderSignContext):
    selections: list[str] = Field(min_length=1)

    @model_validator(mode="after")
    def _selections_point_at_drafts(self) -> "OrderSelectContext":
        drafts = {f"{r.get('resourceType')}/{r.get('id')}" for r in self.draftOrders.resources()}
        missing = [s for s in self.selections if s not in drafts]
        if missing:
            raise ValueError(f"selections not in draftOrders: {', '.join(missing)}")
        return self


CONTEXT_MODELS: dict[str, type[PatientViewContext]] = {
    "patient-view": PatientViewContext,
    "order-sign": OrderSignContext,
    "order-select": OrderSelectContext,
}


class HookRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    hook: str = Field(min_length=1)
    hookInstance: str = Field(min_length=1, max_length=128)
    fhirServer: str | None = Field(default=None, pattern=r"^https?://")
    fhirAuthorization: FhirAuthorization | None = None
    context: dict[str, Any]
    prefetch: dict[str, Any] | None = None

    @field_validator("prefetch")
    @classmethod
    def _prefetch_values_are_resources(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        for key, item in (value or {}).items():
            if item is not None and not (isinstance(item, dict) and isinstance(item.get("resourceType"), str)):
                raise ValueError(f"prefetch {key!r} is neither a FHIR resource nor null")
        return value

    @model_validator(mode="after")
    def _server_with_authorization(self) -> "HookRequest":
        if self.fhirAuthorization is not None and not self.fhirServer:
            raise ValueError("fhirServer is required when fhirAuthorization is present")
        return self


def parse_hook_request(body: Any, expected_hook: str) -> tuple[HookRequest, PatientViewContext]:
    """The validated request and its typed context; ApiError(400) naming the problem."""
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    try:
        request = HookRequest.model_validate(body)
    except ValidationError as error:
        raise _bad_request(error, prefix="") from None
    if request.hook != expected_hook:
        raise ApiError(
            400,
            f"hook {request.hook!r} does not match this service, which answers {expected_hook!r}",
            expression=["hook"],
        )
    try:
        context = CONTEXT_MODELS[expected_hook].model_validate(request.context)
    except ValidationError as error:
        raise _bad_request(error, prefix="context.") from None
    return request, context


def _bad_request(error: ValidationError, prefix: str) -> ApiError:
    problems = []
    paths = []
    for item in error.errors()[:5]:
        path = prefix + ".".join(str(p) for p in item["loc"]) if item["loc"] else prefix.rstrip(".")
        message = item["msg"].removeprefix("Value error, ")
        problems.append(f"{path or 'request'}: {message}")
        paths.append(path or "request")
    return ApiError(400, "invalid CDS Hooks request — " + "; ".join(problems), expression=paths)
