"""Property-based fuzzing of the host's readers of outside bytes, where tests/test_protocol_fuzz.py (random
bytes and bodies) and tests/test_fuzz_checkpoints.py (bit flips of three fixtures through load_checkpoint) do
not reach: structure-aware mutations of valid inputs, so the checks behind the magic, counts and CRCs run.

* link frames: feeding in any pieces gives the frames and counters of feeding at once; every non-empty
  segment is counted exactly once; a damaged frame never takes an intact neighbour with it;
* reply bodies of every device->host type with lying counts, cut or grown, broken UTF-8;
* .ekm images with any header or section-table field changed and every CRC recomputed (read_image);
* GGUF and safetensors files generated at random (all value types, nested arrays, every dtype), read back
  exactly, then with their counts, lengths, offsets and bytes damaged (GGUFFile, SafetensorsFile directly).

Every input either parses (and then what it says holds: tensors inside the file, bodies that re-encode to
the same bytes) or raises the module's documented error (EdgekitError; MessageError for message bodies).
"""
from __future__ import annotations

import json
import math
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from gguf.constants import GGML_QUANT_SIZES, GGMLQuantizationType, GGUFValueType
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.link import messages as M
from edgekit.link.framing import MAX_BODY, MAX_ENCODED_FRAME, FrameDecoder, encode_frame
from edgekit.loaders.gguf_blocks import I2_S_BLOCK, i2_s_nbytes
from edgekit.loaders.gguf_file import GGML_TYPE_I2_S, GGUFFile
from edgekit.loaders.safetensors_file import DTYPE_SIZES, NUMPY_DTYPES, SafetensorsFile
from edgekit.pack import image as I

ROOT = Path(__file__).resolve().parents[1]
FUZZ = settings(max_examples=200, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])
INTERESTING_INTS = (0, 1, 2, 3, 4, 31, 32, 63, 64, 255, 256, 0xFFFF, 0x10000, 2**31 - 1, 2**31, 2**32 - 1)


# --- link frames -----------------------------------------------------------------------------------------------
def _frames():
    return st.builds(lambda t, s, b: encode_frame(t, s, b), st.integers(0, 255), st.integers(0, 255),
                     st.binary(max_size=MAX_BODY))


@st.composite
def _streams(draw):
    """Good frames, damaged frames and garbage, in any order."""
    parts = []
    for kind in draw(st.lists(st.sampled_from(["frame", "damaged", "garbage", "zeros"]), max_size=8)):
        if kind == "frame":
            parts.append(draw(_frames()))
        elif kind == "damaged":
            f = bytearray(draw(_frames()))
            f[draw(st.integers(0, len(f) - 2))] ^= draw(st.integers(1, 255))
            parts.append(bytes(f))
        elif kind == "garbage":
            parts.append(draw(st.binary(max_size=1200)))
        else:
            parts.append(bytes(draw(st.integers(1, 3))))
    return b"".join(parts)


@FUZZ
@given(stream=_streams(), cuts=st.lists(st.integers(0, 6000), max_size=12))
def test_frame_decoder_is_the_same_in_any_pieces(stream, cuts):
    whole = FrameDecoder()
    expected = whole.feed(stream)
    pieces, got = FrameDecoder(), []
    bounds = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    for a, b in zip(bounds, bounds[1:]):
        got += pieces.feed(stream[a:b])
    assert got == expected
    counters = lambda d: (d.frames_ok, d.crc_errors, d.malformed, d.oversize)  # noqa: E731
    assert counters(pieces) == counters(whole)


@FUZZ
@given(stream=_streams())
def test_frame_decoder_counts_every_segment_once(stream):
    dec = FrameDecoder()
    frames = dec.feed(stream)
    segments = stream.split(b"\x00")
    terminated, tail = segments[:-1], segments[-1]
    expected = sum(1 for s in terminated if s) + (1 if len(tail) > MAX_ENCODED_FRAME - 1 else 0)
    assert dec.frames_ok + dec.crc_errors + dec.malformed + dec.oversize == expected
    assert len(frames) == dec.frames_ok and all(len(f.body) <= MAX_BODY for f in frames)


