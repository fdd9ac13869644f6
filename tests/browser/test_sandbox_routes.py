"""The sandbox page's routes (sandbox/web_routes.py) and what the public CDS Hooks sandbox needs
from the service: CORS preflights, and its ES384 JWT and request quirks accepted.

Most route checks use Flask's test client; the ones over HTTP (live_service) also have every
answer checked against service/openapi.json by the session-wide response check.
"""

from __future__ import annotations

import copy
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
import requests
from flask.testing import FlaskClient

from sandbox.catalogue import PATIENTS, hook_request
from sandbox.web_routes import WEB_DIR
from service.app import create_app
from service.settings import Settings

# The public CDS Hooks sandbox's JWKS and test key: public test material, kept in the repo.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SANDBOX_JWKS = FIXTURES / "cds-hooks-sandbox-jwks.json"
SANDBOX_PRIVATE_KEY = FIXTURES / "cds-hooks-sandbox-test-private-key.pem"
SANDBOX_ISSUER = "https://sandbox.cds-hooks.org"
SANDBOX_KID = "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f"
SELECT = "lenalidomide-order-select"


@pytest.fixture
def client(service_settings: Settings) -> FlaskClient:
    return create_app(service_settings).test_client()


def nulls(value: Any, where: str = "") -> list[str]:
    if value is None:
        return [where]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in nulls(v, f"{where}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in nulls(v, f"{where}[{i}]")]
    return []


# --- the page and its files ------------------------------------------------------------------


def test_the_page_is_served_with_a_strict_content_security_policy(client):
    response = client.get("/sandbox")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    assert 'src="sandbox/static/sandbox.js"' in response.get_data(as_text=True)
    for name, mimetype in (("sandbox.js", "text/javascript"), ("sandbox.css", "text/css")):
        static = client.get(f"/sandbox/static/{name}")
        assert (static.status_code, static.mimetype) == (200, mimetype)


def test_the_page_loads_nothing_from_the_internet():
    for path in WEB_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert "@import" not in text and not re.search(r"url\(\s*['\"]?(https?:)?//", text), path.name
        assert not re.search(r"""fetch\(\s*["'](https?:)?//""", text), path.name
        assert "<script>" not in text, f"{path.name}: inline script (the page's CSP forbids it)"


def test_only_the_page_files_are_served(client):
    for name in ("index.html", "../web_routes.py", "catalogue.py", "x.js"):
        response = client.get(f"/sandbox/static/{name}")
        assert response.status_code == 404
        assert response.json["resourceType"] == "OperationOutcome"


def test_the_page_can_be_switched_off(tmp_path):
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'off.sqlite3'}", sandbox_page=False)
    client = create_app(settings).test_client()
    for path in (
        "/sandbox",
        "/sandbox/static/sandbox.js",
        "/sandbox/api/patients",
        "/sandbox/api/patients/moderate-renal",
        "/sandbox/api/patients/moderate-renal/request?hook=order-select",
    ):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json["resourceType"] == "OperationOutcome"


def test_the_page_needs_no_token_when_authentication_is_on(tmp_path):
    if not SANDBOX_JWKS.exists():
        pytest.skip(f"{SANDBOX_JWKS} is not there")
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'jwt.sqlite3'}",
        auth="jwt",
        trusted_issuers=SANDBOX_ISSUER,
        jwks=str(SANDBOX_JWKS),
        public_base_url="http://localhost",
    )
    client = create_app(settings).test_client()
    assert client.get("/sandbox").status_code == 200
    assert client.get("/sandbox/api/patients").status_code == 200
    assert client.get("/cds-services").status_code == 401  # the service itself still needs one


# --- the page's API ----------------------------------------------------------------------------


def test_patients_lists_slug_story_and_hooks(client):
    patients = client.get("/sandbox/api/patients").json["patients"]
    assert [p["slug"] for p in patients] == list(PATIENTS)
    moderate = next(p for p in patients if p["slug"] == "moderate-renal")
    assert moderate == {
        "slug": "moderate-renal",
        "story": PATIENTS["moderate-renal"].story,
        "hooks": ["order-select", "order-sign"],
    }


