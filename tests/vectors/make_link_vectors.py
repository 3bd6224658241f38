"""Author tests/vectors/link_vectors.json: the link protocol's shared test vectors.

The JSON is the contract both codecs are tested against (tests/test_protocol_vectors.py runs the Python
codec and the C codec, tests/vectors/c/ek_link_vectors.c, over it). COBS cases come from the COBS paper's
and common reference examples and are written out literally here, not computed; message frames were
produced once by this script and checked by hand for the worked example in docs/protocol.md. Re-run only
when the protocol changes on purpose (and bump PROTOCOL_VERSION):  python tests/vectors/make_link_vectors.py
"""
from __future__ import annotations

import json
import os
import struct
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from edgekit.link import messages as M  # noqa: E402
from edgekit.link.framing import MAX_BODY, cobs_encode, crc32, encode_frame  # noqa: E402

OUT = Path(__file__).with_name("link_vectors.json")


def _run(start: int, stop: int) -> str:
    return bytes(range(start, stop)).hex()


# (name, decoded hex, encoded hex): literal expectations
COBS = [
    ("empty", "", "01"),
    ("one zero", "00", "0101"),
    ("two zeros", "0000", "010101"),
    ("zero in the middle", "11220033", "0311220233"),
    ("no zeros", "11223344", "0511223344"),
    ("trailing zeros", "11000000", "0211010101"),
    ("254 non-zero bytes: one full block, no empty block after", _run(1, 255), "ff" + _run(1, 255)),
    ("zero then 254 non-zero", "00" + _run(1, 255), "01ff" + _run(1, 255)),
    ("255 non-zero bytes", _run(1, 256), "ff" + _run(1, 255) + "02ff"),
    ("254 non-zero then a zero", _run(2, 256) + "00", "ff" + _run(2, 256) + "0101"),
    ("253 non-zero, zero, one", _run(3, 256) + "0001", "fe" + _run(3, 256) + "0201"),
    ("300 zeros", "00" * 300, "01" * 301),
    ("508 non-zero bytes: two full blocks", ("01" * 508), "ff" + "01" * 254 + "ff" + "01" * 254),
]


