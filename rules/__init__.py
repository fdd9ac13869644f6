"""The rules core: pure functions from a PatientSnapshot to Recommendations.

No Flask, no FHIR JSON, no I/O, no clock ("today" is an argument). Every threshold of the
clinical rules lives once in this package, beside its rule id and guideline section.
"""

from rules.engine import evaluate
from rules.model import Evaluation, PatientSnapshot, Recommendation

__all__ = ["Evaluation", "PatientSnapshot", "Recommendation", "evaluate"]