@FUZZ
@given(before=_streams(), frame=_frames(), after=_streams())
def test_an_intact_frame_survives_any_neighbours(before, frame, after):
    """Whatever came before, a delimiter then an intact frame is delivered (what the host relies on)."""
    raw = FrameDecoder().feed(frame)[0]
    frames = FrameDecoder().feed(before + b"\x00" + frame + after)
    assert raw in frames


# --- device -> host message bodies -----------------------------------------------------------------------------
D2H = [m for m in M.MESSAGES if m.direction == "d2h"]


def _field_values(f: M.Field):
    return {
        "u8": st.integers(0, 0xFF), "u16": st.integers(0, 0xFFFF), "u32": st.integers(0, 0xFFFFFFFF),
        "u64": st.integers(0, 2**64 - 1), "f32": st.floats(width=32, allow_nan=False),
        "bytes32": st.binary(min_size=32, max_size=32), "u8[]": st.binary(max_size=60),
        "u32[]": st.lists(st.integers(0, 0xFFFFFFFF), max_size=30),
        "f32[]": st.lists(st.floats(width=32, allow_nan=False), max_size=30), "str": st.text(max_size=30),
    }[f.type]


def _count_offsets(m: M.Message, body: bytes) -> list[tuple[int, M.Field]]:
    """Where each variable field's u16 count sits in a valid body."""
    out, off = [], m.fixed_size
    for f in m.array_fields:
        n = struct.unpack_from("<H", body, off)[0]
        out.append((off, f))
        off += 2 + n * f.size
    return out


