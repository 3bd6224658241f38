"""Fuzzing every decoder of link bytes: the Python frame/message decoders (hypothesis), the C ones built
with AddressSanitizer + UBSan (random and mutated streams piped through tests/vectors/c/ek_link_fuzz.c),
the two frame decoders against each other (same stream -> same frames and counters), and the whole device
server (a sanitized edgekit-device on stdio fed hostile frames must keep answering)."""
from __future__ import annotations

import json
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.link import messages as M
from edgekit.link.framing import MAX_BODY, FrameDecoder, cobs_decode, cobs_encode, crc32, encode_frame
from helpers import cmake_build

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ROOT / "firmware" / "runtime"
VECTORS = json.loads((ROOT / "tests" / "vectors" / "link_vectors.json").read_text())
SANITIZE = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-fno-omit-frame-pointer", "-g", "-O1"]
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", f"-I{RUNTIME}", f"-I{ROOT / 'firmware' / 'kernels'}"]
# ASan's leak checker needs ptrace, which containers often forbid; leaks are not what we hunt here.
SAN_ENV = {**os.environ, "ASAN_OPTIONS": "detect_leaks=0:abort_on_error=1", "UBSAN_OPTIONS": "print_stacktrace=1"}


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("clang") or shutil.which("cc")
    assert cc, "a C compiler is needed to fuzz the firmware link codec"
    return cc


# --- Python ----------------------------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4000))
def test_frame_decoder_survives_any_bytes_and_then_resyncs(garbage):
    dec = FrameDecoder()
    for f in dec.feed(garbage):
        assert len(f.body) <= MAX_BODY
    good = encode_frame(0x01, 7, M.encode_body("HELLO", protocol_version=1))
    frames = dec.feed(b"\x00" + good)  # whatever came before, one delimiter puts us back in sync
    assert [(f.msg_type, f.seq) for f in frames][-1:] == [(0x01, 7)]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_cobs_roundtrip(data):
    enc = cobs_encode(data)
    assert 0 not in enc
    assert len(enc) <= len(data) + (len(data) + 253) // 254 + 1
    assert cobs_decode(enc) == data


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 255), st.binary(max_size=300))
def test_message_decoder_rejects_or_roundtrips(code, body):
    try:
        values = M.decode_body(code, body)
    except M.MessageError as exc:
        assert exc.status in ("BAD_MESSAGE", "UNKNOWN_MESSAGE")
        return
    assert M.encode_body(M.BY_CODE[code].name, **values) == body


def _field_strategy(f: M.Field):
    return {
        "u8": st.integers(0, 0xFF), "u16": st.integers(0, 0xFFFF), "u32": st.integers(0, 0xFFFFFFFF),
        "u64": st.integers(0, 2**64 - 1), "f32": st.floats(width=32, allow_nan=False),
        "bytes32": st.binary(min_size=32, max_size=32), "u8[]": st.binary(max_size=40),
        "u32[]": st.lists(st.integers(0, 0xFFFFFFFF), max_size=20),
        "f32[]": st.lists(st.floats(width=32, allow_nan=False), max_size=20), "str": st.text(max_size=20),
    }[f.type]


@st.composite
def _messages(draw):
    m = draw(st.sampled_from(M.MESSAGES))
    return m, {f.name: draw(_field_strategy(f)) for f in m.fields}


@settings(max_examples=300, deadline=None)
@given(_messages(), st.integers(0, 255))
def test_any_message_roundtrips_through_a_frame(msg, seq):
    m, values = msg
    body = M.encode_body(m.name, **values)
    frames = FrameDecoder().feed(encode_frame(m.code, seq, body))
    assert len(frames) == 1 and frames[0].seq == seq
    assert M.decode_body(frames[0].msg_type, frames[0].body) == values


# --- C, sanitized ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def c_fuzz(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("linkfuzz") / "ek_link_fuzz"
    subprocess.run([_cc(), *C_FLAGS, *SANITIZE, str(RUNTIME / "ek_link.c"), str(RUNTIME / "ek_crc32.c"),
                    str(ROOT / "tests/vectors/c/ek_link_fuzz.c"), "-o", str(exe)], check=True)
    return exe


@pytest.fixture(scope="module")
def c_vectors(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("linkvec") / "ek_link_vectors"
    subprocess.run([_cc(), *C_FLAGS, *SANITIZE, str(RUNTIME / "ek_link.c"), str(RUNTIME / "ek_crc32.c"),
                    str(ROOT / "tests/vectors/c/ek_link_vectors.c"), "-o", str(exe)], check=True)
    return exe


def _mutated_stream(rng: random.Random, n_frames: int) -> bytes:
    """Valid frames of every vector, some bit-flipped, truncated, duplicated or glued to garbage."""
    frames = [bytes.fromhex(c["frame"]) for c in VECTORS["messages"]]
    out = bytearray()
    for _ in range(n_frames):
        f = bytearray(rng.choice(frames))
        r = rng.random()
        if r < 0.2:
            f[rng.randrange(len(f))] ^= 1 << rng.randrange(8)
        elif r < 0.3:
            del f[rng.randrange(len(f))]
        elif r < 0.4:
            f = f[: rng.randrange(1, len(f))]
        elif r < 0.5:
            out += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
        elif r < 0.6:  # random body with a valid CRC: gets past framing into the message decoders
            body = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80)))
            raw = bytes((rng.randrange(256), rng.randrange(256))) + body
            f = bytearray(cobs_encode(raw + struct.pack("<I", crc32(raw))) + b"\x00")
        out += f
    return bytes(out)


