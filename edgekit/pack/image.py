"""The .ekm model image: writer and validating reader (byte-level spec: docs/image-format.md).

Layout (little-endian):  [header 256 B][section table: count x 80 B][pad to 64][section 0][pad]...
The header and section-table layouts below are the single source of truth: the C header
firmware/runtime/ek_spec.h is generated from them.
"""
from __future__ import annotations

import hashlib
import os
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from edgekit.atomic_file import temp_beside
from edgekit.errors import EdgekitError
from edgekit.model import FLOAT32_MAX, NO_TOKEN, ModelConfig, pack_config
from edgekit.pack.formats import FLOAT_FORMATS, FORMAT_BY_CODE, TERNARY_FORMATS

MAGIC = b"EKMG"
VERSION_MAJOR = 1
VERSION_MINOR = 0
HEADER_SIZE = 256
ENTRY_SIZE = 80
SECTION_ALIGN = 64
NAME_LEN = 32

# (field, struct code, offset). Offsets are asserted against struct.calcsize below and in C.
HEADER_FIELDS = (
    ("magic", "4s", 0),
    ("version_major", "H", 4),
    ("version_minor", "H", 6),
    ("header_size", "I", 8),
    ("header_crc", "I", 12),  # CRC32 of the 256 header bytes with this field zeroed
    ("image_size", "Q", 16),
    ("section_count", "I", 24),
    ("table_offset", "I", 28),
    ("entry_size", "I", 32),
    ("part_index", "H", 36),
    ("part_count", "H", 38),
    ("flags", "I", 40),  # bit 0: lm_head tied to tok_embeddings
    ("table_crc", "I", 44),  # CRC32 of the whole section table
    ("vocab_size", "I", 48),
    ("hidden_size", "I", 52),
    ("intermediate_size", "I", 56),
    ("num_layers", "I", 60),
    ("num_heads", "I", 64),
    ("num_kv_heads", "I", 68),
    ("head_dim", "I", 72),
    ("max_seq_len", "I", 76),
    ("rms_norm_eps", "f", 80),
    ("rope_theta", "f", 84),
    ("bos_token_id", "I", 88),
    ("eos_token_id", "I", 92),
    ("model_hash", "32s", 96),  # sha256 over config + every section's identity (all parts)
    ("tokenizer_hash", "32s", 128),  # sha256 of tokenizer.json
    ("reserved", "96s", 160),
)
HEADER_STRUCT = struct.Struct("<" + "".join(code for _, code, _ in HEADER_FIELDS))
assert HEADER_STRUCT.size == HEADER_SIZE

ENTRY_FIELDS = (
    ("name", "32s", 0),
    ("kind", "H", 32),  # role code, SECTION_KINDS
    ("layer", "H", 34),  # 0xFFFF for global tensors
    ("format", "B", 36),  # format code, edgekit.pack.formats
    ("region", "B", 37),  # index of the board memory region this section is planned for
    ("flags", "H", 38),
    ("rows", "I", 40),
    ("cols", "I", 44),  # 1 for vectors
    ("offset", "Q", 48),  # from the start of this image file
    ("size", "Q", 56),
    ("crc", "I", 64),  # CRC32 of the section payload
    ("scale", "f", 68),  # ternary: s_w (y = acc / (s_x * s_w)); float formats: 0
    ("reserved", "8s", 72),
)
ENTRY_STRUCT = struct.Struct("<" + "".join(code for _, code, _ in ENTRY_FIELDS))
assert ENTRY_STRUCT.size == ENTRY_SIZE

for _fields, _struct in ((HEADER_FIELDS, HEADER_STRUCT), (ENTRY_FIELDS, ENTRY_STRUCT)):
    _off = 0
    for _name, _code, _offset in _fields:
        assert _off == _offset, (_name, _off, _offset)
        _off += struct.calcsize("<" + _code)