@FUZZ
@given(m=st.sampled_from(D2H), data=st.data())
def test_reply_bodies_with_lying_counts_and_lengths(m, data):
    body = bytearray(M.encode_body(m.name, **{f.name: data.draw(_field_values(f)) for f in m.fields}))
    counts = _count_offsets(m, bytes(body))
    mutation = data.draw(st.sampled_from(["count", "cut", "grow", "utf8", "flip"]))
    if mutation == "count" and counts:
        off, _ = data.draw(st.sampled_from(counts))
        body[off:off + 2] = struct.pack("<H", data.draw(st.sampled_from([0, 1, 0xFFFF]) | st.integers(0, 0xFFFF)))
    elif mutation == "cut" and body:
        del body[data.draw(st.integers(0, len(body) - 1)):]
    elif mutation == "grow":
        body += data.draw(st.binary(min_size=1, max_size=8))
    elif mutation == "utf8" and any(f.type == "str" for _, f in counts):
        off, _ = next((o, f) for o, f in counts if f.type == "str")
        bad = data.draw(st.sampled_from([b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80"]))
        n = struct.unpack_from("<H", body, off)[0]
        body[off:off + 2 + n] = struct.pack("<H", n + len(bad)) + body[off + 2:off + 2 + n] + bad
    elif body:
        body[data.draw(st.integers(0, len(body) - 1))] ^= 1 << data.draw(st.integers(0, 7))
    try:
        values = M.decode_body(m.code, bytes(body))
    except M.MessageError as exc:
        assert exc.status == "BAD_MESSAGE" and m.name in str(exc)
        event("refused")
        return
    event("accepted")
    assert M.encode_body(m.name, **values) == bytes(body)


# --- .ekm images -----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def image_bytes(tmp_path_factory) -> bytes:
    sys.path.insert(0, str(ROOT / "tests"))
    from synthetic import random_model, tiny_config

    from edgekit.pack.packer import PackChoice, pack_model

    cfg = tiny_config(vocab_size=32, hidden_size=32, intermediate_size=32, num_layers=1, num_heads=2,
                      num_kv_heads=1, head_dim=16, max_seq_len=16, tie_word_embeddings=False)
    path = tmp_path_factory.mktemp("fuzz_image") / "tiny.ekm"
    pack_model(random_model(cfg, seed=3), path, PackChoice("t158", "f16", "q8row"))
    return path.read_bytes()


def _value_for(code: str, data):
    if code.endswith("s"):
        n = int(code[:-1])
        return data.draw(st.binary(min_size=n, max_size=n) | st.just(b"L0.q".ljust(n, b"\0")))
    if code == "f":
        return data.draw(st.floats(width=32) | st.sampled_from([0.0, -1.0, 1e-45, float("inf"), float("nan")]))
    bits = struct.calcsize("<" + code) * 8
    return data.draw(st.sampled_from([v for v in INTERESTING_INTS if v < 2**bits]) | st.integers(0, 2**bits - 1))


def _fix_crcs(buf: bytearray, payloads: bool) -> None:
    """Recompute the table CRC (and payload CRCs) where the fields that locate them are in range, then the
    header CRC: the mutation then reaches the checks behind them."""
    count = struct.unpack_from("<I", buf, 24)[0]
    table_end = I.HEADER_SIZE + count * I.ENTRY_SIZE
    if count <= 65535 and table_end <= len(buf):
        if payloads:
            for i in range(count):
                e = I.HEADER_SIZE + i * I.ENTRY_SIZE
                off, size = struct.unpack_from("<QQ", buf, e + 48)
                if off + size <= len(buf):
                    struct.pack_into("<I", buf, e + 64, zlib.crc32(buf[off:off + size]))
        struct.pack_into("<I", buf, 44, zlib.crc32(buf[I.HEADER_SIZE:table_end]))
    struct.pack_into("<I", buf, 12, 0)
    struct.pack_into("<I", buf, 12, zlib.crc32(buf[:I.HEADER_SIZE]))


@FUZZ
@given(data=st.data())
def test_images_with_any_field_changed_and_crcs_fixed(image_bytes, tmp_path, data):
    buf = bytearray(image_bytes)
    count = struct.unpack_from("<I", buf, 24)[0]
    for _ in range(data.draw(st.integers(1, 3))):
        if data.draw(st.booleans()):
            name, code, off = data.draw(st.sampled_from(I.HEADER_FIELDS))
        else:
            name, code, off = data.draw(st.sampled_from(I.ENTRY_FIELDS))
            off += I.HEADER_SIZE + data.draw(st.integers(0, count - 1)) * I.ENTRY_SIZE
        struct.pack_into("<" + code, buf, off, _value_for(code, data))
    if data.draw(st.integers(0, 9)) == 0:  # now and then the file's length lies too
        buf = buf[:data.draw(st.integers(0, len(buf)))] if data.draw(st.booleans()) else buf + bytes(64)
    if len(buf) >= I.HEADER_SIZE:
        _fix_crcs(buf, payloads=data.draw(st.booleans()))
    path = tmp_path / "mutated.ekm"
    path.write_bytes(bytes(buf))
    try:
        img = I.read_image(path)
    except EdgekitError as exc:
        assert str(path) in str(exc)
        event(f"refused: {str(exc)[len(str(path)) + 2:].split(':')[0][:40]}")
        return
    event("accepted")
    img.config.validate(path)
    for s in img.sections:
        assert s.offset + s.size <= len(buf) and len(img.payload(s)) == s.size


# --- GGUF ------------------------------------------------------------------------------------------------------
V = GGUFValueType
SCALAR_CODES = {V.UINT8: "<B", V.INT8: "<b", V.UINT16: "<H", V.INT16: "<h", V.UINT32: "<I", V.INT32: "<i",
                V.FLOAT32: "<f", V.BOOL: "<?", V.UINT64: "<Q", V.INT64: "<q", V.FLOAT64: "<d"}
TENSOR_TYPES = (int(GGMLQuantizationType.F32), int(GGMLQuantizationType.F16), int(GGMLQuantizationType.Q8_0),
                GGML_TYPE_I2_S)


def _scalar(vtype):
    code = SCALAR_CODES[vtype]
    if code == "<?":
        return st.booleans()
    if code in ("<f", "<d"):
        return st.floats(width=32 if code == "<f" else 64, allow_nan=False)
    bits = struct.calcsize(code) * 8
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if code.islower() else (0, 2**bits - 1)
    return st.integers(lo, hi)


def _gguf_arrays(depth: int = 0):
    """(item type, items) of a GGUF array: scalars, strings, or (two levels deep) arrays."""
    leaf = st.sampled_from(list(SCALAR_CODES) + [V.STRING]).flatmap(lambda t: st.tuples(st.just(t), st.lists(
        st.text(max_size=6) if t == V.STRING else _scalar(t), max_size=6)))
    if depth >= 2:
        return leaf
    return leaf | st.tuples(st.just(V.ARRAY), st.lists(_gguf_arrays(depth + 1), max_size=3))


def _gguf_values():
    """(vtype, value) pairs of every GGUF value type."""
    scalars = st.sampled_from(list(SCALAR_CODES)).flatmap(lambda t: st.tuples(st.just(t), _scalar(t)))
    return scalars | st.tuples(st.just(V.STRING), st.text(max_size=12)) | st.tuples(st.just(V.ARRAY), _gguf_arrays())


def _gguf_string(text: str) -> bytes:
    raw = text.encode("utf-8")
    return struct.pack("<Q", len(raw)) + raw


def _gguf_value(vtype, value) -> bytes:
    if vtype == V.STRING:
        return _gguf_string(value)
    if vtype == V.ARRAY:
        etype, items = value
        return struct.pack("<IQ", etype, len(items)) + b"".join(_gguf_value(etype, v) for v in items)
    return struct.pack(SCALAR_CODES[vtype], value)


def _expected(vtype, value):
    """What GGUFFile returns for a value: numeric arrays as numpy arrays, the rest as Python values."""
    if vtype == V.ARRAY:
        etype, items = value
        if etype in (V.STRING, V.ARRAY):
            return [_expected(etype, v) for v in items]
        return list(items)
    return value


def _same(got, want) -> bool:
    if isinstance(got, np.ndarray):
        got = got.tolist()
    if isinstance(got, list):
        return isinstance(want, list) and len(got) == len(want) and all(map(_same, got, want))
    return got == want  # floats were drawn representable in their width: exact


@st.composite
def _gguf_files(draw):
    """A valid GGUF v3 file, and the byte offsets of its counts and lengths (for the mutations)."""
    alignment = draw(st.sampled_from([None, 8, 32, 64]))
    kvs = draw(st.dictionaries(st.text(min_size=1, max_size=10).filter(lambda k: k != "general.alignment"),
                               _gguf_values(), max_size=6))
    if alignment is not None:
        kvs["general.alignment"] = (V.UINT32, alignment)
    tensors = []
    for i in range(draw(st.integers(0, 4))):
        ttype = draw(st.sampled_from(TENSOR_TYPES))
        block = I2_S_BLOCK if ttype == GGML_TYPE_I2_S else GGML_QUANT_SIZES[GGMLQuantizationType(ttype)][0]
        dims = [block * draw(st.integers(0, 2))] + draw(st.lists(st.integers(0, 3), max_size=3))
        tensors.append((f"t{i}", tuple(dims), ttype))
    out, fields = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))), [8, 16]
    for key, (vtype, value) in kvs.items():
        fields.append(len(out))
        out += _gguf_string(key) + struct.pack("<I", vtype) + _gguf_value(vtype, value)
    align = alignment or 32
    offset, infos = 0, []
    for name, dims, ttype in tensors:
        n = math.prod(dims)
        nbytes = i2_s_nbytes(n) if ttype == GGML_TYPE_I2_S else \
            n // GGML_QUANT_SIZES[GGMLQuantizationType(ttype)][0] * GGML_QUANT_SIZES[GGMLQuantizationType(ttype)][1]
        fields.append(len(out))
        out += _gguf_string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
        fields.append(len(out))
        out += struct.pack("<IQ", ttype, offset)
        infos.append((name, dims, ttype, offset, nbytes))
        offset = -(-(offset + nbytes) // align) * align
    out += bytes(-len(out) % align)
    data_start = len(out)
    out += draw(st.binary(min_size=offset, max_size=offset))
    return bytes(out), kvs, infos, data_start, fields


@FUZZ
@given(gguf=_gguf_files())
def test_gguf_files_read_back_exactly(gguf, tmp_path):
    raw, kvs, infos, data_start, _ = gguf
    path = tmp_path / "model.gguf"
    path.write_bytes(raw)
    g = GGUFFile(path)
    assert set(g.metadata) == set(kvs)
    for key, (vtype, value) in kvs.items():
        assert _same(g.metadata[key], _expected(vtype, value)), key
    assert [(t.name, t.dims, t.ggml_type, t.begin, t.nbytes) for t in g.tensors.values()] == \
        [(n, d, t, data_start + off, nb) for n, d, t, off, nb in infos]
    for t in g.tensors.values():
        assert g.read_bytes(t.name).tobytes() == raw[t.begin:t.begin + t.nbytes]


@FUZZ
@given(gguf=_gguf_files(), data=st.data())
def test_gguf_files_with_lying_counts_lengths_and_bytes(gguf, tmp_path, data):
    raw, _, _, _, fields = gguf
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 3))):
        mutation = data.draw(st.sampled_from(["field", "flip", "cut", "garbage"]))
        if mutation == "field":  # a count, a string length, a value type, a tensor's dims/type/offset
            off = data.draw(st.sampled_from(fields)) + data.draw(st.sampled_from([0, 8, 12, 16, 20]))
            if off + 8 <= len(buf):
                big = st.sampled_from([2**32, 2**40, 2**63, 2**64 - 1, len(buf), len(buf) * 4])
                value = data.draw(st.sampled_from(INTERESTING_INTS) | big | st.integers(0, 2**64 - 1))
                code = data.draw(st.sampled_from(["<Q", "<I"])) if value < 2**32 else "<Q"
                struct.pack_into(code, buf, off, value)
        elif mutation == "flip" and buf:
            buf[data.draw(st.integers(0, len(buf) - 1))] ^= 1 << data.draw(st.integers(0, 7))
        elif mutation == "cut":  # mostly past the fixed 24-byte header, where the counts lead somewhere
            del buf[data.draw(st.integers(min(24, len(buf)), len(buf)) | st.integers(0, len(buf))):]
        elif buf:
            at = data.draw(st.integers(0, len(buf) - 1))
            buf[at:at] = data.draw(st.binary(min_size=1, max_size=16))
    path = tmp_path / "model.gguf"
    path.write_bytes(bytes(buf))
    try:
        g = GGUFFile(path)
    except EdgekitError as exc:
        assert str(path) in str(exc)
        event(f"refused: {str(exc)[len(str(path)) + 2:][:30]}")
        return
    event("accepted")
    for t in g.tensors.values():  # what a parsed table says must hold
        assert 0 <= t.begin and t.begin + t.nbytes <= len(buf)
        assert len(g.read_bytes(t.name)) == t.nbytes


