"""The patient's record as the hook call delivered it: every resource, found by type or reference.

Prefetch values arrive as search Bundles, single resources, Bundles inside Bundles (the HL7
examples nest them) or lists of these. They are flattened once here; everything else looks
resources up by type, or by the reference another resource uses for them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sized
from typing import Any, TypeVar

from fhir_mappings.fhir_json import JsonObject, objects, reference_key, referenced_patient, text_value
from fhir_mappings.validation import validation_problem

C = TypeVar("C", bound=Sized)
"""What a classifier finds in a resource: empty when the rules have no use for it."""


def flatten(resources: Any) -> Iterator[tuple[JsonObject, str | None]]:
    """Each resource with the fullUrl its Bundle entry gave it, Bundles opened recursively."""
    stack: list[tuple[Any, str | None]] = [(resources, None)]
    while stack:
        item, full_url = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend((element, None) for element in reversed(item))
        elif isinstance(item, dict):
            if item.get("resourceType") == "Bundle":
                stack.extend(
                    (entry.get("resource"), text_value(entry.get("fullUrl")))
                    for entry in reversed(objects(item.get("entry")))
                )
            elif isinstance(item.get("resourceType"), str):
                yield item, full_url


class PatientRecord:
    """The flattened resources of one hook call, indexed by type and by reference."""

    def __init__(self, resources: Iterable[Any]) -> None:
        self._by_type: dict[str, list[JsonObject]] = {}
        self._by_reference: dict[str, JsonObject] = {}
        self._foreign: Counter[tuple[str, str]] = Counter()
        for resource, full_url in flatten(list(resources)):
            kind = str(resource["resourceType"])
            key = self.key_of(resource)
            # The same resource twice (prefetched, then fetched again) counts once.
            if key is not None and key in self._by_reference:
                continue
            self._by_type.setdefault(kind, []).append(resource)
            if key is not None:
                self._by_reference[key] = resource
            if full_url:
                self._by_reference.setdefault(full_url, resource)

    @staticmethod
    def key_of(resource: JsonObject) -> str | None:
        """'Type/id' of a resource, when it has an id."""
        resource_id = text_value(resource.get("id"))
        kind = resource.get("resourceType")
        return f"{kind}/{resource_id}" if resource_id and isinstance(kind, str) else None

    def of_type(self, resource_type: str) -> list[JsonObject]:
        return self._by_type.get(resource_type, [])

    def find(self, reference: Any) -> JsonObject | None:
        """The resource a reference points at, if the record holds it."""
        text = text_value(reference)
        if text is None:
            return None
        found = self._by_reference.get(text)
        if found is None:
            key = reference_key(text)
            found = self._by_reference.get(key) if key else None
        return found

    def usable(
        self,
        resource_type: str,
        patient_id: str,
        classify: Callable[[JsonObject], C],
        problems: list[str],
        *,
        keep: Callable[[JsonObject], bool] = lambda resource: True,
    ) -> Iterator[tuple[JsonObject, C]]:
        """The resources of a type that the rules can use, with what ``classify`` found in
        them: kept by ``keep`` (status), classified as something the rules ask about, about
        this patient, and valid FHIR R4 — cheap checks first, validation last; a resource
        that fails validation is noted in ``problems``."""
        for resource in self.of_type(resource_type):
            if not keep(resource):
                continue
            classes = classify(resource)
            if not classes or not self.is_about(resource, patient_id):
                continue
            problem = validation_problem(resource)
            if problem is not None:
                problems.append(problem)
                continue
            yield resource, classes

    def is_about(self, resource: JsonObject, patient_id: str) -> bool:
        """False when a resource says it is about another patient (and counts it for a note).

        The prefetch is patient-scoped, so this should not happen; if it does, using another
        patient's creatinine for a dose is the worst mistake the service could make.
        """
        subject = referenced_patient(resource)
        if subject is None or subject == patient_id:
            return True
        self._foreign[(str(resource.get("resourceType")), subject)] += 1
        return False

    def other_patient_notes(self) -> list[str]:
        return [
            f"{count} {kind}{'s' if count > 1 else ''} about Patient/{subject}, not this patient; not used"
            for (kind, subject), count in self._foreign.items()
        ]