# Role codes of sections; the C runtime finds tensors by (kind, layer).
# Kinds from HOST_KIND_MIN up are host-only: what the host needs beside the weights (the tokenizer, the chat
# template) so that an .ekm works alone. The planner never places them, `gen` never writes them into a device
# image, the firmware's reader checks their bounds and CRC and skips them, and the model hash leaves them out,
# so an image with them and one without name the same model. Payload: the raw bytes (format FORMAT_BYTES),
# rows = byte count, cols = 1, layer GLOBAL_LAYER, name = the kind's name.
HOST_KIND_MIN = 0x100
SECTION_KINDS = {
    "tok_embeddings": 1, "norm": 2, "lm_head": 3,
    "attn_norm": 10, "q": 11, "k": 12, "v": 13, "attn_sub_norm": 14, "o": 15,
    "ffn_norm": 16, "gate": 17, "up": 18, "ffn_sub_norm": 19, "down": 20,
    "tokenizer": HOST_KIND_MIN,       # tokenizer.json (UTF-8); its sha256 is the header's tokenizer_hash
    "chat_template": HOST_KIND_MIN + 1,  # the Jinja chat template of tokenizer_config.json (UTF-8)
}
KIND_NAMES = {v: k for k, v in SECTION_KINDS.items()}
HOST_KINDS = {name for name, code in SECTION_KINDS.items() if code >= HOST_KIND_MIN}
FORMAT_BYTES = 0  # format code of host-only sections: opaque bytes, not a tensor format
GLOBAL_LAYER = 0xFFFF
FLAG_TIED = 1


def crc32(data: bytes | memoryview) -> int:
    return zlib.crc32(data) & 0xFFFFFFFF


def _align(n: int, a: int = SECTION_ALIGN) -> int:
    return (n + a - 1) // a * a


@dataclass
class Section:
    """One section as the table describes it (payload not included)."""

    name: str
    kind: int
    layer: int
    format: int
    region: int
    rows: int
    cols: int
    offset: int
    size: int
    crc: int
    scale: float
    flags: int = 0

    @property
    def role(self) -> str:
        return KIND_NAMES.get(self.kind, f"kind{self.kind}")

    @property
    def host_only(self) -> bool:
        return self.kind >= HOST_KIND_MIN

    @property
    def format_name(self) -> str:
        if self.host_only and self.format == FORMAT_BYTES:
            return "bytes"
        f = FORMAT_BY_CODE.get(self.format)
        return f.name if f else f"format{self.format}"

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.rows, self.cols) if self.cols != 1 or self.role in ("tok_embeddings", "lm_head") \
            else (self.rows,)


@dataclass
class SectionPayload:
    """What the writer needs for one section: identity, format, shape and a producer of its bytes."""

    name: str
    role: str
    layer: int
    format_name: str
    rows: int
    cols: int
    scale: float
    produce: Callable[[], bytes | Iterable[bytes]]  # the payload, whole or in chunks
    region: int = 0
    part: int = 0


@dataclass
class ImageHeader:
    fields: dict

    def __getattr__(self, item):
        try:
            return self.__dict__["fields"][item]
        except KeyError:
            raise AttributeError(item) from None

    def config(self) -> ModelConfig:
        f = self.fields

        def tok(x):
            return None if x == NO_TOKEN else x

        return ModelConfig(
            vocab_size=f["vocab_size"], hidden_size=f["hidden_size"], intermediate_size=f["intermediate_size"],
            num_layers=f["num_layers"], num_heads=f["num_heads"], num_kv_heads=f["num_kv_heads"],
            head_dim=f["head_dim"], max_seq_len=f["max_seq_len"], rms_norm_eps=float(f["rms_norm_eps"]),
            rope_theta=float(f["rope_theta"]), tie_word_embeddings=bool(f["flags"] & FLAG_TIED),
            bos_token_id=tok(f["bos_token_id"]), eos_token_id=tok(f["eos_token_id"]))


def section_identity(s: Section) -> bytes:
    """What the model hash covers for one section (independent of where it is stored)."""
    return s.name.encode() + struct.pack("<HHBIIIf", s.kind, s.layer & 0xFFFF, s.format, s.rows, s.cols,
                                         s.crc, s.scale)


def model_hash(config: ModelConfig, sections: Iterable[Section]) -> bytes:
    """Config + every tensor section; host-only sections are not the model (an image for a device has none)."""
    h = hashlib.sha256(pack_config(config) + struct.pack("<I", FLAG_TIED if config.tie_word_embeddings else 0))
    for s in sections:
        if not s.host_only:
            h.update(section_identity(s))
    return h.digest()