def test_moderate_renal_key_data_come_from_the_record_as_the_rules_read_it(client):
    summary = client.get("/sandbox/api/patients/moderate-renal").json
    assert summary["patient"]["age"] == 72 and summary["patient"]["sex"] == "female"
    renal = summary["renal"]
    assert (renal["known"], renal["method"], renal["crcl"]) == (True, "cockcroft-gault", 34.0)
    assert renal["ruleIds"] == ["R-CRCL-CG", "R-RENAL-MODERATE"]
    inputs = {i["name"]: i["value"] for i in renal["inputs"]}
    assert inputs == {"serum creatinine": "1.30 mg/dL", "body weight": "55.0 kg", "age": "72 years", "sex": "female"}
    labs = {lab["key"]: lab for lab in summary["labs"]}
    assert labs["anc"]["value"] == "2.8 ×10³/µL (2,800/µL)" and labs["anc"]["fresh"] is True
    assert labs["platelets"]["value"].startswith("180 ×10³/µL")
    assert summary["vteRiskFactors"] == {"high": [], "standard": ["renal disease (CrCl 34.0 mL/min, < 60)"]}
    assert [d["id"] for d in summary["draftOrders"]] == ["draft-lenalidomide-1", "draft-dexamethasone-1"]
    lenalidomide = summary["draftOrders"][0]
    assert (lenalidomide["dose"], lenalidomide["everyHours"], lenalidomide["days"]) == (25, 24, "1-21/28")
    assert lenalidomide["resource"]["resourceType"] == "MedicationRequest"
    assert {m["drug"] for m in summary["medications"]["past"]} >= {"bortezomib", "melphalan"}
    assert summary["medications"]["active"] == []


def test_stale_creatinine_shows_kidney_function_unknown(client):
    summary = client.get("/sandbox/api/patients/stale-creatinine").json
    assert summary["renal"]["known"] is False
    assert any("creatinine" in missing for missing in summary["renal"]["missing"])
    creatinine = next(lab for lab in summary["labs"] if lab["key"] == "creatinine")
    assert creatinine["fresh"] is False


def test_every_patient_has_key_data_without_nulls(live_service):
    for slug, story in PATIENTS.items():
        response = requests.get(f"{live_service.base_url}/sandbox/api/patients/{slug}", timeout=10)
        assert response.status_code == 200, slug
        assert nulls(response.json()) == [], slug
        assert response.json()["hooks"] == list(story.hooks)


def test_request_is_a_ready_hook_request_with_prefetch(client):
    request = client.get("/sandbox/api/patients/moderate-renal/request?hook=order-select").json
    assert request["hook"] == "order-select" and uuid.UUID(request["hookInstance"])
    assert request["context"]["selections"] == ["MedicationRequest/draft-lenalidomide-1"]
    assert set(request["prefetch"]) == {"patient", "observations", "conditions", "medications", "procedures"}
    again = client.get("/sandbox/api/patients/moderate-renal/request?hook=order-select").json
    assert again["hookInstance"] != request["hookInstance"]  # a fresh call each time
    response = client.post(f"/cds-services/{SELECT}", json=request)
    assert response.status_code == 200
    assert any("org.lenadex.dose" in card["extension"] for card in response.json["cards"])


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/sandbox/api/patients/nobody", 404),
        ("/sandbox/api/patients/nobody/request?hook=order-select", 404),
        ("/sandbox/api/patients/moderate-renal/request", 400),
        ("/sandbox/api/patients/moderate-renal/request?hook=order-dispatch", 400),
        ("/sandbox/api/patients/moderate-renal/request?hook=patient-view", 400),
    ],
)
def test_api_errors_are_operation_outcomes(client, path, status):
    response = client.get(path)
    assert response.status_code == status
    assert response.json["resourceType"] == "OperationOutcome"


