"""LENADEX_FRESHNESS_DAYS: the freshness windows are the operator's to set."""

from __future__ import annotations

import pytest
import requests
from pydantic import ValidationError

from sandbox.catalogue import hook_request
from service.settings import Settings


def rules_fired(base_url: str) -> set[str]:
    """Rules fired for the stale-creatinine patient with a 10 mg draft (below the 25 mg a
    normal kidney function allows, so a usable creatinine shows as a dose card)."""
    request = hook_request("stale-creatinine", "order-select")
    for entry in request["context"]["draftOrders"]["entry"]:
        for dosage in entry["resource"].get("dosageInstruction", []):
            if "lenalidomide" in str(entry["resource"].get("medicationCodeableConcept", "")).lower():
                dosage["text"] = "10 mg orally once daily on days 1-21 of each 28-day cycle"
                dosage["doseAndRate"][0]["doseQuantity"]["value"] = 10
    response = requests.post(f"{base_url}/cds-services/lenalidomide-order-select", json=request, timeout=10)
    assert response.status_code == 200, response.text
    return {rule for card in response.json()["cards"] for rule in card["extension"]["org.lenadex.rules"]}


def test_a_longer_creatinine_window_makes_a_45_day_old_value_usable(start_service, tmp_path):
    default = start_service(Settings(database_url=f"sqlite:///{tmp_path / 'a.sqlite3'}"))
    assert "R-DATA-RENAL" in rules_fired(default.base_url)

    longer = start_service(
        Settings(database_url=f"sqlite:///{tmp_path / 'b.sqlite3'}", freshness_days="creatinine=60, weight=60")
    )
    fired = rules_fired(longer.base_url)
    assert "R-DATA-RENAL" not in fired and {"R-CRCL-CG", "R-RENAL-NORMAL"} <= fired


@pytest.mark.parametrize("setting", ["potassium=3", "creatinine=0", "anc=soon", "creatinine"])
def test_a_wrong_window_is_refused_at_start(setting):
    with pytest.raises(ValidationError):
        Settings(freshness_days=setting)


def test_the_setting_parses_to_windows():
    assert Settings(freshness_days=" creatinine=14 , anc=7 ").freshness_windows() == {"creatinine": 14, "anc": 7}