def _message_cases():
    hash_a = bytes(range(32))
    hash_b = bytes(range(0xE0, 0x100))
    per_chunk = M.array_capacity("LOGITS_CHUNK", "values")
    return [
        ("HELLO", 1, dict(protocol_version=M.PROTOCOL_VERSION)),
        ("GENERATE", 2, dict(max_new_tokens=64, temperature=0.75, top_k=40, top_p=0.875, seed=0x0123456789ABCDEF,
                             flags=M.GEN_STATS | M.GEN_STOP_AT_EOS, prompt=[128000, 9906, 1917, 0, 0xFFFFFFFF])),
        ("GENERATE", 0xFF, dict(max_new_tokens=0, temperature=-0.0, top_k=0, top_p=1.0, seed=0,
                                flags=M.GEN_CONTINUE, prompt=[])),
        ("GENERATE", 3, dict(max_new_tokens=1, temperature=0.0, top_p=1.0, flags=0,
                             prompt=list(range(M.array_capacity("GENERATE", "prompt"))))),
        ("CANCEL", 4, dict()),
        ("LOGITS", 5, dict(mode=M.LOGITS_TOPK, flags=M.LOGITS_CONTINUE, top_k=8, ids=[1, 2, 3])),
        ("LOGITS", 6, dict(mode=M.LOGITS_FULL, flags=0, top_k=0, ids=[0])),
        ("STATS", 7, dict()),
        ("PING", 8, dict(data=b"")),
        ("PING", 9, dict(data=bytes(200))),
        ("RESET", 10, dict(mode=M.RESET_RESTART)),
        ("IDENTITY", 1, dict(protocol_version=1, max_body=MAX_BODY, model_status=0, vocab_size=128256,
                             context_len=4096, num_layers=30, hidden_size=2560, bos_id=128000, eos_id=128001,
                             clock_hz=2400000000, threads=4, arena_bytes=0x1_2345_6789, image_bytes=1187000000,
                             model_hash=hash_a, tokenizer_hash=hash_b, firmware_version="edgekit 0.1.0",
                             board="raspberry-pi-5", kernel="i2:dotprod")),
        ("IDENTITY", 2, dict(protocol_version=1, max_body=MAX_BODY, model_status=4, bos_id=0xFFFFFFFF,
                             eos_id=0xFFFFFFFF, firmware_version="", board="qemu-mps3-an547 \u00b5C", kernel="")),
        ("TOKEN", 2, dict(token_id=0x1F600, index=0, time_us=0, cycles=0)),
        ("TOKEN", 2, dict(token_id=1, index=41, time_us=123456, cycles=0xFFFFFFFFFFFFFFFF)),
        ("DONE", 2, dict(reason=M.DONE_REASON_CODES["cancelled"], status=0, prompt_tokens=5, generated_tokens=3,
                         seq_len=7, prefill_us=1000, prefill_cycles=2400000, decode_us=3000, decode_cycles=7200000)),
        ("DONE", 3, dict(reason=M.DONE_REASON_CODES["error"], status=22)),
        ("LOGITS_CHUNK", 6, dict(position=0, total=300, offset=0, values=[0.5, -1.25, 3.0e-38, 65504.0, -0.0])),
        ("LOGITS_CHUNK", 6, dict(position=9, total=per_chunk, offset=0,
                                 values=[float(i) * 0.25 - 10.0 for i in range(per_chunk)])),
        ("LOGITS_TOPK", 5, dict(position=2, vocab_size=96, ids=[7, 78, 6], values=[62.5, 19.0, -17.125])),
        ("STATS_REPLY", 7, dict(arena_bytes=135488, arena_used=135424, seq_len=12, context_len=256,
                                clock_hz=1000000000, tokens_prefilled=3, tokens_generated=9, prefill_cycles=1 << 40,
                                decode_cycles=5, sample_cycles=6, logits_cycles=7, uptime_us=8, power_uw=1500000,
                                power_valid=1, frames_ok=10, crc_errors=1, malformed_frames=2, oversize_frames=3,
                                bad_messages=4)),
        ("PONG", 8, dict(data=b"\x00\x01\xfe\xff")),
        ("ACK", 10, dict(request_type=M.BY_NAME["RESET"].code)),
        ("ERROR", 11, dict(status=42, request_seq=11, request_type=0x42, detail="unknown type")),
    ]


def _jsonable(values: dict) -> dict:
    out = {}
    for k, v in values.items():
        out[k] = v.hex() if isinstance(v, (bytes, bytearray)) else v
    return out


def _frame_raw(msg_type: int, seq: int, body: bytes) -> bytes:
    raw = bytes((msg_type, seq)) + body
    return raw + struct.pack("<I", crc32(raw))


def _streams(good: bytes, good_frame: dict):
    """Byte streams with damage, and what a decoder must deliver from them."""
    hello = encode_frame(0x01, 1, M.encode_body("HELLO", protocol_version=1))
    ping_raw = _frame_raw(0x06, 2, M.encode_body("PING", data=b"abc"))
    ping = cobs_encode(ping_raw) + b"\x00"
    bad_crc = bytearray(ping_raw)
    bad_crc[-1] ^= 0x01
    dropped = bytearray(ping)
    del dropped[3]  # a byte lost on the UART
    oversize = b"\x55" * 1100 + b"\x00"
    max_ok = encode_frame(0x06, 3, M.encode_body("PING", data=b"\x07" * (MAX_BODY - 2)))
    too_long_decoded = cobs_encode(_frame_raw(0x06, 4, b"\x01" * (MAX_BODY + 1))) + b"\x00"
    hello_f = {"type": 1, "seq": 1, "body": M.encode_body("HELLO", protocol_version=1).hex()}
    ping_f = {"type": 6, "seq": 2, "body": M.encode_body("PING", data=b"abc").hex()}
    c = lambda ok=0, crc=0, mal=0, over=0: {"frames_ok": ok, "crc_errors": crc, "malformed": mal, "oversize": over}
    return [
        ("one good frame", hello, [hello_f], c(1)),
        ("delimiters only", b"\x00\x00\x00", [], c()),
        ("leading delimiter then frame", b"\x00" + hello, [hello_f], c(1)),
        ("garbage without zeros before a frame", b"\x13\x37\xca\xfe" + b"\x00" + hello, [hello_f], c(1, mal=1)),
        ("CRC error then a good frame", cobs_encode(bytes(bad_crc)) + b"\x00" + hello, [hello_f], c(1, crc=1)),
        ("dropped byte (its block now runs past the delimiter)", bytes(dropped) + ping, [ping_f], c(1, mal=1)),
        ("truncated COBS block", b"\x05\x11\x22\x00" + ping, [ping_f], c(1, mal=1)),
        ("too short for type+seq+crc", b"\x04\x01\x02\x03\x00" + hello, [hello_f], c(1, mal=1)),
        ("1100 bytes without a delimiter", oversize + hello, [hello_f], c(1, over=1)),
        ("largest legal frame", max_ok, [{"type": 6, "seq": 3,
                                          "body": M.encode_body("PING", data=b"\x07" * (MAX_BODY - 2)).hex()}], c(1)),
        ("one body byte too many", too_long_decoded + hello, [hello_f], c(1, over=1)),
        ("two frames back to back", hello + ping, [hello_f, ping_f], c(2)),
        ("device reset mid-frame: half a frame, then a fresh one", ping[:5] + b"\x00" + hello, [hello_f],
         c(1, mal=1)),
    ]