def _header_bytes(config: ModelConfig, *, image_size: int, sections: list[Section], part_index: int,
                  part_count: int, table: bytes, mhash: bytes, thash: bytes) -> bytes:
    values = {
        "magic": MAGIC, "version_major": VERSION_MAJOR, "version_minor": VERSION_MINOR,
        "header_size": HEADER_SIZE, "header_crc": 0, "image_size": image_size,
        "section_count": len(sections), "table_offset": HEADER_SIZE, "entry_size": ENTRY_SIZE,
        "part_index": part_index, "part_count": part_count,
        "flags": FLAG_TIED if config.tie_word_embeddings else 0, "table_crc": crc32(table),
        "model_hash": mhash, "tokenizer_hash": thash, "reserved": bytes(96),
    }
    cfg = struct.unpack("<8I2f2I", pack_config(config))
    for (name, _, _), v in zip(HEADER_FIELDS[13:25], cfg):
        values[name] = v
    raw = bytearray(HEADER_STRUCT.pack(*(values[n] for n, _, _ in HEADER_FIELDS)))
    struct.pack_into("<I", raw, 12, crc32(bytes(raw)))
    return bytes(raw)


def _entry_bytes(s: Section) -> bytes:
    name = s.name.encode()
    if len(name) >= NAME_LEN:
        raise EdgekitError(f"section name {s.name!r} is longer than {NAME_LEN - 1} bytes")
    return ENTRY_STRUCT.pack(name, s.kind, s.layer & 0xFFFF, s.format, s.region, s.flags, s.rows, s.cols,
                             s.offset, s.size, s.crc, s.scale, bytes(8))


def write_images(config: ModelConfig, payloads: list[SectionPayload], paths: list[Path], *,
                 tokenizer_hash: bytes, progress: Callable[[str, int], None] | None = None) -> list[Path]:
    """Write the model as len(paths) image parts (payload.part picks the file), atomically.

    Each payload is produced once and streamed to a temp file beside its destination; the header and table
    are written last, then the file is renamed. On any error no destination file is touched.
    """
    part_count = len(paths)
    for p in payloads:
        if not 0 <= p.part < part_count:
            raise EdgekitError(f"section {p.name} is planned for part {p.part}, but only {part_count} image(s)")
    tmp_files = []
    try:
        by_part: list[list[Section]] = [[] for _ in paths]
        all_sections: list[Section] = []
        for part, dest in enumerate(paths):
            dest = Path(dest)
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = temp_beside(dest)
            tmp_files.append((fd, tmp, dest))
        offsets = []
        for part in range(part_count):
            n = sum(1 for p in payloads if p.part == part)
            offsets.append(_align(HEADER_SIZE + n * ENTRY_SIZE))
        for p in payloads:
            fd, tmp, _ = tmp_files[p.part]
            if p.role in HOST_KINDS:
                format_code = FORMAT_BYTES
            else:
                fmt = TERNARY_FORMATS.get(p.format_name) or FLOAT_FORMATS.get(p.format_name)
                if fmt is None:
                    raise EdgekitError(f"section {p.name}: unknown format {p.format_name!r}")
                format_code = fmt.code
            off = offsets[p.part]
            produced = p.produce()
            chunks = [produced] if isinstance(produced, (bytes, bytearray, memoryview)) else produced
            size, crc = 0, 0
            for chunk in chunks:  # big tensors arrive in row chunks, so no second full-size copy exists
                os.pwrite(fd, chunk, off + size)
                crc = zlib.crc32(chunk, crc)
                size += len(chunk)
            pad = _align(off + size) - (off + size)
            if pad:
                os.pwrite(fd, bytes(pad), off + size)
            s = Section(p.name, SECTION_KINDS[p.role], p.layer if p.layer >= 0 else GLOBAL_LAYER, format_code,
                        p.region, p.rows, p.cols, off, size, crc & 0xFFFFFFFF, float(np.float32(p.scale)))
            offsets[p.part] = off + size + pad
            by_part[p.part].append(s)
            all_sections.append(s)
            if progress:
                progress(p.name, size)
        mhash = model_hash(config, all_sections)
        for part, (fd, tmp, dest) in enumerate(tmp_files):
            sections = by_part[part]
            table = b"".join(_entry_bytes(s) for s in sections)
            size = max(offsets[part], _align(HEADER_SIZE + len(table)))
            header = _header_bytes(config, image_size=size, sections=sections, part_index=part,
                                   part_count=part_count, table=table, mhash=mhash, thash=tokenizer_hash)
            os.pwrite(fd, header + table, 0)
            os.ftruncate(fd, size)
            os.fsync(fd)
        for fd, tmp, dest in tmp_files:
            os.close(fd)
        for fd, tmp, dest in tmp_files:
            os.replace(tmp, dest)
        tmp_files = []
        return [Path(p) for p in paths]
    except OSError as exc:  # a full disk or a vanished folder: the user's to fix; the finally below cleans up
        raise EdgekitError(f"cannot write the image: {exc.strerror or exc}", path=Path(paths[0]),
                           fix="free some space or choose another output path") from None
    finally:
        for fd, tmp, _ in tmp_files:
            try:
                os.close(fd)
            except OSError:
                pass
            tmp.unlink(missing_ok=True)


