"""Fetching: a draft order naming its drug by medicationReference is resolved from the EHR's
FHIR server, and a GET whose connection breaks is tried once more."""

from __future__ import annotations

import socket
import threading
import time

import requests

from sandbox.catalogue import fhir_resources, hook_request
from sandbox.fhir_server import StandInFhirServer
from service.prefetch import FhirClient

LENALIDOMIDE_MEDICATION = {
    "resourceType": "Medication",
    "id": "revlimid-25",
    "code": {
        "coding": [
            {
                "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                "code": "643722",
                "display": "Revlimid 25 MG Oral Capsule",
            }
        ]
    },
}


def test_a_draft_by_medication_reference_is_resolved_by_fetching(live_service):
    stand_in = StandInFhirServer(fhir_resources("moderate-renal") + [LENALIDOMIDE_MEDICATION])
    fhir = stand_in.start()
    try:
        request = hook_request("moderate-renal", "order-select")
        request["fhirServer"] = fhir.base_url
        for entry in request["context"]["draftOrders"]["entry"]:
            draft = entry["resource"]
            if f"MedicationRequest/{draft['id']}" in request["context"]["selections"]:
                draft.pop("medicationCodeableConcept")
                draft["medicationReference"] = {"reference": "Medication/revlimid-25"}
        response = requests.post(
            f"{live_service.base_url}/cds-services/lenalidomide-order-select", json=request, timeout=10
        )
    finally:
        fhir.stop()
    assert response.status_code == 200, response.text
    doses = [
        c["extension"]["org.lenadex.dose"] for c in response.json()["cards"] if "org.lenadex.dose" in c["extension"]
    ]
    assert doses and doses[0]["mg"] == 10
    assert "/Medication/revlimid-25" in [r["path"] for r in stand_in.requests_seen]


class DropFirstConnection:
    """A TCP relay on 127.0.0.1 that closes the first connection at once (as a server
    restarting or a load balancer dropping a kept-alive socket would) and relays the rest."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.accepted = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.accepted += 1
            if self.accepted == 1:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        self.listener.close()


def test_a_get_whose_connection_breaks_is_tried_once_more():
    fhir = StandInFhirServer(fhir_resources("moderate-renal")).start()
    relay = DropFirstConnection(int(fhir.base_url.rsplit(":", 1)[1]))
    try:
        client = FhirClient(
            base_url=f"http://127.0.0.1:{relay.port}",
            access_token="t",
            timeout_seconds=2.0,
            deadline=time.monotonic() + 5,
            max_pages=2,
        )
        patient = client.search_or_read("Patient/moderate-renal")
    finally:
        relay.close()
        fhir.stop()
    assert patient["resourceType"] == "Patient" and patient["id"] == "moderate-renal"
    assert relay.accepted == 2, "the first connection was dropped, the second answered"
