"""Link framing: COBS byte stuffing, the CRC32 trailer, and an incremental frame decoder.

A frame on the wire is   COBS(type u8 | seq u8 | body | crc32 LE u32) 0x00   (docs/protocol.md §2).
COBS removes every 0x00 from the frame, so 0x00 only ever means "end of frame": a receiver that lost a
byte, saw garbage or came up mid-frame drops what it has at the next 0x00 and is back in sync.
The C twin of this module is firmware/runtime/ek_link.c; tests/vectors/ pins both to the same bytes.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

DELIMITER = b"\x00"  # ends every frame; COBS keeps it out of the frame itself
# Largest body either side accepts. Both sides enforce it: a sender never builds a longer frame, a
# receiver drops (and counts) anything longer. 1024 keeps the device's two frame buffers small enough
# for a Cortex-M with 64 KB of SRAM while a logits chunk still carries 252 float32 values.
MAX_BODY = 1024
HEADER_SIZE = 2  # type u8, seq u8
CRC_SIZE = 4
MIN_FRAME = HEADER_SIZE + CRC_SIZE
MAX_FRAME = HEADER_SIZE + MAX_BODY + CRC_SIZE  # decoded (unstuffed) bytes, delimiter excluded
# COBS adds one code byte per started run of 254 bytes; plus the delimiter.
MAX_ENCODED_FRAME = MAX_FRAME + (MAX_FRAME + 253) // 254 + 1


def crc32(data: bytes) -> int:
    """CRC-32 as zlib computes it (IEEE 802.3, reflected, init and final xor 0xFFFFFFFF)."""
    return zlib.crc32(data) & 0xFFFFFFFF


def cobs_encode(data: bytes) -> bytes:
    """COBS-encode `data` (no delimiter appended). A run of 254 non-zero bytes that ends the input does
    not get a trailing empty block (the minimal form); decoders accept both forms."""
    out = bytearray(b"\x00")
    code_at, code = 0, 1
    n = len(data)
    for i, b in enumerate(data):
        if b == 0:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
            continue
        out.append(b)
        code += 1
        if code == 0xFF and i + 1 < n:
            out[code_at] = code
            code_at, code = len(out), 1
            out.append(0)
    out[code_at] = code
    return bytes(out)


class CobsError(ValueError):
    pass


def cobs_decode(data: bytes) -> bytes:
    """Decode one COBS block sequence (without its delimiter). Raises CobsError when malformed."""
    out = bytearray()
    i, n = 0, len(data)
    while i < n:
        code = data[i]
        if code == 0:
            raise CobsError(f"zero byte at {i} inside a COBS frame")
        end = i + code
        if end > n:
            raise CobsError(f"COBS block at {i} claims {code - 1} bytes, only {n - i - 1} left")
        chunk = data[i + 1:end]
        if 0 in chunk:
            raise CobsError("zero byte inside a COBS block")
        out += chunk
        i = end
        if code != 0xFF and i < n:
            out.append(0)
    return bytes(out)


def encode_frame(msg_type: int, seq: int, body: bytes) -> bytes:
    """The exact bytes to send for one message, delimiter included."""
    if len(body) > MAX_BODY:
        raise ValueError(f"message body of {len(body)} bytes exceeds the {MAX_BODY}-byte frame limit")
    raw = bytes((msg_type & 0xFF, seq & 0xFF)) + body
    raw += struct.pack("<I", crc32(raw))
    return cobs_encode(raw) + DELIMITER


@dataclass(frozen=True)
class Frame:
    msg_type: int
    seq: int
    body: bytes


class FrameDecoder:
    """Feed it bytes as they arrive; it returns whole, CRC-checked frames and counts what it dropped.

    Memory is bounded: a frame that grows past MAX_ENCODED_FRAME is abandoned at once and the decoder
    skips to the next delimiter (so a stream of garbage without zeros costs nothing).
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._skipping = False  # inside an oversize frame: drop bytes until the next delimiter
        self.frames_ok = 0
        self.crc_errors = 0  # CRC mismatch
        self.malformed = 0  # bad COBS or shorter than type+seq+crc
        self.oversize = 0  # longer than MAX_FRAME

    def feed(self, data: bytes) -> list[Frame]:
        """Consume `data`; return the frames it completed. Rules (the C decoder applies the same ones):
        more than MAX_ENCODED_FRAME - 1 bytes before a delimiter -> oversize, skip to the delimiter;
        at the delimiter: truncated COBS block -> malformed; decoded length > MAX_FRAME -> oversize,
        < MIN_FRAME -> malformed; CRC mismatch -> crc_errors. Empty frames (0x00 0x00) are ignored."""
        frames: list[Frame] = []
        data = bytes(data)
        start, n = 0, len(data)
        limit = MAX_ENCODED_FRAME - 1
        while start < n:
            end = data.find(DELIMITER, start)
            chunk = data[start:] if end < 0 else data[start:end]
            if not self._skipping:
                self._buf += chunk
                if len(self._buf) > limit:
                    self.oversize += 1
                    self._buf.clear()
                    self._skipping = True
            if end < 0:
                break
            if not self._skipping and self._buf:
                frame = self._finish(bytes(self._buf))
                if frame is not None:
                    frames.append(frame)
            self._buf.clear()
            self._skipping = False
            start = end + 1
        return frames

    def _finish(self, encoded: bytes) -> Frame | None:
        try:
            raw = cobs_decode(encoded)
        except CobsError:
            self.malformed += 1
            return None
        if len(raw) > MAX_FRAME:
            self.oversize += 1
            return None
        if len(raw) < MIN_FRAME:
            self.malformed += 1
            return None
        (crc,) = struct.unpack_from("<I", raw, len(raw) - CRC_SIZE)
        if crc32(raw[:-CRC_SIZE]) != crc:
            self.crc_errors += 1
            return None
        self.frames_ok += 1
        return Frame(raw[0], raw[1], raw[HEADER_SIZE:-CRC_SIZE])

    def reset(self) -> None:
        self._buf.clear()
        self._skipping = False
