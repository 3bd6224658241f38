"""The link protocol's message table: one row per message type, read by both sides.

Python encodes and decodes bodies generically from these rows; edgekit.gen.proto_header generates the C
header firmware/runtime/ek_proto.h (type codes, structs, wire sizes, field descriptors) from the same rows,
and firmware/runtime/ek_link.c walks those descriptors. docs/protocol.md §4 is the prose for this table.

Wire layout of a body: the fixed-size fields in table order, little-endian, no padding; then the variable
fields in table order, each as a u16 element count followed by the elements. A body whose length is not
exactly what its counts imply is malformed (status BAD_MESSAGE).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

PROTOCOL_VERSION = 1  # bump on any change to a row below; both sides require equality (HELLO/IDENTITY)

# Scalar wire types: struct code and size. "bytes32" is a fixed 32-byte blob (hashes).
SCALARS = {"u8": "B", "u16": "H", "u32": "I", "u64": "Q", "f32": "f"}
FIXED_BLOBS = {"bytes32": 32}
# Variable-length fields: element struct code. "str" is UTF-8 text (u8 elements).
ARRAYS = {"u8[]": "B", "u32[]": "I", "f32[]": "f", "str": "B"}


@dataclass(frozen=True)
class Field:
    name: str
    type: str  # a key of SCALARS, FIXED_BLOBS or ARRAYS
    doc: str = ""

    @property
    def is_array(self) -> bool:
        return self.type in ARRAYS

    @property
    def size(self) -> int:
        """Wire size of a fixed field; element size of an array."""
        if self.type in SCALARS:
            return struct.calcsize("<" + SCALARS[self.type])
        if self.type in FIXED_BLOBS:
            return FIXED_BLOBS[self.type]
        return struct.calcsize("<" + ARRAYS[self.type])


@dataclass(frozen=True)
class Message:
    code: int
    name: str
    direction: str  # "h2d" (host -> device request) or "d2h" (device -> host reply/event)
    fields: tuple[Field, ...]
    doc: str

    @property
    def fixed_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if not f.is_array)

    @property
    def array_fields(self) -> tuple[Field, ...]:
        return tuple(f for f in self.fields if f.is_array)

    @property
    def fixed_size(self) -> int:
        return sum(f.size for f in self.fixed_fields)

    @property
    def min_size(self) -> int:
        """Fixed part plus one u16 count per variable field (all empty)."""
        return self.fixed_size + 2 * len(self.array_fields)

    def fixed_offsets(self) -> list[tuple[Field, int]]:
        out, off = [], 0
        for f in self.fixed_fields:
            out.append((f, off))
            off += f.size
        return out


F = Field

# GENERATE flags
GEN_STATS = 1  # fill TOKEN.time_us/cycles (otherwise they are 0; DONE and STATS_REPLY always have timings)
GEN_STOP_AT_EOS = 2  # stop (DONE reason EOS) when the sampled token is the model's eos id
GEN_CONTINUE = 4  # append the prompt to the current sequence instead of starting a fresh one
# LOGITS modes and flags
LOGITS_FULL = 0  # every vocabulary entry, in LOGITS_CHUNK frames
LOGITS_TOPK = 1  # the top_k largest, one LOGITS_TOPK frame
LOGITS_CONTINUE = 1  # flag: append ids to the current sequence instead of starting a fresh one
# RESET modes
RESET_SEQUENCE = 0  # forget the sequence (KV cache), stop any generation; the device stays up
RESET_RESTART = 1  # acknowledge, then restart the firmware (ek_port_exit: a host process exits)
# DONE reasons
DONE_REASONS = {0: "eos", 1: "max_tokens", 2: "cancelled", 3: "context_full", 4: "error"}
DONE_REASON_CODES = {v: k for k, v in DONE_REASONS.items()}

MESSAGES: tuple[Message, ...] = (
    # ---- host -> device -------------------------------------------------------------------------
    Message(0x01, "HELLO", "h2d", (
        F("protocol_version", "u16", "the host's PROTOCOL_VERSION"),
    ), "Handshake, and the start of a session: the device answers IDENTITY at once and ends a GENERATE "
       "still running (DONE cancelled)."),
    Message(0x02, "GENERATE", "h2d", (
        F("max_new_tokens", "u32", "stop after this many generated tokens (0: prefill only)"),
        F("temperature", "f32", "0 = greedy (argmax)"),
        F("top_k", "u32", "0 = no top-k cut"),
        F("top_p", "f32", "nucleus mass; 1.0 = off"),
        F("seed", "u64", "sampler seed; same seed, same tokens"),
        F("flags", "u32", "bits: GEN_STATS, GEN_STOP_AT_EOS, GEN_CONTINUE"),
        F("prompt", "u32[]", "token ids to prefill"),
    ), "Run the prompt, then stream one TOKEN per generated token and a final DONE (same seq)."),
    Message(0x03, "CANCEL", "h2d", (), "Stop a running GENERATE: its DONE comes with reason cancelled. "
            "When nothing runs the device answers ACK."),
    Message(0x04, "LOGITS", "h2d", (
        F("mode", "u8", "LOGITS_FULL or LOGITS_TOPK"),
        F("flags", "u8", "LOGITS_CONTINUE"),
        F("top_k", "u16", "entries wanted in LOGITS_TOPK mode"),
        F("ids", "u32[]", "token ids to run; the logits are those after the last one"),
    ), "Run ids (fresh sequence unless LOGITS_CONTINUE) and return the last position's logits."),
    Message(0x05, "STATS", "h2d", (), "Ask for STATS_REPLY (counters since the last RESET)."),
    Message(0x06, "PING", "h2d", (
        F("data", "u8[]", "echoed back in PONG"),
    ), "Liveness and round-trip check; answered even while generating."),
    Message(0x07, "RESET", "h2d", (
        F("mode", "u8", "RESET_SEQUENCE or RESET_RESTART"),
    ), "Forget the sequence and counters (or restart). Answered with ACK."),
    # ---- device -> host -------------------------------------------------------------------------
    Message(0x81, "IDENTITY", "d2h", (
        F("protocol_version", "u16", "the device's PROTOCOL_VERSION; never moves"),
        F("max_body", "u16", "the device's frame body limit (MAX_BODY)"),
        F("model_status", "u16", "OK, or the edgekit.status code of why the model image did not open"),
        F("vocab_size", "u32"),
        F("context_len", "u32", "positions the KV cache holds"),
        F("num_layers", "u32"),
        F("hidden_size", "u32"),
        F("bos_id", "u32", "0xFFFFFFFF: none"),
        F("eos_id", "u32", "0xFFFFFFFF: none"),
        F("clock_hz", "u32", "core clock for cycles -> time"),
        F("threads", "u16", "worker threads for matvecs (1: single-threaded)"),
        F("arena_bytes", "u64", "working arena size"),
        F("image_bytes", "u64", "sum of all image parts"),
        F("model_hash", "bytes32", "from the image header"),
        F("tokenizer_hash", "bytes32", "from the image header"),
        F("firmware_version", "str"),
        F("board", "str"),
        F("kernel", "str", "ternary kernel variant, e.g. i2-neon-dotprod"),
    ), "Reply to HELLO."),
    Message(0x82, "TOKEN", "d2h", (
        F("token_id", "u32"),
        F("index", "u32", "0 for the first generated token"),
        F("time_us", "u32", "device time for this token (prefill excluded); 0 without GEN_STATS"),
        F("cycles", "u64", "device cycles for this token; 0 without GEN_STATS"),
    ), "One generated token, sent as soon as it is sampled."),
    Message(0x83, "DONE", "d2h", (
        F("reason", "u8", "DONE_REASONS"),
        F("status", "u16", "edgekit.status code when reason is error, else 0"),
        F("prompt_tokens", "u32"),
        F("generated_tokens", "u32"),
        F("seq_len", "u32", "sequence length (positions used) afterwards"),
        F("prefill_us", "u64"),
        F("prefill_cycles", "u64"),
        F("decode_us", "u64"),
        F("decode_cycles", "u64"),
    ), "End of a GENERATE."),
    Message(0x84, "LOGITS_CHUNK", "d2h", (
        F("position", "u32", "sequence position these logits predict from (0-based)"),
        F("total", "u32", "vocabulary size: chunks cover [0, total)"),
        F("offset", "u32", "index of values[0]"),
        F("values", "f32[]"),
    ), "A slice of a LOGITS_FULL reply; chunks come in offset order until offset+count == total."),
    Message(0x85, "LOGITS_TOPK", "d2h", (
        F("position", "u32"),
        F("vocab_size", "u32"),
        F("ids", "u32[]", "largest first; ties by lower id"),
        F("values", "f32[]", "logits of ids"),
    ), "The LOGITS_TOPK reply."),
    Message(0x86, "STATS_REPLY", "d2h", (
        F("arena_bytes", "u64"),
        F("arena_used", "u64", "bytes of the arena the model actually needs"),
        F("seq_len", "u32"),
        F("context_len", "u32"),
        F("clock_hz", "u32"),
        F("tokens_prefilled", "u64"),
        F("tokens_generated", "u64"),
        F("prefill_cycles", "u64"),
        F("decode_cycles", "u64", "model steps of generated tokens"),
        F("sample_cycles", "u64", "sampler"),
        F("logits_cycles", "u64", "LOGITS requests"),
        F("uptime_us", "u64"),
        F("power_uw", "u32", "from ek_port_power_uw"),
        F("power_valid", "u8", "1 if power_uw is a reading, 0 if the board has no sensor"),
        F("frames_ok", "u32"),
        F("crc_errors", "u32"),
        F("malformed_frames", "u32", "bad COBS or too short"),
        F("oversize_frames", "u32"),
        F("bad_messages", "u32", "unknown types and malformed bodies"),
    ), "Counters since the last RESET (link counters since boot)."),
    Message(0x87, "PONG", "d2h", (
        F("data", "u8[]"),
    ), "Reply to PING with its data."),
    Message(0x88, "ACK", "d2h", (
        F("request_type", "u8"),
    ), "Success of a request that has no other reply (RESET, CANCEL when idle)."),
    Message(0xFF, "ERROR", "d2h", (
        F("status", "u16", "edgekit.status code"),
        F("request_seq", "u8", "seq of the request that failed"),
        F("request_type", "u8", "type of the request that failed"),
        F("detail", "str", "short ASCII detail"),
    ), "A request failed; the frame's seq is the request's seq too."),
)

BY_CODE = {m.code: m for m in MESSAGES}
BY_NAME = {m.name: m for m in MESSAGES}


def _check_table() -> None:
    from edgekit.link.framing import MAX_BODY

    assert len(BY_CODE) == len(MESSAGES) and len(BY_NAME) == len(MESSAGES)
    for m in MESSAGES:
        assert m.direction in ("h2d", "d2h"), m.name
        assert (m.code & 0x80 != 0) == (m.direction == "d2h"), f"{m.name}: replies use codes >= 0x80"
        seen_array = False
        for f in m.fields:
            assert f.type in SCALARS or f.type in FIXED_BLOBS or f.type in ARRAYS, (m.name, f.type)
            if f.is_array:
                seen_array = True
            else:
                assert not seen_array, f"{m.name}.{f.name}: fixed fields come before variable ones"
        assert m.min_size <= MAX_BODY, m.name


_check_table()


class MessageError(ValueError):
    """A body does not match its table row; maps to status BAD_MESSAGE (UNKNOWN_MESSAGE for the type)."""

    def __init__(self, text: str, status: str = "BAD_MESSAGE"):
        super().__init__(text)
        self.status = status


def encode_body(name: str, **values) -> bytes:
    """Encode a body from keyword values; missing scalars default to 0, missing arrays to empty."""
    m = BY_NAME[name]
    unknown = set(values) - {f.name for f in m.fields}
    if unknown:
        raise TypeError(f"{name} has no field(s) {sorted(unknown)}")
    out = bytearray()
    for f in m.fixed_fields:
        v = values.get(f.name, 0)
        if f.type in FIXED_BLOBS:
            v = bytes(v) if v else bytes(f.size)
            if len(v) != f.size:
                raise ValueError(f"{name}.{f.name} must be {f.size} bytes, got {len(v)}")
            out += v
        else:
            out += struct.pack("<" + SCALARS[f.type], v)
    for f in m.array_fields:
        v = values.get(f.name, ())
        if f.type == "str":
            v = v.encode("utf-8") if isinstance(v, str) else bytes(v)
        elif f.type == "u8[]":
            v = bytes(v)
        n = len(v)
        if n > 0xFFFF:
            raise ValueError(f"{name}.{f.name} has {n} elements, more than a u16 count allows")
        out += struct.pack("<H", n)
        if f.type in ("str", "u8[]"):
            out += v
        else:
            out += struct.pack(f"<{n}{ARRAYS[f.type]}", *v)
    return bytes(out)


def decode_body(code: int, body: bytes) -> dict:
    """Decode a body by its type code. Raises MessageError (UNKNOWN_MESSAGE or BAD_MESSAGE)."""
    m = BY_CODE.get(code)
    if m is None:
        raise MessageError(f"unknown message type 0x{code:02x}", "UNKNOWN_MESSAGE")
    if len(body) < m.min_size:
        raise MessageError(f"{m.name} body is {len(body)} bytes, shorter than its {m.min_size}-byte minimum")
    values: dict = {}
    off = 0
    for f in m.fixed_fields:
        if f.type in FIXED_BLOBS:
            values[f.name] = bytes(body[off:off + f.size])
        else:
            (values[f.name],) = struct.unpack_from("<" + SCALARS[f.type], body, off)
        off += f.size
    for f in m.array_fields:
        if off + 2 > len(body):
            raise MessageError(f"{m.name}.{f.name}: count runs past the end of the body")
        (n,) = struct.unpack_from("<H", body, off)
        off += 2
        end = off + n * f.size
        if end > len(body):
            raise MessageError(f"{m.name}.{f.name}: {n} elements run past the end of the body")
        if f.type == "str":
            try:
                values[f.name] = body[off:end].decode("utf-8")
            except UnicodeDecodeError as exc:
                raise MessageError(f"{m.name}.{f.name} is not UTF-8") from exc
        elif f.type == "u8[]":
            values[f.name] = bytes(body[off:end])
        else:
            values[f.name] = list(struct.unpack_from(f"<{n}{ARRAYS[f.type]}", body, off))
        off = end
    if off != len(body):
        raise MessageError(f"{m.name} body has {len(body) - off} trailing byte(s)")
    return values


def array_capacity(name: str, field: str, max_body: int | None = None) -> int:
    """How many elements of `field` fit in one frame when the message's other arrays are empty."""
    from edgekit.link.framing import MAX_BODY

    m = BY_NAME[name]
    f = next(x for x in m.fields if x.name == field)
    return ((max_body or MAX_BODY) - m.min_size) // f.size
