"""The EHR stand-in: synthetic patients (FHIR R4 Bundles) and the hook requests built from them."""
