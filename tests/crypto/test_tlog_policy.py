"""Tests for crypto.tlog_policy: the tlog-policy syntax rule by rule, and checkpoint verification
against a policy (log signature and origin, cosignatures, nested k-of-n quorums)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from crypto import checkpoint, note
from crypto.checkpoint import Checkpoint
from crypto.cosignature import Cosigner
from crypto.errors import InvalidSignature, MalformedInput, PolicyNotSatisfied
from crypto.keys import SigningKey
from crypto.tlog_policy import NONE, Policy, PolicyGroup, PolicyLog, PolicyWitness

VECTORS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent.parent / "vectors" / "c2sp-tlog.json").read_text(
        encoding="utf-8"
    )
)
SPEC_POLICY: str = VECTORS["tlog_policy"]["text"]

LOG = note.Signer("example.org/log", SigningKey(bytes(range(32))))
OTHER_LOG = note.Signer("example.org/other-log", SigningKey(bytes(range(64, 96))))
COSIGNERS = {
    name: Cosigner(f"witness.example/{name}", SigningKey(bytes([i + 1]) * 32))
    for i, name in enumerate(["X1", "X2", "X3", "Y1", "Y2", "Y3"])
}
CHECKPOINT = Checkpoint(LOG.name, 42, bytes(range(32)))
TIME = 1_700_000_000


def _vkey(name: str) -> str:
    return COSIGNERS[name].verifier().to_vkey()


def _spec_policy() -> bytes:
    """The specification's example with real keys in place of its elided ``<vkey>``s."""
    lines = []
    for line in SPEC_POLICY.splitlines(keepends=True):
        if line.startswith("log "):
            line = line.replace("<vkey>", LOG.verifier().to_vkey())
        elif line.startswith("witness "):
            line = line.replace("<vkey>", _vkey(line.split()[1]))
        lines.append(line)
    return "".join(lines).encode()


SPEC = Policy.parse(_spec_policy())


def _cosigned(*names: str, cp: Checkpoint = CHECKPOINT, log: note.Signer = LOG) -> bytes:
    message = checkpoint.sign(cp, [log])
    return message + "".join(COSIGNERS[n].cosign(cp.to_text(), TIME) for n in names).encode()


# --------------------------------------------------------------------------------------------
# The specification's example


def test_spec_example_parses_into_its_logs_witnesses_and_groups() -> None:
    assert [log.verifier for log in SPEC.logs] == [LOG.verifier()]
    assert [w.name for w in SPEC.witnesses] == ["X1", "X2", "X3", "Y1", "Y2", "Y3"]
    assert SPEC.witnesses[3].verifier == COSIGNERS["Y1"].verifier()
    assert SPEC.groups == (
        PolicyGroup("X-witnesses", 2, ("X1", "X2", "X3")),
        PolicyGroup("Y-witnesses", 1, ("Y1", "Y2", "Y3")),
        PolicyGroup("X-and-Y", 2, ("X-witnesses", "Y-witnesses")),
    )
    assert SPEC.quorum == "X-and-Y"


@pytest.mark.parametrize(
    ("cosigners", "witnessed"),
    [
        (("X1", "X2", "Y1"), True),
        (("X2", "X3", "Y3"), True),
        (("X1", "X2", "X3", "Y1", "Y2", "Y3"), True),
        (("X1", "Y1", "Y2", "Y3"), False),  # one X is not two
        (("X1", "X2", "X3"), False),  # no Y
        (("Y1",), False),
        ((), False),
    ],
)
def test_spec_example_quorum_is_two_xs_and_one_y(
    cosigners: tuple[str, ...], witnessed: bool
) -> None:
    assert SPEC.is_witnessed(SPEC.quorum, frozenset(cosigners)) is witnessed
    message = _cosigned(*cosigners)
    if witnessed:
        assert SPEC.verify_checkpoint(message).witnesses == cosigners
    else:
        with pytest.raises(PolicyNotSatisfied):
            SPEC.verify_checkpoint(message)


def test_unsatisfied_quorum_says_what_is_missing_where() -> None:
    with pytest.raises(PolicyNotSatisfied) as raised:
        SPEC.verify_checkpoint(_cosigned("X1", "Y2"))
    assert raised.value.message == (
        "the checkpoint lacks the witness quorum: group X-and-Y needs 1 more of "
        "X-witnesses [needs 1 more of X2, X3]"
    )
    assert raised.value.code == "policy_not_satisfied"


