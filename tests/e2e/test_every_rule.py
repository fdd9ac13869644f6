"""Every rule of the clinical rules fires end to end, over HTTP, for the sandbox patient whose
story calls for it — and no rule fires where the story says it must not."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import requests
from werkzeug.serving import make_server

from rules.catalogue import RULES_BY_ID
from sandbox.catalogue import PATIENTS, hook_request
from service.app import create_app
from service.settings import Settings

SERVICE_FOR_HOOK = {
    "order-select": "lenalidomide-order-select",
    "order-sign": "lenalidomide-order-sign",
    "patient-view": "lenalidomide-patient-view",
}
# The rule ids of the clinical rules, copied from the spec into the repository.
CLINICAL_RULE_IDS = Path(__file__).resolve().parents[1] / "fixtures" / "clinical-rule-ids.txt"


@pytest.fixture(scope="module")
def fired_cards(tmp_path_factory) -> dict[tuple[str, str], list[dict]]:
    """Cards for every sandbox patient on each of its hooks, from one live server."""
    folder = tmp_path_factory.mktemp("store")
    server = make_server(
        "127.0.0.1", 0, create_app(Settings(database_url=f"sqlite:///{folder / 's.sqlite3'}")), threaded=True
    )
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    base_url = f"http://127.0.0.1:{server.server_port}"
    answers = {}
    try:
        for slug, story in PATIENTS.items():
            for hook in story.hooks:
                response = requests.post(
                    f"{base_url}/cds-services/{SERVICE_FOR_HOOK[hook]}", json=hook_request(slug, hook), timeout=30
                )
                assert response.status_code == 200, (slug, hook, response.text)
                answers[(slug, hook)] = response.json()["cards"]
    finally:
        server.shutdown()
        server.server_close()
    return answers


def rules_of(cards: list[dict]) -> set[str]:
    return {rule for card in cards for rule in card["extension"]["org.lenadex.rules"]}


@pytest.mark.parametrize("slug", sorted(PATIENTS))
def test_the_story_rules_fire_and_the_forbidden_do_not(slug, fired_cards):
    story = PATIENTS[slug]
    seen = set().union(*(rules_of(fired_cards[(slug, hook)]) for hook in story.hooks))
    missing = set(story.expected_rules) - seen
    assert not missing, f"{slug}: expected {sorted(missing)} to fire; fired {sorted(seen)}"
    forbidden = set(story.must_not_fire) & seen
    assert not forbidden, f"{slug}: {sorted(forbidden)} must not fire"


def test_every_rule_id_of_the_clinical_rules_fires_somewhere(fired_cards):
    seen = set().union(*(rules_of(cards) for cards in fired_cards.values()))
    assert set(RULES_BY_ID) <= seen, f"never fired: {sorted(set(RULES_BY_ID) - seen)}"
    documented = {line for line in CLINICAL_RULE_IDS.read_text().split("\n") if line.startswith("R-")}
    assert documented == set(RULES_BY_ID)
    assert documented <= seen
