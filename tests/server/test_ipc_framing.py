"""The framing between HTTP workers and the writer (server/ipc.py), cut at every byte."""

from __future__ import annotations

import struct

import pytest

from server.ipc import MAX_HEADER, FramingError, MessageBuffer, encode_message

MESSAGES = [({"op": "submit", "tag": n}, bytes([n]) * (n * 997)) for n in range(12)]
STREAM = b"".join(encode_message(header, blob) for header, blob in MESSAGES)


def _drain(buffer: MessageBuffer) -> list[tuple[dict[str, object], bytes]]:
    taken = []
    while (message := buffer.take()) is not None:
        taken.append(message)
    return taken


@pytest.mark.parametrize("piece", [1, 7, 4096, len(STREAM)])
def test_messages_arriving_in_any_pieces_come_out_whole_and_in_order(piece: int) -> None:
    buffer = MessageBuffer()
    taken = []
    for start in range(0, len(STREAM), piece):
        buffer.feed(STREAM[start : start + piece])
        taken += _drain(buffer)
    assert taken == MESSAGES


def test_a_message_cut_short_is_not_taken_until_the_rest_arrives() -> None:
    buffer = MessageBuffer()
    whole = encode_message({"op": "status"}, b"blob")
    buffer.feed(whole[:-1])
    assert buffer.take() is None
    buffer.feed(whole[-1:])
    assert buffer.take() == ({"op": "status"}, b"blob")
    assert buffer.take() is None


@pytest.mark.parametrize(
    "data",
    [
        struct.pack(">I", MAX_HEADER + 1),
        struct.pack(">I", 2) + b"[]" + struct.pack(">I", 0),
        struct.pack(">I", 2) + b"{}" + struct.pack(">I", 2**31),
    ],
    ids=["header-too-long", "header-not-an-object", "blob-too-long"],
)
def test_what_is_not_a_message_is_refused(data: bytes) -> None:
    buffer = MessageBuffer()
    buffer.feed(data)
    with pytest.raises(FramingError):
        buffer.take()