def test_unsatisfied_quorum_names_every_missing_branch() -> None:
    expected = (
        "group X-and-Y needs 2 more of X-witnesses [needs 2 more of X1, X2, X3], "
        "Y-witnesses [needs 1 more of Y1, Y2, Y3]"
    )
    with pytest.raises(PolicyNotSatisfied, match=re.escape(expected)):
        SPEC.verify_checkpoint(_cosigned())


def test_spec_example_round_trips_through_the_canonical_text() -> None:
    assert Policy.parse(SPEC.to_text()) == SPEC


# --------------------------------------------------------------------------------------------
# Syntax that must be accepted


def test_canonical_text_layout() -> None:
    policy = Policy(
        (PolicyLog(LOG.verifier(), "https://log.example/"),),
        (
            PolicyWitness("X1", COSIGNERS["X1"].verifier(), "https://x1.example/"),
            PolicyWitness("X2", COSIGNERS["X2"].verifier()),
            PolicyWitness("X3", COSIGNERS["X3"].verifier()),
        ),
        (PolicyGroup("one", 1, ("X1", "X2")), PolicyGroup("two", 2, ("one", "X3"))),
        "two",
    )
    assert (
        policy.to_text()
        == (
            f"log {LOG.verifier().to_vkey()} https://log.example/\n"
            f"witness X1 {_vkey('X1')} https://x1.example/\n"
            f"witness X2 {_vkey('X2')}\n"
            f"witness X3 {_vkey('X3')}\n"
            "group one any X1 X2\n"
            "group two all one X3\n"
            "quorum two\n"
        ).encode()
    )
    assert Policy.parse(policy.to_text()) == policy


def test_numeric_threshold_is_kept_when_neither_any_nor_all() -> None:
    text = (
        f"witness A {_vkey('X1')}\nwitness B {_vkey('X2')}\nwitness C {_vkey('X3')}\n"
        "group g 2 A B C\nquorum g\n"
    )
    policy = Policy.parse(text.encode())
    assert policy.groups[0].threshold == 2
    assert policy.to_text().endswith(b"group g 2 A B C\nquorum g\n")


def test_comments_blank_lines_tabs_and_surrounding_whitespace_are_ignored() -> None:
    text = (
        "# a policy\n"
        "\n"
        "   \t \n"
        "  # an indented comment, with # inside\n"
        f"\tlog\t {LOG.verifier().to_vkey()} \t\n"
        f"witness  X1\t\t{_vkey('X1')}   https://x1.example/add  \n"
        "group   g  any   X1\t\n"
        "\t quorum g\n"
    )
    policy = Policy.parse(text.encode())
    assert policy.witnesses[0].url == "https://x1.example/add"
    assert policy.quorum == "g"
    assert (
        policy.to_text()
        == (
            f"log {LOG.verifier().to_vkey()}\n"
            f"witness X1 {_vkey('X1')} https://x1.example/add\n"
            "group g all X1\nquorum g\n"
        ).encode()
    )


def test_quorum_none_needs_no_witnesses() -> None:
    policy = Policy.parse(f"log {LOG.verifier().to_vkey()}\nquorum none\n".encode())
    assert policy.quorum == NONE
    assert policy.verify_checkpoint(checkpoint.sign(CHECKPOINT, [LOG])).witnesses == ()


def test_quorum_may_be_a_single_witness() -> None:
    text = f"log {LOG.verifier().to_vkey()}\nwitness W {_vkey('X1')}\nquorum W\n"
    policy = Policy.parse(text.encode())
    assert policy.verify_checkpoint(_cosigned("X1")).witnesses == ("W",)
    with pytest.raises(PolicyNotSatisfied, match="witness W has not cosigned"):
        policy.verify_checkpoint(_cosigned("X2"))


def test_a_policy_without_logs_parses() -> None:
    """Allowed by the specification (the log may be known from context), but it verifies
    nothing here: every checkpoint lacks a trusted log signature."""
    policy = Policy.parse(b"quorum none\n")
    assert policy.logs == ()
    with pytest.raises(InvalidSignature):
        policy.verify_checkpoint(checkpoint.sign(CHECKPOINT, [LOG]))


def test_lines_after_the_quorum_line_are_read() -> None:
    text = f"witness W {_vkey('X1')}\nquorum W\nlog {LOG.verifier().to_vkey()}\n"
    assert len(Policy.parse(text.encode()).logs) == 1