@dataclass
class Image:
    """A validated image part, read in place (mmap)."""

    path: Path
    header: ImageHeader
    sections: list[Section]
    data: np.ndarray = field(repr=False)  # uint8 view of the whole file

    @property
    def config(self) -> ModelConfig:
        return self.header.config()

    def payload(self, s: Section) -> np.ndarray:
        return self.data[s.offset:s.offset + s.size]

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise EdgekitError(f"image has no section {name!r}", path=self.path)

    @property
    def tensor_sections(self) -> list[Section]:
        return [s for s in self.sections if not s.host_only]

    def host_data(self, kind: str) -> bytes | None:
        """The payload of host-only section `kind` ("tokenizer", "chat_template"), None when absent."""
        for s in self.sections:
            if s.host_only and s.role == kind:
                return bytes(self.payload(s))
        return None


def _fail(path, what: str, fix: str | None = None):
    raise EdgekitError(what, path=path, fix=fix)


def parse_image(buf: bytes | np.ndarray, path: object = "<image>", *, check_payload_crc: bool = True) -> Image:
    """Validate and index an image held in `buf`. Raises EdgekitError naming the first problem found."""
    data = np.frombuffer(buf, dtype=np.uint8) if not isinstance(buf, np.ndarray) else buf
    mv = memoryview(data)
    if len(data) < HEADER_SIZE:
        _fail(path, f"truncated: {len(data)} bytes, shorter than the {HEADER_SIZE}-byte header")
    raw = bytes(mv[:HEADER_SIZE])
    if raw[:4] != MAGIC:
        _fail(path, f"bad magic {raw[:4]!r}, expected {MAGIC!r}", "this is not an edgekit .ekm image")
    values = dict(zip((n for n, _, _ in HEADER_FIELDS), HEADER_STRUCT.unpack(raw)))
    if values["version_major"] != VERSION_MAJOR:
        _fail(path, f"image format version {values['version_major']}.{values['version_minor']} is not supported "
              f"(this edgekit reads {VERSION_MAJOR}.x)", "re-pack the model with this edgekit")
    zeroed = bytearray(raw)
    zeroed[12:16] = bytes(4)
    if crc32(bytes(zeroed)) != values["header_crc"]:
        _fail(path, "header CRC mismatch: the header is corrupt")
    if values["header_size"] != HEADER_SIZE or values["entry_size"] != ENTRY_SIZE \
            or values["table_offset"] != HEADER_SIZE:
        _fail(path, "header sizes do not match format 1 (header_size/entry_size/table_offset)")
    if values["image_size"] != len(data):
        _fail(path, f"truncated or padded: header says {values['image_size']} bytes, file has {len(data)}")
    n = values["section_count"]
    if not 1 <= n <= 65535 or HEADER_SIZE + n * ENTRY_SIZE > len(data):
        _fail(path, f"section count {n} does not fit the file")
    if not 0 <= values["part_index"] < values["part_count"]:
        _fail(path, f"part index {values['part_index']} is not below part count {values['part_count']}")
    table = bytes(mv[HEADER_SIZE:HEADER_SIZE + n * ENTRY_SIZE])
    if crc32(table) != values["table_crc"]:
        _fail(path, "section table CRC mismatch: the section table is corrupt")
    header = ImageHeader(values)
    try:
        config = header.config()
    except (TypeError, ValueError) as exc:  # pragma: no cover - struct guarantees types
        _fail(path, f"bad config: {exc}")
    config.validate(path)
    sections = []
    data_start = _align(HEADER_SIZE + n * ENTRY_SIZE)
    prev_end = data_start
    host_seen: set[int] = set()
    for i in range(n):
        e = dict(zip((f for f, _, _ in ENTRY_FIELDS), ENTRY_STRUCT.unpack_from(table, i * ENTRY_SIZE)))
        name = e["name"].split(b"\0", 1)[0].decode("ascii", "replace")
        s = Section(name, e["kind"], e["layer"], e["format"], e["region"], e["rows"], e["cols"], e["offset"],
                    e["size"], e["crc"], e["scale"], e["flags"])
        where = f"section {i} ({name})"
        if s.kind not in KIND_NAMES:
            _fail(path, f"{where}: unknown section kind {s.kind}")
        if s.host_only:  # same checks and order as the firmware (ek_image.c): identity, format, bounds, size, CRC
            if s.layer != GLOBAL_LAYER or name != s.role or s.kind in host_seen:
                _fail(path, f"{where}: a host-only section must be global, named {s.role!r} and appear once")
            host_seen.add(s.kind)
            if s.format != FORMAT_BYTES:
                _fail(path, f"{where}: a host-only section must have format code {FORMAT_BYTES} (bytes)")
            if s.offset % SECTION_ALIGN or s.offset < prev_end or s.offset + s.size > len(data):
                _fail(path, f"{where}: offset {s.offset} + size {s.size} is out of bounds or misaligned")
            prev_end = s.offset + s.size
            if s.cols != 1 or s.size != s.rows:
                _fail(path, f"{where}: size {s.size} does not match its byte count {s.rows}x{s.cols}")
            if check_payload_crc and crc32(mv[s.offset:s.offset + s.size]) != s.crc:
                _fail(path, f"{where}: payload CRC mismatch: the section data is corrupt")
            sections.append(s)
            continue
        fmt = FORMAT_BY_CODE.get(s.format)
        if fmt is None:
            _fail(path, f"{where}: unknown format code {s.format}")
        if s.offset % SECTION_ALIGN or s.offset < prev_end or s.offset + s.size > len(data):
            _fail(path, f"{where}: offset {s.offset} + size {s.size} is out of bounds or misaligned")
        prev_end = s.offset + s.size
        ternary = fmt.name in TERNARY_FORMATS
        expected = fmt.packed_size(s.rows, s.cols) if ternary else fmt.packed_size((s.rows, s.cols))
        if s.size != expected:
            _fail(path, f"{where}: size {s.size} does not match {fmt.name} {s.rows}x{s.cols} ({expected} bytes)")
        if ternary and not 0 < s.scale <= FLOAT32_MAX:  # as the firmware's check: no NaN/0/-x/inf
            _fail(path, f"{where}: ternary scale {s.scale!r} is not a positive finite float32")
        if check_payload_crc and crc32(mv[s.offset:s.offset + s.size]) != s.crc:
            _fail(path, f"{where}: payload CRC mismatch: the section data is corrupt")
        sections.append(s)
    _check_sections_against_config(path, config, sections, values["part_count"])
    return Image(Path(str(path)), header, sections, data)