# --- the public CDS Hooks sandbox ------------------------------------------------------------


def allowed_headers(response: requests.Response) -> set[str]:
    return {h.strip().lower() for h in response.headers.get("Access-Control-Allow-Headers", "").split(",")}


def test_cors_preflight_from_the_public_sandbox(live_service):
    response = requests.options(
        f"{live_service.base_url}/cds-services/{SELECT}",
        headers={
            "Origin": SANDBOX_ISSUER,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
        timeout=5,
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX_ISSUER)
    assert {"authorization", "content-type"} <= allowed_headers(response)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]


def sandbox_token(url: str) -> str:
    """A token exactly as the public CDS Hooks sandbox signs it (its published test key)."""
    now = int(time.time())
    return jwt.encode(
        {"iss": SANDBOX_ISSUER, "aud": url, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())},
        SANDBOX_PRIVATE_KEY.read_text(encoding="utf-8"),
        algorithm="ES384",
        headers={"kid": SANDBOX_KID, "typ": "JWT", "jku": f"{SANDBOX_ISSUER}/.well-known/jwks.json"},
    )


def as_the_public_sandbox_sends_it(request: dict[str, Any]) -> dict[str, Any]:
    """Its known deviations: no draftOrders.type, no encounterId, category as one object."""
    request = copy.deepcopy(request)
    del request["context"]["draftOrders"]["type"]
    request["context"].pop("encounterId", None)
    for entry in request["context"]["draftOrders"]["entry"]:
        entry["resource"]["category"] = {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/medicationrequest-category", "code": "outpatient"}
            ]
        }
    return request


def test_the_public_sandbox_flow_with_its_jwt_and_quirks(start_service, tmp_path):
    if not (SANDBOX_JWKS.exists() and SANDBOX_PRIVATE_KEY.exists()):
        pytest.skip(f"the sandbox keys are not in {SANDBOX_JWKS.parent}")
    public = "https://cds.hospital.example"  # the URL the EHR calls: the tokens' aud
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'public.sqlite3'}",
        auth="jwt",
        trusted_issuers=SANDBOX_ISSUER,
        jwks=str(SANDBOX_JWKS),
        public_base_url=public,
    )
    base = start_service(settings).base_url

    def aud(url: str) -> str:
        return public + url.removeprefix(base)

    origin = {"Origin": SANDBOX_ISSUER}

    discovery_url = f"{base}/cds-services"
    discovery = requests.get(
        discovery_url, headers={**origin, "Authorization": f"Bearer {sandbox_token(aud(discovery_url))}"}, timeout=5
    )
    assert discovery.status_code == 200
    assert discovery.headers["Access-Control-Allow-Origin"] in ("*", SANDBOX_ISSUER)
    assert SELECT in {s["id"] for s in discovery.json()["services"]}

    url = f"{base}/cds-services/{SELECT}"
    body = as_the_public_sandbox_sends_it(hook_request("moderate-renal", "order-select"))
    answer = requests.post(
        url, json=body, headers={**origin, "Authorization": f"Bearer {sandbox_token(aud(url))}"}, timeout=10
    )
    assert answer.status_code == 200, answer.text
    [dose] = [c for c in answer.json()["cards"] if "org.lenadex.dose" in c["extension"]]
    assert dose["extension"]["org.lenadex.dose"]["mg"] == 10

    feedback_url = f"{url}/feedback"
    item = {
        "card": dose["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": dose["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-01-01T09:00:00Z",
    }
    stored = requests.post(
        feedback_url,
        data=json.dumps({"feedback": [item]}),
        headers={
            **origin,
            "Content-Type": "application/json",
            "Authorization": f"Bearer {sandbox_token(aud(feedback_url))}",
        },
        timeout=5,
    )
    assert stored.status_code == 200
    assert stored.json()["stored"] == 1
