"""The petitioner's status (issue 17): each event checked, the statutory clock, Art. 30 warnings.

The histories are built with crypto.case_event directly and signed with the bureaus' keys, as
the bureau tools sign them; the log is a real Merkle tree of the leaves, so an event's inclusion
is proven with the same verifier the auditor uses. No server: what is tested is what the
petitioner's device concludes from what a server sends.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date

import pytest

from client.api import LoggedEvent, PetitionStatusAnswer
from client.cli.petitioner import _show_status, clock_lines
from client.petitioner import (
    EVENT_BAD_SIGNATURE,
    EVENT_NOT_IN_LOG,
    EVENT_OTHER_PETITION,
    CheckedReceipt,
    Inclusion,
    StatusReport,
    status_report,
)
from client.routing import names_destination, routed_bodies
from client.session import Witnessing
from crypto import merkle, note
from crypto.case_event import DecisionOutcome, Detail, ExtensionReason, LogEntry, sign_entry
from crypto.checkpoint import Checkpoint
from crypto.errors import InvalidProof
from crypto.fields import signed_reply_hash
from crypto.keys import EncryptionPrivateKey, SigningKey
from crypto.labels import SignedKind
from crypto.log_receipt import VerifiedReceipt
from crypto.objects import BureauBundle, Directory, Place, Reply, default_policy
from crypto.receipt import ReceiptSecret
from crypto.reply import seal_reply
from crypto.signing import SignedObject, sign
from crypto.statutory import Event
from crypto.token import TokenParams, generate_token_salt

ORIGIN = "petition.example.org/log"
LOG = note.Verifier(ORIGIN, SigningKey.generate().public_key())
KEYS = {bureau: SigningKey.generate() for bureau in ("national", "guangdong", "futian", "nanshan")}
NAMES = {
    "national": "国家信访局",
    "guangdong": "广东省信访局",
    "futian": "福田区信访局",
    "nanshan": "南山区信访局",
}
PLACES = (
    Place("national", None, "全国"),
    Place("guangdong", "national", "广东省"),
    Place("futian", "guangdong", "深圳市福田区"),
    Place("nanshan", "guangdong", "深圳市南山区"),
)
ENVELOPE_HASH = hashlib.sha256(b"the envelope as first submitted").digest()
PID = ENVELOPE_HASH.hex()[:32]
RECEIVED_ON = date(2026, 3, 2)  # a Monday
NO_DETAIL = Detail()


def _bundle(bureau_id: str) -> BureauBundle:
    return BureauBundle(
        bureau_id=bureau_id,
        name=NAMES[bureau_id],
        identity_key=EncryptionPrivateKey.generate().public_key(),
        case_key=EncryptionPrivateKey.generate().public_key(),
        signing_key=KEYS[bureau_id].public_key(),
        token_salt=generate_token_salt(),
        token_params=TokenParams(),
    )


DIRECTORY = Directory(
    1, date(2026, 1, 1), tuple(_bundle(b) for b in NAMES), LOG, default_policy(LOG), PLACES
)


def _event(
    event: Event, day: date, bureau: str = "national", detail: Detail = NO_DETAIL, **changes: object
) -> LogEntry:
    entry = LogEntry(PID, bureau, ENVELOPE_HASH, event, day, detail)
    entry = replace(entry, **changes)  # type: ignore[arg-type]
    return sign_entry(entry, KEYS[bureau]) if entry.signed else entry


def _received() -> LogEntry:
    return _event(Event.RECEIVED, RECEIVED_ON)


@dataclass
class Case:
    """A petition's log: its entries at consecutive leaves (after some other petitions')."""

    entries: list[LogEntry]
    replies: list[SignedObject] = field(default_factory=list)
    secret: ReceiptSecret = field(default_factory=ReceiptSecret.generate)
    first_index: int = 3  # three other petitions were logged first
    checkpoint_size: int | None = None  # None: the checkpoint covers every entry

    def leaves(self) -> list[bytes]:
        others = [b"other petition %d" % i for i in range(self.first_index)]
        return others + [entry.leaf() for entry in self.entries]

    def tree(self) -> tuple[merkle.LeafHashList, Checkpoint]:
        leaves = self.leaves()
        size = len(leaves) if self.checkpoint_size is None else self.checkpoint_size
        hashes = [merkle.leaf_hash(leaf) for leaf in leaves[:size]]
        tree = merkle.LeafHashList(hashes)
        return tree, Checkpoint(ORIGIN, size, merkle.root_from_leaf_hashes(hashes))

    def prove(self, leaf: bytes, index: int, checkpoint: Checkpoint) -> None:
        """What the server's inclusion proof gives: the proof of the leaf the log holds."""
        tree, _ = self.tree()
        proof = merkle.inclusion_proof(tree, index, checkpoint.size)
        merkle.verify_inclusion(
            merkle.leaf_hash(leaf), index, checkpoint.size, proof, checkpoint.root_hash
        )

    def reply(self, bureau: str, event: Event, day: date, message: str) -> bytes:
        """A signed reply from ``bureau``; returns its hash, for the event's ``reply_hash``."""
        public = self.secret.reply_private_key().public_key()
        body = Reply(
            PID, bureau, event, len(self.replies), seal_reply(message, public, PID, bureau), day
        )
        signed = sign(SignedKind.REPLY, body.to_json(), KEYS[bureau])
        self.replies.append(signed)
        return signed_reply_hash(signed.encode())

    def report(
        self, today: date, respondent: str = "", *, listed: list[LogEntry] | None = None
    ) -> StatusReport:
        _, checkpoint = self.tree()
        receipt = VerifiedReceipt(self.entries[0], self.first_index, checkpoint, b"", ())
        shown = self.entries if listed is None else listed
        answer = PetitionStatusAnswer(
            PID,
            "national",
            tuple(LoggedEvent(self.first_index + i, e) for i, e in enumerate(shown)),
            tuple(self.replies),
            None,
        )
        return status_report(
            DIRECTORY,
            answer,
            self.secret,
            receipt=CheckedReceipt(receipt, Witnessing(True, (), 0)),
            respondent=respondent,
            today=today,
            prove=self.prove,
        )