def _check_sections_against_config(path, config: ModelConfig, sections: list[Section], part_count: int) -> None:
    from edgekit.model import tensor_layout

    expected = {name: (role, layer, shape) for name, role, layer, _, shape in tensor_layout(config)}
    for s in sections:
        if s.host_only:
            continue
        if s.name not in expected:
            _fail(path, f"section {s.name} is not part of a model with this config")
        role, layer, shape = expected[s.name]
        rows, cols = (shape[0], shape[1] if len(shape) > 1 else 1)
        if s.role != role or (s.layer if s.layer != GLOBAL_LAYER else -1) != layer \
                or (s.rows, s.cols) != (rows, cols):
            _fail(path, f"section {s.name}: kind/layer/shape disagree with the model config")
    if part_count == 1:
        have = {s.name for s in sections if not s.host_only}
        missing = [name for name in expected if name not in have]
        if missing:
            _fail(path, f"image is missing {len(missing)} section(s), first {missing[0]}")


def read_image(path: str | Path, *, check_payload_crc: bool = True) -> Image:
    path = Path(path)
    if not path.is_file():
        raise EdgekitError("no such image file", path=path)
    data = np.memmap(path, dtype=np.uint8, mode="r") if path.stat().st_size else np.zeros(0, np.uint8)
    return parse_image(data, path, check_payload_crc=check_payload_crc)
