"""The Reader gives a large reply's buffer back once the frame is consumed."""

from kt_core.codec import tyrant
from kt_core.codec.reader import SHRINK_ABOVE, Reader


def test_buffer_shrinks_after_large_frame_consumed() -> None:
    value = b"v" * (2 * SHRINK_ABOVE)
    frame = tyrant.encode_data_reply(value)
    reader = Reader()
    reader.feed(frame)
    assert len(reader._buf) >= len(frame)
    result = reader.read(tyrant.read_get)
    assert result[2] == value
    assert reader.pending == 0
    assert len(reader._buf) <= SHRINK_ABOVE
    # Still usable afterwards.
    reader.feed(tyrant.encode_data_reply(b"small"))
    assert reader.read(tyrant.read_get)[2] == b"small"


def test_buffer_kept_while_bytes_pending() -> None:
    value = b"v" * (2 * SHRINK_ABOVE)
    reader = Reader()
    reader.feed(tyrant.encode_data_reply(value) + tyrant.encode_data_reply(b"next"))
    assert reader.read(tyrant.read_get)[2] == value
    assert reader.pending > 0
    assert reader.read(tyrant.read_get)[2] == b"next"
    assert len(reader._buf) <= SHRINK_ABOVE
