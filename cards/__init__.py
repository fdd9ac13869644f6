"""Recommendations of the rules core → CDS Hooks cards with FHIR R4 suggestions."""

from cards.render import to_cards

__all__ = ["to_cards"]
