"""The link protocol's two codecs (Python: edgekit/link, C: firmware/runtime/ek_link.c) against the shared
vectors in tests/vectors/link_vectors.json, byte for byte; plus the generated C header is up to date."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from edgekit.gen import proto_header
from edgekit.link import messages as M
from edgekit.link.framing import MAX_BODY, FrameDecoder, cobs_decode, cobs_encode, encode_frame

ROOT = Path(__file__).resolve().parents[1]
VECTORS = json.loads((ROOT / "tests" / "vectors" / "link_vectors.json").read_text())
RUNTIME = ROOT / "firmware" / "runtime"
C_SOURCES = [RUNTIME / "ek_link.c", RUNTIME / "ek_crc32.c"]
C_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", f"-I{RUNTIME}", f"-I{ROOT / 'firmware' / 'kernels'}"]


def _cc() -> str:
    cc = shutil.which("gcc") or shutil.which("cc") or shutil.which("clang")
    assert cc, "a C compiler (gcc/cc/clang) is needed to test the firmware link codec"
    return cc


@pytest.fixture(scope="module")
def c_vectors(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("linkvec") / "ek_link_vectors"
    subprocess.run([_cc(), *C_FLAGS, *map(str, C_SOURCES), str(ROOT / "tests/vectors/c/ek_link_vectors.c"),
                    "-o", str(exe)], check=True)
    return exe


def _run_c(exe: Path, commands: list[str]) -> list[list[str]]:
    out = subprocess.run([str(exe)], input="\n".join(commands) + "\n", capture_output=True, text=True,
                         check=True, timeout=60).stdout
    replies, current = [], []
    for line in out.splitlines():
        if line == "end":
            replies.append(current)
            current = []
        else:
            current.append(line)
    assert len(replies) == len(commands)
    return replies


def _h(hexstr: str) -> str:
    return hexstr or "-"


def _canonical(name: str, fields: dict) -> str:
    """How ek_link_vectors.c prints a decoded message."""
    parts = [name]
    for f in M.BY_NAME[name].fields:
        v = fields[f.name]
        if f.type == "f32":
            text = format(v, ".9g")
        elif f.type in ("bytes32", "u8[]"):
            text = _h(v if isinstance(v, str) else v.hex())
        elif f.type == "str":
            text = _h(v.encode("utf-8").hex())
        elif f.type == "u32[]":
            text = "[" + ",".join(str(x) for x in v) + "]"
        elif f.type == "f32[]":
            text = "[" + ",".join(format(x, ".9g") for x in v) + "]"
        else:
            text = str(v)
        parts.append(f"{f.name}={text}")
    return " ".join(parts)


def _py_fields(case: dict) -> dict:
    """JSON fields -> the values encode_body takes."""
    out = {}
    for f in M.BY_NAME[case["name"]].fields:
        v = case["fields"][f.name]
        out[f.name] = bytes.fromhex(v) if f.type in ("bytes32", "u8[]") else v
    return out


# --- generated header ------------------------------------------------------------------------------
def test_generated_proto_header_is_current():
    assert (RUNTIME / "ek_proto.h").read_text() == proto_header.render(), \
        "firmware/runtime/ek_proto.h is stale: run python -m edgekit.gen.proto_header"


def test_vectors_match_this_protocol_version():
    assert VECTORS["protocol_version"] == M.PROTOCOL_VERSION
    assert VECTORS["max_body"] == MAX_BODY


def test_every_message_type_has_a_vector():
    assert {c["name"] for c in VECTORS["messages"]} == set(M.BY_NAME)


# --- Python codec ----------------------------------------------------------------------------------
@pytest.mark.parametrize("case", VECTORS["cobs"], ids=lambda c: c["name"])
def test_python_cobs(case):
    dec, enc = bytes.fromhex(case["decoded"]), bytes.fromhex(case["encoded"])
    assert cobs_encode(dec) == enc
    assert cobs_decode(enc) == dec
    assert 0 not in enc


@pytest.mark.parametrize("case", VECTORS["messages"], ids=lambda c: f"{c['name']}-{c['seq']}")
def test_python_messages(case):
    body, frame = bytes.fromhex(case["body"]), bytes.fromhex(case["frame"])
    values = _py_fields(case)
    assert M.encode_body(case["name"], **values) == body
    assert M.decode_body(case["type"], body) == values
    assert encode_frame(case["type"], case["seq"], body) == frame
    frames = FrameDecoder().feed(frame)
    assert [(f.msg_type, f.seq, f.body) for f in frames] == [(case["type"], case["seq"], body)]


@pytest.mark.parametrize("case", VECTORS["bad_bodies"], ids=lambda c: c["name"])
def test_python_rejects_bad_bodies(case):
    with pytest.raises(M.MessageError) as exc:
        M.decode_body(case["type"], bytes.fromhex(case["body"]))
    assert exc.value.status == case["status"]


@pytest.mark.parametrize("case", VECTORS["streams"], ids=lambda c: c["name"])
def test_python_streams_any_chunking(case):
    stream = bytes.fromhex(case["stream"])
    rng = random.Random(len(stream))
    for attempt in range(4):  # whole, byte by byte, and random splits must all give the same result
        dec = FrameDecoder()
        frames = []
        if attempt == 0:
            frames = dec.feed(stream)
        else:
            i = 0
            while i < len(stream):
                n = 1 if attempt == 1 else rng.randint(1, 64)
                frames += dec.feed(stream[i:i + n])
                i += n
        assert [{"type": f.msg_type, "seq": f.seq, "body": f.body.hex()} for f in frames] == case["frames"]
        assert {"frames_ok": dec.frames_ok, "crc_errors": dec.crc_errors, "malformed": dec.malformed,
                "oversize": dec.oversize} == case["counters"]


def test_python_refuses_to_build_an_oversize_frame():
    with pytest.raises(ValueError):
        encode_frame(0x06, 1, bytes(MAX_BODY + 1))


# --- C codec ---------------------------------------------------------------------------------------
def test_c_cobs(c_vectors):
    cases = VECTORS["cobs"]
    replies = _run_c(c_vectors, [f"cobs {_h(c['decoded'])} {c['encoded']}" for c in cases])
    for case, reply in zip(cases, replies):
        assert reply == ["ok"], case["name"]


def test_c_messages(c_vectors):
    cases = VECTORS["messages"]
    replies = _run_c(c_vectors, [f"msg {c['type']} {c['seq']} {_h(c['body'])} {c['frame']}" for c in cases])
    for case, reply in zip(cases, replies):
        assert reply == [_canonical(case["name"], case["fields"])], f"{case['name']} seq {case['seq']}"


def test_c_rejects_bad_bodies(c_vectors):
    cases = VECTORS["bad_bodies"]
    codes = {"BAD_MESSAGE": 43, "UNKNOWN_MESSAGE": 42}
    replies = _run_c(c_vectors, [f"bad {c['type']} {_h(c['body'])}" for c in cases])
    for case, reply in zip(cases, replies):
        assert reply == [str(codes[case["status"]])], case["name"]


def test_c_streams(c_vectors):
    cases = VECTORS["streams"]
    replies = _run_c(c_vectors, [f"stream {_h(c['stream'])}" for c in cases])
    for case, reply in zip(cases, replies):
        expected = [f"frame {f['type']} {f['seq']} {_h(f['body'])}" for f in case["frames"]]
        cnt = case["counters"]
        expected.append(f"counters {cnt['frames_ok']} {cnt['crc_errors']} {cnt['malformed']} {cnt['oversize']}")
        assert reply == expected, case["name"]


def test_c_codec_builds_for_a_32bit_microcontroller(tmp_path):
    """size_t is 32 bits on Cortex-M: the codec and the server must still build warning-free."""
    cc = shutil.which("arm-none-eabi-gcc")
    if cc is None:
        pytest.skip("arm-none-eabi-gcc not installed")
    for src in ("ek_link.c", "ek_server.c"):
        subprocess.run([cc, "-mcpu=cortex-m4", "-mthumb", *C_FLAGS, "-c", str(RUNTIME / src), "-o",
                        str(tmp_path / (src + ".o"))], check=True)


# --- docs/protocol.md stays true ------------------------------------------------------------------------
DOC = (ROOT / "docs" / "protocol.md").read_text()


def _doc_examples() -> list[tuple[str, int, dict, dict[str, bytes]]]:
    import ast
    import re

    out = []
    for block in re.findall(r"```\n(.*?)```", DOC, re.S):
        lines = block.splitlines()
        i = 0
        while i < len(lines):
            head = re.match(r"^([A-Z_]+) seq=(\d+)(.*)$", lines[i])
            if not head or head.group(1) not in M.BY_NAME:
                i += 1
                continue
            values = {k: ast.literal_eval(v) for k, v in
                      re.findall(r"(\w+)=(\"[^\"]*\"|\[[^\]]*\]|\S+)", head.group(3))}
            hexes: dict[str, str] = {}
            label = None
            i += 1
            while i < len(lines) and lines[i].startswith("  "):
                m = re.match(r"^  (body|frame|wire)\s+(.*)$", lines[i])
                if m:
                    label = m.group(1)
                    hexes[label] = m.group(2)
                else:
                    hexes[label] += " " + lines[i].strip()
                i += 1
            out.append((head.group(1), int(head.group(2)), values,
                        {k: bytes.fromhex(v) for k, v in hexes.items()}))
    return out


def test_worked_example_in_docs_matches_the_codec():
    examples = _doc_examples()
    assert {name for name, *_ in examples} >= {"HELLO", "GENERATE", "TOKEN", "DONE", "ERROR"}
    for name, seq, values, hexes in examples:
        body = M.encode_body(name, **values)
        assert body == hexes["body"], f"docs/protocol.md: {name} body is stale"
        code = M.BY_NAME[name].code
        frame = bytes((code, seq)) + body
        assert hexes["frame"][:-4] == frame and encode_frame(code, seq, body) == hexes["wire"], \
            f"docs/protocol.md: {name} frame/wire bytes are stale"


def test_docs_list_every_message_and_status():
    from edgekit import status as S

    for m in M.MESSAGES:
        assert f"0x{m.code:02X} {m.name}" in DOC, f"docs/protocol.md does not document {m.name}"
        for f in m.fields:
            assert f"`{f.name}` | {f.type} |" in DOC, f"docs/protocol.md: {m.name}.{f.name} missing or mistyped"
    for s in S.STATUSES:
        assert f"| {s.code} | {s.name} |" in DOC