def _report(case: Case, today: date, respondent: str = "") -> StatusReport:
    return case.report(today, respondent)


# -- the clock -------------------------------------------------------------------------------


def test_acknowledgement_extension_and_decision_give_the_right_deadline_and_due_day() -> None:
    """Art. 34: 60 days from acceptance (the notice) plus the extension; Art. 35: 30 days to
    ask for a review, counted from the written answer."""
    case = Case([_received(), _event(Event.ACKNOWLEDGED, date(2026, 3, 5))])
    report = _report(case, date(2026, 3, 10))
    assert report.clock is not None
    assert report.clock.deadline is not None
    assert report.clock.deadline.what == "decide"
    assert report.clock.deadline.due == date(2026, 5, 4)  # 3-5 + 60 days, a Monday
    assert report.clock.deadline.article == "Art. 34"
    assert report.clock.days_left == 55
    assert report.clock.parallel_petition_barred  # Art. 19: the body is within its time

    extended = Detail(days=30, reason=ExtensionReason.COMPLEX_FACTS)
    case.entries.append(_event(Event.EXTENDED, date(2026, 4, 20), detail=extended))
    report = _report(case, date(2026, 4, 21))
    assert report.clock is not None
    assert report.clock.deadline is not None
    assert report.clock.deadline.what == "decide_extended"
    assert report.clock.deadline.due == date(2026, 6, 3)  # 3-5 + 90 days, a Wednesday
    assert report.clock.days_left == 43

    outcome = Detail(outcome=DecisionOutcome.EXPLAINED)
    case.entries.append(_event(Event.DECIDED, date(2026, 5, 20), detail=outcome))
    report = _report(case, date(2026, 5, 25))
    clock = report.clock
    assert clock is not None
    assert clock.deadline is not None
    assert clock.action is not None
    assert clock.deadline.what == "request_review"
    assert clock.deadline.due == date(2026, 6, 18)  # 5-20 is day 1 of the 30
    assert clock.deadline.article == "Art. 35"
    assert (clock.action.code, clock.days_left) == ("request_review", 24)
    assert not clock.parallel_petition_barred
    assert all(event.verified and event.inclusion is Inclusion.PROVEN for event in report.events)
    assert report.latest is not None
    assert report.latest.event is Event.DECIDED
    lines = "\n".join(clock_lines(report))
    assert "Open to you: your request for a review, due 2026-06-18 (Art. 35), 24 days left" in lines


