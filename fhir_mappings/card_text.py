"""EHR text made safe to quote in a card's Markdown ``detail``.

Where the escaping happens, and why here: the rules interpolate record text straight into
their Markdown (``f"... (*{procedure.display}*) ..."``), so by the time cards/ sees a rationale
paragraph it can no longer tell the record's words from the service's own bold, italics and
lists. The mappers are the one place that still knows which strings came from the EHR, so
the strings kept only to be shown — ``ClinicalCondition.display``, ``ClinicalProcedure.display``,
``MedicationOrder.display`` (and the dose problem quoting an ordered unit) and
``Measurement.original`` — are escaped once, as they are stored. No rule decides anything on
them: classification reads the codes and texts before a display is stored, and the rules only
quote displays and originals. The texts the mappers match on (``concept_texts``, product
names, units) stay raw, and so does ``DrugProduct.display``, which is written back into FHIR.

The split with cards/render.py: this escapes the Markdown-only metacharacters; ``<``, ``>`` and
``&`` are left to the HTML escaping cards/render.py applies to the whole detail (entities,
which no renderer reads as a tag or an autolink), so that nothing is escaped twice.
"""

from __future__ import annotations

import re

# Escaped wherever they occur: they open emphasis, code spans, links and images, strikethrough,
# tables, attribute lists (some renderers) and email autolinks, anywhere in a line.
_INLINE = re.compile(r"([\\`*_\[\]{}|~@])")
# Live only in a context the escaping above already breaks, so left as they are to keep record
# text readable where a client shows detail unrendered ('1.3 mg/dL', 'End-stage renal disease
# (disorder)'): '(' and ')' make a link or image only right after an (escaped) ']', '!' only
# before an (escaped) '['.
_IMAGE_OR_LINK_BANG = re.compile(r"!(?=\\\[)")
# GFM's extended autolinks need no brackets: 'scheme://' and 'www.' are enough.
_AUTOLINK = re.compile(r"(?:(?<=\w):(?=//)|(?<=\bwww)\.)", re.IGNORECASE)
# At the start of a line: a heading, a list item (bullet or ordered), a setext underline or a
# thematic break ('>', a block quote, becomes an entity in cards/render.py). A record's text is kept on one line (below), so only its own
# start can be a line start, when a rule writes it first.
_LINE_START = re.compile(r"^(?:[#+\-=]|\d{1,9}[.)](?=\s|$))")
# A line break inside a record's label would let the rest start a block of its own (a heading,
# a list, a fenced or indented code block): a label is one line, so it is kept on one.
_LINE_BREAKS = re.compile(r"\s*[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]\s*")


def markdown_text(text: str) -> str:
    """``text`` (from the record) as literal Markdown inline text: it renders as the same
    characters and can make no link, image, emphasis or block of its own."""
    escaped = _INLINE.sub(r"\\\1", _LINE_BREAKS.sub(" ", text).strip())
    escaped = _IMAGE_OR_LINK_BANG.sub(r"\\!", escaped)
    escaped = _AUTOLINK.sub(lambda match: "\\" + match.group(0), escaped)
    return _LINE_START.sub(_escape_line_start, escaped)


def _escape_line_start(match: re.Match[str]) -> str:
    marker = match.group(0)
    # '1.' / '1)' makes a list item by its punctuation: the digits stay, the '.' or ')' is escaped.
    return "\\" + marker if len(marker) == 1 else marker[:-1] + "\\" + marker[-1]


_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")


def plain_text(text: str) -> str:
    """Record text as stored for cards (``markdown_text``), back to the characters it shows,
    for views that render plain text rather than Markdown (the sandbox page)."""
    return _ESCAPED.sub(r"\1", text)