def test_names_are_opaque_octets() -> None:
    """'K' and the Kelvin sign are different names; a non-UTF-8 name survives a round trip."""
    text = (
        f"witness K {_vkey('X1')}\n".encode()
        + "witness \u212a ".encode()
        + _vkey("X2").encode()
        + b"\nwitness \xff\xfe "
        + _vkey("X3").encode()
        + b"\ngroup g all K \xe2\x84\xaa \xff\xfe\nquorum g\n"
    )
    policy = Policy.parse(text)
    assert len({w.name for w in policy.witnesses}) == 3
    assert b"\xff\xfe" in policy.to_text()
    assert Policy.parse(policy.to_text()) == policy


def test_urls_may_carry_non_ascii_octets() -> None:
    text = f"log {LOG.verifier().to_vkey()} https://пример.example/log\nquorum none\n"
    policy = Policy.parse(text.encode())
    assert policy.logs[0].url == "https://пример.example/log"
    assert policy.to_text() == text.encode()


def test_an_empty_file_has_no_quorum() -> None:
    with pytest.raises(MalformedInput, match="exactly one quorum line"):
        Policy.parse(b"")


# --------------------------------------------------------------------------------------------
# Syntax that must be refused

LOG_VKEY = LOG.verifier().to_vkey()
X1, X2, X3 = _vkey("X1"), _vkey("X2"), _vkey("X3")
ALTERED_X1 = X1[:-1] + ("A" if X1[-1] != "A" else "B")  # another key under X1's ID
SAME_KEY_OTHER_NAME = Cosigner("other.example/w", COSIGNERS["X1"].key).verifier().to_vkey()
SAME_LOG_KEY_OTHER_NAME = note.Verifier("other.example/log", LOG.key.public_key()).to_vkey()