def test_an_overdue_case_shows_the_action_the_law_gives() -> None:
    case = Case([_received()])
    in_time = _report(case, date(2026, 3, 17))  # the 15th day after receipt, a Tuesday
    assert in_time.clock is not None
    assert not in_time.clock.overdue
    assert in_time.clock.days_left == 0
    assert in_time.clock.parallel_petition_barred

    report = _report(case, date(2026, 3, 20))
    clock = report.clock
    assert clock is not None
    assert clock.deadline is not None
    assert clock.action is not None
    assert clock.deadline.what == "acknowledge"
    assert clock.days_overdue == 3
    assert (clock.action.code, clock.action.article) == ("ask_next_level", "Art. 43; Art. 44(3)")
    assert not clock.parallel_petition_barred
    lines = "\n".join(clock_lines(report))
    assert "OVERDUE: the written notice" in lines
    assert "3 days past" in lines
    assert "What you can do (ask_next_level, Art. 43; Art. 44(3))" in lines
    assert "Art. 19 no longer holds the case at this level" in lines


# -- each event checked -----------------------------------------------------------------------


def test_an_entry_with_a_bad_signature_is_flagged_and_left_out_of_the_clock() -> None:
    """A forged acknowledgement would hide the missed 15 days; it is shown, flagged, unused."""
    honest = _event(Event.ACKNOWLEDGED, date(2026, 3, 5))
    forged = sign_entry(replace(honest, signature=None), KEYS["guangdong"])  # not national's key
    for entry, flagged in ((honest, False), (forged, True)):
        report = _report(Case([_received(), entry]), date(2026, 3, 20))
        shown = report.events[1]
        assert shown.verified is not flagged
        assert [p.code for p in shown.problems] == ([EVENT_BAD_SIGNATURE] if flagged else [])
        assert report.clock is not None
        assert report.clock.deadline is not None
        assert report.clock.deadline.what == ("acknowledge" if flagged else "decide")
        assert report.clock.overdue is flagged
    assert report.flagged == (report.events[1],)
    assert report.latest is not None
    assert report.latest.event is Event.RECEIVED


def test_an_unsigned_bureau_event_and_a_signed_server_event_are_flagged() -> None:
    unsigned = replace(_event(Event.ACKNOWLEDGED, date(2026, 3, 5)), signature=None)
    report = _report(Case([_received(), unsigned]), date(2026, 3, 6))
    assert [p.code for p in report.events[1].problems] == [EVENT_BAD_SIGNATURE]


def test_an_entry_of_another_petition_is_flagged() -> None:
    other_envelope = _event(Event.ACKNOWLEDGED, date(2026, 3, 5), envelope_hash=bytes(32))
    other_id = _event(Event.ACKNOWLEDGED, date(2026, 3, 5), petition_id="0" * 32)
    for entry in (other_envelope, other_id):
        report = _report(Case([_received(), entry]), date(2026, 3, 6))
        assert [p.code for p in report.events[1].problems] == [EVENT_OTHER_PETITION]
        assert report.clock is not None
        assert report.clock.deadline is not None
        assert report.clock.deadline.what == "acknowledge"


def test_an_event_the_log_does_not_hold_is_flagged_and_a_later_one_is_pending() -> None:
    acknowledged = _event(Event.ACKNOWLEDGED, date(2026, 3, 5))
    case = Case([_received(), acknowledged])
    # The server lists an acknowledgement the log does not hold at that index.
    swapped = _event(Event.ACKNOWLEDGED, date(2026, 3, 6))
    report = case.report(date(2026, 3, 10), listed=[case.entries[0], swapped])
    assert [p.code for p in report.events[1].problems] == [EVENT_NOT_IN_LOG]
    assert report.events[1].inclusion is Inclusion.FAILED
    # An event after the checkpoint is pending, not a failure.
    case.checkpoint_size = case.first_index + 1
    report = _report(case, date(2026, 3, 10))
    assert report.events[1].inclusion is Inclusion.PENDING
    assert report.events[1].verified
    assert report.events[0].inclusion is Inclusion.PROVEN


