"""The threat catalogue: the ids of ``docs/threat-model.md``, in the document's order.

The document is the reference; this tuple exists so that the installed program can print one row
per threat (``petition audit threat-model``) without shipping the document. A test
(``tests/test_threat_model_document.py``) keeps the two identical, and keeps the adversarial tests
under ``tests/adversarial/`` in step with both.

Privacy threats follow LINDDUN, security threats STRIDE; STRIDE's information disclosure is
covered by LINDDUN's data-disclosure rows, which is why there is no ``T-INFO`` prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Framework = Literal["LINDDUN", "STRIDE"]


@dataclass(frozen=True)
class Threat:
    id: str
    framework: Framework
    category: str
    title: str


def _linddun(id: str, category: str, title: str) -> Threat:
    return Threat(id, "LINDDUN", category, title)


def _stride(id: str, category: str, title: str) -> Threat:
    return Threat(id, "STRIDE", category, title)


THREATS: tuple[Threat, ...] = (
    _linddun("T-LINK-1", "Linking", "pseudonyms link one person's petitions across bureaus"),
    _linddun("T-LINK-2", "Linking", "the public log links one person's petitions"),
    _linddun("T-LINK-3", "Linking", "the server's stored data links one person's petitions"),
    _linddun(
        "T-ID-1", "Identifying", "everything the server holds and serves, tested against known IDs"
    ),
    _linddun("T-ID-2", "Identifying", "a case handler or a stolen case key learns who petitioned"),
    _linddun("T-ID-3", "Identifying", "a public service computes a per-person value"),
    _linddun("T-NR-1", "Non-repudiation", "what the petitioner leaves behind proves authorship"),
    _linddun("T-DET-1", "Detecting", "lengths reveal what a petition holds or its bureau"),
    _linddun("T-DET-2", "Detecting", "the server records who petitioned, or when"),
    _linddun("T-DET-3", "Detecting", "probing whether a petition exists, or lookup keys in URLs"),
    _linddun("T-DET-4", "Detecting", "the network sees the device talk to the server"),
    _linddun("T-DET-5", "Detecting", "polling the log times a petition or shows arrival order"),
    _linddun("T-DD-1", "Data disclosure", "the operator or another bureau reads a petition"),
    _linddun(
        "T-DD-2", "Data disclosure", "a petition moved, relabelled or its sections recombined"
    ),
    _linddun("T-DD-3", "Data disclosure", "recorded envelopes decrypted by a quantum computer"),
    _linddun(
        "T-DD-4", "Data disclosure", "a device or browser profile seized later reveals a petition"
    ),
    _linddun("T-DD-5", "Data disclosure", "a stolen keystore reveals bureau keys"),
    _linddun("T-DD-6", "Data disclosure", "a stolen database file is read"),
    _linddun("T-DD-7", "Data disclosure", "a bureau reads another bureau's inbox through the API"),
    _linddun("T-DD-8", "Data disclosure", "a complaint transferred back to the body it is about"),
    _linddun("T-UNAW-1", "Unawareness", "a mistyped ID or receipt code goes unnoticed"),
    _linddun("T-NC-1", "Non-compliance", "the server keeps personal data it does not need"),
    _stride("T-SPOOF-1", "Spoofing", "a forged or rolled-back directory"),
    _stride("T-SPOOF-2", "Spoofing", "a signature of one kind replayed as another"),
    _stride("T-SPOOF-3", "Spoofing", "a petition sealed under someone else's pseudonym"),
    _stride("T-SPOOF-4", "Spoofing", "a forged, replayed or stale bureau request"),
    _stride("T-SPOOF-5", "Spoofing", "a forged receipt or checkpoint, or a substitute log key"),
    _stride("T-SPOOF-6", "Spoofing", "a captured envelope resubmitted under another lookup key"),
    _stride("T-TAMP-1", "Tampering", "a stored envelope altered"),
    _stride("T-TAMP-2", "Tampering", "a log entry rewritten or a petition erased"),
    _stride("T-TAMP-3", "Tampering", "a split view: different logs shown to different people"),
    _stride(
        "T-TAMP-4", "Tampering", "a courier reads, drops, delays, repeats or alters a petition"
    ),
    _stride("T-REP-1", "Repudiation", "the server denies having accepted a petition"),
    _stride("T-REP-2", "Repudiation", "an acknowledged petition lost in a crash"),
    _stride("T-REP-3", "Repudiation", "a bureau denies, backdates or hides a step of a case"),
    _stride("T-REP-4", "Repudiation", "cold treatment: a case left unanswered, unnoticed"),
    _stride("T-DOS-1", "Denial of service", "a surge or a flood exhausts the writer"),
    _stride("T-DOS-2", "Denial of service", "one person floods a bureau with petitions"),
    _stride("T-DOS-3", "Denial of service", "hostile or malformed input"),
    _stride("T-EOP-1", "Elevation of privilege", "an attachment name writes outside the folder"),
)

THREAT_IDS: tuple[str, ...] = tuple(threat.id for threat in THREATS)