def test_c_decoders_on_random_bytes(c_fuzz):
    data = random.Random(1).randbytes(300_000)
    r = subprocess.run([str(c_fuzz)], input=data, capture_output=True, env=SAN_ENV, timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()[-3000:]


@pytest.mark.parametrize("seed", range(4))
def test_c_decoders_on_mutated_frames(c_fuzz, seed):
    data = _mutated_stream(random.Random(seed), 3000)
    r = subprocess.run([str(c_fuzz)], input=data, capture_output=True, env=SAN_ENV, timeout=120)
    assert r.returncode == 0, r.stdout.decode() + r.stderr.decode()[-3000:]
    assert int(r.stdout.split()[-1]) > 500  # most frames survive: the harness really decoded messages


@pytest.mark.parametrize("seed", range(3))
def test_python_and_c_frame_decoders_agree(c_vectors, seed):
    rng = random.Random(100 + seed)
    stream = _mutated_stream(rng, 400) + rng.randbytes(3000) + b"\x00" + _mutated_stream(rng, 100)
    dec = FrameDecoder()
    frames = dec.feed(stream)
    out = subprocess.run([str(c_vectors)], input=f"stream {stream.hex()}\n", capture_output=True, text=True,
                         env=SAN_ENV, timeout=120, check=True).stdout.splitlines()
    expected = [f"frame {f.msg_type} {f.seq} {f.body.hex() or '-'}" for f in frames]
    expected += [f"counters {dec.frames_ok} {dec.crc_errors} {dec.malformed} {dec.oversize}", "end"]
    assert out == expected


# --- the device server, sanitized ------------------------------------------------------------------
@pytest.fixture(scope="module")
def sanitized_device(tmp_path_factory) -> Path:
    build = tmp_path_factory.mktemp("devasan")
    flags = " ".join(SANITIZE)
    cmake_build(ROOT / "firmware", build, "-DEK_PORT=posix", "-DEK_BUILD_EVAL=OFF", "-DCMAKE_BUILD_TYPE=Debug",
                f"-DCMAKE_C_FLAGS={flags}", f"-DCMAKE_EXE_LINKER_FLAGS={flags}")
    return build / "edgekit-device"


def _tiny_image(path: Path) -> Path:
    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic import random_model, tiny_config

    from edgekit.pack.packer import PackChoice, pack_model

    pack_model(random_model(tiny_config(max_seq_len=64), seed=5), path, PackChoice("i2"))
    return path


def _requests(rng: random.Random, n: int) -> bytes:
    """Well-framed requests with hostile contents: random types and bodies, and real request types with
    random field values (token ids past the vocabulary, huge counts, NaN temperatures...)."""
    out = bytearray()
    for i in range(n):
        seq = i % 256
        r = rng.random()
        if r < 0.3:
            out += encode_frame(rng.randrange(256), seq, rng.randbytes(rng.randrange(0, 60)))
        elif r < 0.6:
            out += encode_frame(0x02, seq, M.encode_body(
                "GENERATE", max_new_tokens=rng.choice([0, 1, 3, 0xFFFFFFFF]), temperature=rng.choice(
                    [0.0, 0.8, float("nan"), -1.0, 1e30]), top_k=rng.choice([0, 1, 5, 0xFFFFFFFF]),
                top_p=rng.choice([0.0, 0.9, 1.0, float("inf")]), seed=rng.getrandbits(64),
                flags=rng.getrandbits(32), prompt=[rng.choice([0, 1, 95, 96, 0xFFFFFFFF]) for _ in
                                                   range(rng.randrange(0, 70))]))
        elif r < 0.8:
            out += encode_frame(0x04, seq, M.encode_body(
                "LOGITS", mode=rng.randrange(3), flags=rng.randrange(256), top_k=rng.choice([0, 1, 126, 127, 0xFFFF]),
                ids=[rng.randrange(100) for _ in range(rng.randrange(0, 70))]))
        elif r < 0.9:
            out += encode_frame(rng.choice([0x03, 0x05, 0x06, 0x01]), seq, rng.randbytes(rng.randrange(0, 4)))
        else:
            out += rng.randbytes(rng.randrange(1, 50))
        out += b"\x00"
    return bytes(out)


def test_device_server_survives_hostile_requests(sanitized_device, tmp_path):
    image = _tiny_image(tmp_path / "tiny.ekm")
    rng = random.Random(7)
    hello = encode_frame(0x01, 200, M.encode_body("HELLO", protocol_version=M.PROTOCOL_VERSION))
    stream = _requests(rng, 400) + b"\x00" + hello
    r = subprocess.run([str(sanitized_device), "--stdio", str(image)], input=stream, capture_output=True,
                       env=SAN_ENV, timeout=300)
    assert r.returncode == 0, r.stderr.decode()[-3000:]
    assert b"runtime error" not in r.stderr and b"AddressSanitizer" not in r.stderr
    dec = FrameDecoder()
    frames = dec.feed(r.stdout)
    assert dec.crc_errors == dec.malformed == dec.oversize == 0  # the device only ever sends clean frames
    names = [M.BY_CODE[f.msg_type].name for f in frames]
    assert "ERROR" in names and "DONE" in names
    # still answering at the end (HELLO is answered even while a generate runs, so it need not be last)
    assert ("IDENTITY", 200) in [(n, f.seq) for n, f in zip(names, frames)]
    for f in frames:
        M.decode_body(f.msg_type, f.body)  # every reply decodes
