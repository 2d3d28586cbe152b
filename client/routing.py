"""Art. 30: which bureaus a case may not be routed to, given the body the petitioner names.

The Regulations (Art. 30; Art. 46(5)) forbid passing a complaint to the person or body it is
about. The petitioner names that body in the case section's free-text ``respondent``; only the
bureaus that open the case and the petitioner's own device can read it, so the server cannot
apply this rule. The bureau tools refuse such a transfer before it is made, and the
petitioner's status warns about one that was made anyway: both ask :func:`names_destination`,
so that the rule a bureau is held to and the rule a petitioner sees are the same.

The rule (issue 17, decision 6): a transfer or assignment from bureau ``source`` to bureau
``destination`` goes to the body complained about when the respondent text names the
destination, or any bureau above it up to (not including) the level the case was sent from, by
its bureau id, its name in the directory, or what its place covers, as a substring. "The level
it was sent from" is the transferring bureau for a case sent down its own branch; for a case
sent sideways it is the lowest bureau above both, so that a county-to-county transfer is not
read as a transfer to their shared province. Empty texts never match.
"""

from __future__ import annotations

from crypto.errors import SchemaViolation
from crypto.objects import Directory


def _ancestry(directory: Directory, bureau_id: str) -> list[str]:
    """The bureau and every bureau above it, nearest first (cycle-safe, unknown ids stop it)."""
    chain: list[str] = []
    current: str | None = bureau_id
    while current is not None and current not in chain:
        chain.append(current)
        try:
            current = directory.place(current).parent
        except SchemaViolation:  # an id the directory does not list ends the chain
            break
    return chain


def _texts(directory: Directory, bureau_id: str) -> list[str]:
    texts = [bureau_id]
    for bundle in directory.bureaus:
        if bundle.bureau_id == bureau_id:
            texts.append(bundle.name)
    for place in directory.places:
        if place.bureau_id == bureau_id:
            texts.append(place.covers)
    return [text.strip().casefold() for text in texts if text.strip()]


def routed_bodies(directory: Directory, source: str, destination: str) -> list[str]:
    """The bureaus a case sent from ``source`` to ``destination`` reaches: the destination and
    those above it, up to (not including) the lowest bureau above or equal to ``source``."""
    above_source = set(_ancestry(directory, source))
    bodies = []
    for bureau_id in _ancestry(directory, destination):
        if bureau_id in above_source:
            break
        bodies.append(bureau_id)
    return bodies


def names_destination(
    directory: Directory, respondent: str, source: str, destination: str
) -> str | None:
    """The bureau (id) among :func:`routed_bodies` that ``respondent`` names, or ``None``."""
    named = respondent.strip().casefold()
    if not named:
        return None
    for bureau_id in routed_bodies(directory, source, destination):
        if any(text in named for text in _texts(directory, bureau_id)):
            return bureau_id
    return None