def test_the_prover_is_the_merkle_verifier() -> None:
    """Control for the test above: a proof for another leaf does not verify."""
    case = Case([_received(), _event(Event.ACKNOWLEDGED, date(2026, 3, 5))])
    _, checkpoint = case.tree()
    case.prove(case.entries[1].leaf(), case.first_index + 1, checkpoint)
    with pytest.raises(InvalidProof):
        case.prove(case.entries[0].leaf(), case.first_index + 1, checkpoint)


# -- transfers (Art. 30) ----------------------------------------------------------------------


def test_a_transfer_to_the_body_complained_about_is_flagged_with_the_next_level() -> None:
    case = Case(
        [
            _received(),
            _event(Event.TRANSFERRED, date(2026, 3, 4), detail=Detail(to="guangdong")),
            _event(
                Event.ASSIGNED, date(2026, 3, 6), bureau="guangdong", detail=Detail(to="futian")
            ),
        ]
    )
    report = _report(case, date(2026, 3, 9), respondent="深圳市福田区住房和建设局")
    transfer, assignment = report.events[1], report.events[2]
    assert transfer.to_name == "广东省信访局"
    assert transfer.to_respondent is None
    assert assignment.to_name == "福田区信访局"
    assert assignment.to_respondent == "futian"
    assert assignment.next_level == ("national", "国家信访局")
    assert report.transfers_to_respondent == (assignment,)
    assert report.handling == ("futian", "福田区信访局")
    # Control: without a respondent, or naming another body, nothing is flagged.
    for respondent in ("", "   ", "深圳市南山区教育局"):
        assert not _report(case, date(2026, 3, 9), respondent).transfers_to_respondent


def test_the_routing_rule_names_the_destination_and_the_bodies_below_the_sender() -> None:
    assert routed_bodies(DIRECTORY, "national", "futian") == ["futian", "guangdong"]
    assert routed_bodies(DIRECTORY, "guangdong", "futian") == ["futian"]
    # Sideways: the shared province is not where the case went.
    assert routed_bodies(DIRECTORY, "nanshan", "futian") == ["futian"]
    assert names_destination(DIRECTORY, "广东省人民政府", "national", "futian") == "guangdong"
    assert names_destination(DIRECTORY, "广东省人民政府", "nanshan", "futian") is None
    assert names_destination(DIRECTORY, "the FUTIAN office", "national", "futian") == "futian"
    assert names_destination(DIRECTORY, "福田区信访局", "guangdong", "futian") == "futian"
    assert names_destination(DIRECTORY, "", "national", "futian") is None


def test_the_cli_shows_the_warning_flags_and_replies_with_their_event(
    capsys: pytest.CaptureFixture[str],
) -> None:
    case = Case(
        [
            _received(),
            _event(Event.TRANSFERRED, date(2026, 3, 4), detail=Detail(to="guangdong")),
        ]
    )
    reply_hash = case.reply("guangdong", Event.ACKNOWLEDGED, date(2026, 3, 5), "已受理。")
    case.entries.append(
        _event(Event.ACKNOWLEDGED, date(2026, 3, 5), bureau="guangdong", reply_hash=reply_hash)
    )
    forged = sign_entry(
        LogEntry(
            PID,
            "guangdong",
            ENVELOPE_HASH,
            Event.DECIDED,
            date(2026, 3, 6),
            Detail(outcome=DecisionOutcome.SUPPORTED),
        ),
        KEYS["national"],
    )
    case.entries.append(forged)
    report = _report(case, date(2026, 3, 9), respondent="广东省人民政府")
    assert report.replies[0].leaf_index == case.first_index + 2
    assert report.replies[0].message == "已受理。"
    assert report.events[2].reply_sequence == 0
    _show_status(report)
    out = capsys.readouterr().out
    assert "Now with: 广东省信访局 (guangdong)" in out
    assert "transferred at 国家信访局 (national), to 广东省信访局 (guangdong)" in out
    assert "WARNING: this transfer sends your case to 广东省信访局" in out
    assert "Art. 30 and Art. 46(5)" in out
    assert "The directory lists no level above 国家信访局." in out
    assert "!! 2026-03-06  decided at 广东省信访局 (guangdong): supported" in out
    assert "NOT VERIFIED: its signature does not verify" in out
    assert "Reply 1 (2026-03-05), with the acknowledged event (entry 6)" in out
    assert "Running: the written answer, due 2026-05-04 (Art. 34)" in out
    assert "Art. 19: while a body is within its time limit" in out