MALFORMED_POLICIES: list[tuple[str, bytes, str]] = [
    ("no-quorum", f"log {LOG_VKEY}\n".encode(), "exactly one quorum line"),
    ("two-quorums", b"quorum none\nquorum none\n", "line 2: a policy has exactly one quorum"),
    ("quorum-without-name", b"quorum\n", "'quorum <name>'"),
    ("quorum-two-names", b"quorum none none\n", "'quorum <name>'"),
    ("quorum-undefined", b"quorum W\n", "line 1: the quorum W is not"),
    ("quorum-before-witness", f"quorum W\nwitness W {X1}\n".encode(), "line 1: the quorum W"),
    ("unknown-keyword", b"quorum none\nwitnesses W x\n", "line 2: unknown keyword 'witnesses'"),
    ("capitalised-keyword", b"Quorum none\n", "unknown keyword 'Quorum'"),
    ("mid-line-comment", b"quorum none # no witnesses\n", "'quorum <name>'"),
    ("log-without-key", b"log\nquorum none\n", "'log <vkey> \\[<url>\\]'"),
    ("log-extra-field", f"log {LOG_VKEY} u v\nquorum none\n".encode(), "'log <vkey>"),
    ("log-witness-key", f"log {X1}\nquorum none\n".encode(), "witness cosignature key, not a log"),
    ("log-bad-vkey", b"log example.org/log+0000+AAAA\nquorum none\n", "8 lower-case"),
    ("log-non-utf8-vkey", b"log \xff+00000000+AA==\nquorum none\n", "valid UTF-8"),
    ("witness-without-key", b"witness W\nquorum none\n", "'witness <name> <vkey>"),
    ("witness-extra", f"witness W {X1} u v\nquorum none\n".encode(), "'witness <name> <vkey>"),
    ("witness-log-key", f"witness W {LOG_VKEY}\nquorum none\n".encode(), "it is a log"),
    ("witness-altered-key", f"witness W {ALTERED_X1}\nquorum none\n".encode(), "does not match"),
    ("witness-named-none", f"witness none {X1}\nquorum none\n".encode(), "'none' is reserved"),
    ("duplicate-witness-name", f"witness W {X1}\nwitness W {X2}\nquorum W\n".encode(),
     "line 2: the name W is defined twice"),
    ("duplicate-witness-key", f"witness A {X1}\nwitness B {X1}\nquorum A\n".encode(),
     "witness B has the key of another witness"),
    ("same-witness-key-other-name", f"witness A {X1}\nwitness B {SAME_KEY_OTHER_NAME}\n"
     "quorum A\n".encode(), "key of another witness"),
    ("duplicate-log", f"log {LOG_VKEY}\nlog {LOG_VKEY}\nquorum none\n".encode(),
     "line 2: the log key example.org/log appears twice"),
    ("same-log-key-other-name", f"log {LOG_VKEY}\nlog {SAME_LOG_KEY_OTHER_NAME}\nquorum none\n"
     .encode(), "appears twice"),
    ("group-name-taken", f"witness W {X1}\ngroup W any W\nquorum W\n".encode(), "defined twice"),
    ("group-named-none", f"witness W {X1}\ngroup none any W\nquorum W\n".encode(), "reserved"),
    ("group-twice", f"witness A {X1}\nwitness B {X2}\ngroup g any A\ngroup g any B\nquorum g\n"
     .encode(), "line 4: the name g is defined twice"),
    ("group-no-members", f"witness W {X1}\ngroup g any\nquorum W\n".encode(), "'group <name>"),
    ("group-no-threshold", f"witness W {X1}\ngroup g W\nquorum W\n".encode(), "'group <name>"),
    ("group-undefined-member", f"witness W {X1}\ngroup g any W V\nquorum g\n".encode(),
     "member V is not a witness or group defined before"),
    ("group-forward-reference", f"group g any W\nwitness W {X1}\nquorum g\n".encode(),
     "line 1: group g: member W is not"),
    ("group-contains-itself", f"witness W {X1}\ngroup g any W g\nquorum g\n".encode(),
     "member g is not"),
    ("group-contains-none", f"witness W {X1}\ngroup g any W none\nquorum g\n".encode(),
     "'none' cannot be a group member"),
    ("member-twice-in-group", f"witness W {X1}\ngroup g any W W\nquorum g\n".encode(),
     "W is already a member"),
    ("member-of-two-groups", f"witness A {X1}\nwitness B {X2}\ngroup g any A B\ngroup h any A\n"
     "group q all g h\nquorum q\n".encode(), "line 4: group h: A is already a member"),
    ("group-in-two-groups", f"witness A {X1}\nwitness B {X2}\ngroup g any A\ngroup h any g B\n"
     "group q all g h\nquorum q\n".encode(), "line 5: group q: g is already a member"),
    ("threshold-zero", f"witness W {X1}\ngroup g 0 W\nquorum g\n".encode(), "between 1 and 1"),
    ("threshold-above-n", f"witness W {X1}\ngroup g 2 W\nquorum g\n".encode(), "between 1 and 1"),
    ("threshold-huge", f"witness W {X1}\ngroup g {'9' * 5000} W\nquorum g\n".encode(),
     "between 1 and 1"),
    ("threshold-leading-zero", f"witness W {X1}\ngroup g 01 W\nquorum g\n".encode(),
     "without leading zeros"),
    ("threshold-word", f"witness W {X1}\ngroup g one W\nquorum g\n".encode(), "'all', 'any'"),
    ("threshold-capitals", f"witness W {X1}\ngroup g ALL W\nquorum g\n".encode(), "'all', 'any'"),
    ("threshold-negative", f"witness W {X1}\ngroup g -1 W\nquorum g\n".encode(), "'all', 'any'"),
    ("threshold-non-ascii", f"witness W {X1}\ngroup g ١ W\nquorum g\n".encode(), "'all', 'any'"),
    ("carriage-return", b"quorum none\r\n", "line 1: octet 0x0d is not allowed"),
    ("nul", b"# \x00\nquorum none\n", "line 1: octet 0x00"),
    ("delete", b"quorum none\n#\x7f\n", "line 2: octet 0x7f"),
    ("vertical-tab", b"quorum\x0bnone\n", "octet 0x0b"),
    ("form-feed", b"\x0c\nquorum none\n", "octet 0x0c"),
    ("no-final-newline", b"quorum none", "must end with a newline"),
    ("non-breaking-space-separator", "quorum\u00a0none\n".encode(), "unknown keyword"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "reason"), [c[1:] for c in MALFORMED_POLICIES], ids=[c[0] for c in MALFORMED_POLICIES]
)
def test_malformed_policy_is_refused(text: bytes, reason: str) -> None:
    with pytest.raises(MalformedInput, match=reason):
        Policy.parse(text)