# --- safetensors -----------------------------------------------------------------------------------------------
@st.composite
def _safetensors_files(draw):
    entries, offset = {}, 0
    for i in range(draw(st.integers(0, 5))):
        dtype = draw(st.sampled_from(sorted(DTYPE_SIZES)))
        shape = draw(st.lists(st.integers(0, 5), max_size=3))
        nbytes = math.prod(shape) * DTYPE_SIZES[dtype]
        entries[f"w{i}"] = {"dtype": dtype, "shape": shape, "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    header = dict(entries)
    if draw(st.booleans()):
        header["__metadata__"] = draw(st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3))
    text = json.dumps(header).encode() + b" " * draw(st.integers(0, 7))  # writers pad to 8 bytes
    data = draw(st.binary(min_size=offset, max_size=offset))
    return len(text).to_bytes(8, "little") + text + data, entries


def _read_everything(f: SafetensorsFile, data):
    """Every tensor whole, as float32 where it is a float, and a few row ranges (in range or not)."""
    for name, e in f.entries.items():
        for call in (lambda: f.read_raw(name), lambda: f.read_float32(name)):
            try:
                arr = call()
            except EdgekitError:
                continue
            assert arr.shape == e.shape
        if e.shape and e.shape[0] > 0:  # zero-row tensors: see test_rows_of_a_zero_row_tensor
            start = data.draw(st.integers(-1, e.shape[0] + 1))
            stop = data.draw(st.integers(-1, e.shape[0] + 1))
            try:
                arr = f.read_raw(name, (start, stop))
            except EdgekitError:
                assert not 0 <= start <= stop <= e.shape[0] or e.dtype not in NUMPY_DTYPES
                continue
            assert arr.shape == (stop - start, *e.shape[1:])


