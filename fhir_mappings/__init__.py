"""FHIR R4 JSON → the typed PatientSnapshot the rules read (see snapshot.build_snapshot)."""

from fhir_mappings.snapshot import build_snapshot, unresolved_medication_references

__all__ = ["build_snapshot", "unresolved_medication_references"]