def build() -> dict:
    messages = []
    for name, seq, values in _message_cases():
        code = M.BY_NAME[name].code
        body = M.encode_body(name, **values)
        full = {f.name: f for f in M.BY_NAME[name].fields}
        decoded = M.decode_body(code, body)  # defaults filled in
        assert set(decoded) == set(full)
        messages.append({"name": name, "type": code, "seq": seq, "fields": _jsonable(decoded),
                         "body": body.hex(), "frame": encode_frame(code, seq, body).hex()})
    bad = [
        {"name": "HELLO one byte short", "type": 0x01, "body": "01", "status": "BAD_MESSAGE"},
        {"name": "HELLO trailing byte", "type": 0x01, "body": "010000", "status": "BAD_MESSAGE"},
        {"name": "CANCEL with a body", "type": 0x03, "body": "00", "status": "BAD_MESSAGE"},
        {"name": "GENERATE count past the end", "type": 0x02,
         "body": M.encode_body("GENERATE", prompt=[1])[:-4].hex() + "", "status": "BAD_MESSAGE"},
        {"name": "GENERATE missing count", "type": 0x02, "body": M.encode_body("GENERATE")[:-2].hex(),
         "status": "BAD_MESSAGE"},
        {"name": "PING count says 3, 2 bytes follow", "type": 0x06, "body": "03004142", "status": "BAD_MESSAGE"},
        {"name": "LOGITS_TOPK values count past the end", "type": 0x85,
         "body": M.encode_body("LOGITS_TOPK", ids=[1])[:-2].hex() + "0100", "status": "BAD_MESSAGE"},
        {"name": "unknown type 0x42", "type": 0x42, "body": "", "status": "UNKNOWN_MESSAGE"},
        {"name": "unknown type 0x00", "type": 0x00, "body": "0102", "status": "UNKNOWN_MESSAGE"},
    ]
    streams = [{"name": n, "stream": s.hex(), "frames": f, "counters": cnt}
               for n, s, f, cnt in _streams(b"", {})]
    return {
        "about": "edgekit link protocol test vectors; see docs/protocol.md and tests/vectors/make_link_vectors.py",
        "protocol_version": M.PROTOCOL_VERSION,
        "max_body": MAX_BODY,
        "cobs": [{"name": n, "decoded": d, "encoded": e} for n, d, e in COBS],
        "messages": messages,
        "bad_bodies": bad,
        "streams": streams,
    }


def main() -> int:
    data = build()
    # the literal COBS expectations must hold for the encoder this script uses
    for case in data["cobs"]:
        assert cobs_encode(bytes.fromhex(case["decoded"])).hex() == case["encoded"], case["name"]
    fd, tmp = tempfile.mkstemp(dir=OUT.parent, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, OUT)
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