@FUZZ
@given(st_file=_safetensors_files(), data=st.data())
def test_safetensors_files_read_back_exactly(st_file, tmp_path, data):
    raw, entries = st_file
    path = tmp_path / "model.safetensors"
    path.write_bytes(raw)
    f = SafetensorsFile(path)
    assert {n: (e.dtype, list(e.shape), e.nbytes) for n, e in f.entries.items()} == \
        {n: (e["dtype"], e["shape"], e["data_offsets"][1] - e["data_offsets"][0]) for n, e in entries.items()}
    for name, e in f.entries.items():
        if e.dtype in NUMPY_DTYPES:
            assert f.read_raw(name).tobytes() == raw[e.begin:e.begin + e.nbytes]
    _read_everything(f, data)


@FUZZ
@given(st_file=_safetensors_files(), data=st.data())
def test_safetensors_files_with_lying_lengths_and_bytes(st_file, tmp_path, data):
    raw, _ = st_file
    buf = bytearray(raw)
    header_len = int.from_bytes(raw[:8], "little")
    mutation = data.draw(st.sampled_from(["length", "header_byte", "cut", "grow"]))
    if mutation == "length":
        value = data.draw(st.sampled_from([0, 1, header_len - 1, header_len + 1, len(raw) - 8, len(raw),
                                           100 * 1024 * 1024 + 1, 2**63, 2**64 - 1]) | st.integers(0, 2**64 - 1))
        buf[:8] = max(0, value).to_bytes(8, "little")
    elif mutation == "header_byte" and header_len:
        # one character of the JSON: digits, quotes, brackets and letters break it in every way
        at = 8 + data.draw(st.integers(0, header_len - 1))
        buf[at] = data.draw(st.sampled_from(b'0123456789-"[]{}:,e. \\\xff'))
    elif mutation == "cut":
        del buf[data.draw(st.integers(8, len(buf)) | st.integers(0, len(buf))):]
    else:
        buf += data.draw(st.binary(min_size=1, max_size=64))
    path = tmp_path / "model.safetensors"
    path.write_bytes(bytes(buf))
    try:
        f = SafetensorsFile(path)
    except EdgekitError as exc:
        assert str(path) in str(exc)
        event(f"refused: {str(exc)[len(str(path)) + 2:][:30]}")
        return
    event("accepted")
    for e in f.entries.values():
        assert e.begin + e.nbytes <= len(buf)
    _read_everything(f, data)


def test_rows_of_a_zero_row_tensor(tmp_path):
    """Found by fuzzing: a row range of a (0, N) tensor divided by its zero row count."""
    text = json.dumps({"w": {"dtype": "F32", "shape": [0, 4], "data_offsets": [0, 0]}}).encode()
    path = tmp_path / "empty.safetensors"
    path.write_bytes(len(text).to_bytes(8, "little") + text)
    assert SafetensorsFile(path).read_raw("w", (0, 0)).shape == (0, 4)