def test_policy_built_in_code_obeys_the_same_rules() -> None:
    w = PolicyWitness("W", COSIGNERS["X1"].verifier())
    with pytest.raises(MalformedInput, match="quorum V is not"):
        Policy((), (w,), (), "V")
    with pytest.raises(MalformedInput, match="member V is not"):
        Policy((), (w,), (PolicyGroup("g", 1, ("V",)),), "g")
    with pytest.raises(MalformedInput, match="defined twice"):
        Policy((), (w, PolicyWitness("W", COSIGNERS["X2"].verifier())), (), "W")
    with pytest.raises(MalformedInput, match="whitespace"):
        PolicyWitness("a b", COSIGNERS["X1"].verifier())
    with pytest.raises(MalformedInput, match="whitespace"):
        PolicyLog(LOG.verifier(), "https://log.example/ x")
    with pytest.raises(MalformedInput, match="must not be empty"):
        PolicyWitness("", COSIGNERS["X1"].verifier())
    with pytest.raises(MalformedInput, match="at least one member"):
        PolicyGroup("g", 1, ())
    with pytest.raises(MalformedInput, match="between 1 and 2"):
        PolicyGroup("g", 3, ("a", "b"))


# --------------------------------------------------------------------------------------------
# single_log


def _witness_list(*names: str) -> list[tuple[str, Any, str | None]]:
    return [(n, COSIGNERS[n].verifier(), f"https://{n.lower()}.example/") for n in names]


def test_single_log_with_threshold_zero_is_quorum_none() -> None:
    policy = Policy.single_log(LOG.verifier(), _witness_list("X1", "X2"), 0)
    assert policy.quorum == NONE
    assert policy.groups == ()
    assert len(policy.witnesses) == 2
    assert policy.to_text().endswith(b"\nquorum none\n")
    assert policy.verify_checkpoint(_cosigned()).witnesses == ()
    assert policy.verify_checkpoint(_cosigned("X2")).witnesses == ("X2",)


def test_single_log_k_of_n() -> None:
    policy = Policy.single_log(
        LOG.verifier(), _witness_list("X1", "X2", "X3"), 2, log_url="https://log.example/"
    )
    assert (
        policy.to_text()
        == (
            f"log {LOG_VKEY} https://log.example/\n"
            f"witness X1 {X1} https://x1.example/\n"
            f"witness X2 {X2} https://x2.example/\n"
            f"witness X3 {X3} https://x3.example/\n"
            "group witnesses 2 X1 X2 X3\n"
            "quorum witnesses\n"
        ).encode()
    )
    assert policy.verify_checkpoint(_cosigned("X3", "X1")).witnesses == ("X1", "X3")
    with pytest.raises(PolicyNotSatisfied, match="group witnesses needs 1 more of X1, X2"):
        policy.verify_checkpoint(_cosigned("X3"))


@pytest.mark.parametrize("threshold", [-1, 4])
def test_single_log_refuses_an_impossible_threshold(threshold: int) -> None:
    with pytest.raises(MalformedInput):
        Policy.single_log(LOG.verifier(), _witness_list("X1", "X2", "X3"), threshold)


# --------------------------------------------------------------------------------------------
# Verifying checkpoints

POLICY = Policy.single_log(LOG.verifier(), _witness_list("X1", "X2", "X3"), 2)


def test_verified_checkpoint_carries_the_checkpoint_and_the_note() -> None:
    message = _cosigned("X1", "X2")
    verified = POLICY.verify_checkpoint(message, origin=LOG.name)
    assert verified.checkpoint == CHECKPOINT
    assert verified.message == message
    assert verified.witnesses == ("X1", "X2")


def test_unknown_witnesses_do_not_count() -> None:
    stranger = Cosigner.generate("witness.example/stranger")
    message = _cosigned("X1") + stranger.cosign(CHECKPOINT.to_text(), TIME).encode()
    with pytest.raises(PolicyNotSatisfied):
        POLICY.verify_checkpoint(message)
    # A witness of the policy under a name it does not have is unknown too.
    renamed = Cosigner("witness.example/renamed", COSIGNERS["X2"].key)
    message = _cosigned("X1") + renamed.cosign(CHECKPOINT.to_text(), TIME).encode()
    with pytest.raises(PolicyNotSatisfied):
        POLICY.verify_checkpoint(message)


def test_repeated_cosignature_by_one_witness_counts_once() -> None:
    message = _cosigned("X1", "X1")
    with pytest.raises(PolicyNotSatisfied, match="needs 1 more"):
        POLICY.verify_checkpoint(message)


def test_altered_checkpoint_is_refused() -> None:
    altered = _cosigned("X1", "X2").replace(b"\n42\n", b"\n43\n", 1)
    with pytest.raises(InvalidSignature, match="does not verify"):
        POLICY.verify_checkpoint(altered)


def test_bad_cosignature_by_a_known_witness_is_refused_even_if_the_quorum_is_met() -> None:
    line = COSIGNERS["X3"].cosign(CHECKPOINT.to_text(), TIME)
    head, encoded = line.rstrip("\n").rsplit(" ", 1)
    corrupted = head + " " + encoded[:-4] + ("AAA=" if encoded[-4:] != "AAA=" else "BBB=") + "\n"
    with pytest.raises(InvalidSignature, match=re.escape("cosignature by witness.example/X3")):
        POLICY.verify_checkpoint(_cosigned("X1", "X2") + corrupted.encode())


def test_cosignature_copied_from_another_checkpoint_is_refused() -> None:
    other = Checkpoint(LOG.name, 41, bytes(range(32)))
    stolen = COSIGNERS["X2"].cosign(other.to_text(), TIME).encode()
    with pytest.raises(InvalidSignature, match="does not verify"):
        POLICY.verify_checkpoint(_cosigned("X1") + stolen)


def test_checkpoint_signed_only_by_witnesses_is_refused() -> None:
    text = CHECKPOINT.to_text()
    message = (text + "\n").encode() + "".join(
        COSIGNERS[n].cosign(text, TIME) for n in ("X1", "X2", "X3")
    ).encode()
    with pytest.raises(InvalidSignature, match="no signature by a log key the policy trusts"):
        POLICY.verify_checkpoint(message)


def test_checkpoint_by_an_unknown_log_is_refused() -> None:
    with pytest.raises(InvalidSignature, match="no signature by a known key"):
        POLICY.verify_checkpoint(_cosigned(log=OTHER_LOG))


def test_origin_must_be_the_signing_log_key_name() -> None:
    """A trusted log key cannot vouch for a checkpoint of another origin."""
    foreign = Checkpoint("example.org/someone-else", 42, bytes(range(32)))
    with pytest.raises(
        InvalidSignature, match=re.escape("for example.org/someone-else carries no")
    ):
        POLICY.verify_checkpoint(_cosigned("X1", "X2", cp=foreign))


def test_origin_must_be_the_expected_one_when_given() -> None:
    with pytest.raises(
        InvalidSignature, match=re.escape("from log example.org/log, not the expected")
    ):
        POLICY.verify_checkpoint(_cosigned("X1", "X2"), origin="example.org/other-log")


def test_any_listed_log_may_sign() -> None:
    policy = Policy((PolicyLog(LOG.verifier()), PolicyLog(OTHER_LOG.verifier())), (), (), NONE)
    other = Checkpoint(OTHER_LOG.name, 1, bytes(32))
    assert policy.verify_checkpoint(checkpoint.sign(other, [OTHER_LOG])).checkpoint == other
    assert policy.logs_for(OTHER_LOG.name) == (PolicyLog(OTHER_LOG.verifier()),)


def test_cosignature_dated_in_the_future_is_refused_when_the_time_is_given() -> None:
    message = _cosigned("X1", "X2")
    assert POLICY.verify_checkpoint(message, now=TIME).witnesses == ("X1", "X2")
    with pytest.raises(InvalidSignature, match=f"dated {TIME}, after the current time {TIME - 1}"):
        POLICY.verify_checkpoint(message, now=TIME - 1)


def test_cosignature_with_a_timestamp_beyond_2_63_is_refused() -> None:
    text = CHECKPOINT.to_text().encode()
    cosigner = COSIGNERS["X2"]
    raw = cosigner.key.sign(b"cosignature/v1\ntime %d\n" % 2**63 + text)
    blob = cosigner.key_id.to_bytes(4, "big") + (2**63).to_bytes(8, "big") + raw
    line = f"— {cosigner.name} {note.encode_base64(blob)}\n".encode()
    with pytest.raises(InvalidSignature, match="2\\^63-1"):
        POLICY.verify_checkpoint(_cosigned("X1", "X3") + line)


def test_malformed_note_is_malformed_input() -> None:
    with pytest.raises(MalformedInput):
        POLICY.verify_checkpoint(b"not a note")
