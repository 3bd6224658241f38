"""A bounds-checked parser of the GGUF container (header, metadata, tensor table); no tensor data is read.

Why not gguf.GGUFReader: it rejects ggml type 36 (bitnet.cpp's I2_S, the format the official
bitnet-b1.58-2B-4T GGUF ships in) and its errors on damaged files are assorted ValueError/KeyError/
IndexError; every byte here is outside input, so each length and offset is checked against the file and a
bad file becomes one EdgekitError naming the problem. The gguf package still supplies the value types and
tensor names; ggml tensor types (names, block sizes) come from edgekit's table in gguf_types.py.

Layout (GGUF v2/v3, little-endian): "GGUF", u32 version, u64 n_tensors, u64 n_kv; n_kv x (string key,
u32 value type, value); n_tensors x (string name, u32 n_dims, u64 dims[n_dims] innermost first, u32 ggml
type, u64 offset); padding to general.alignment (default 32); tensor data, each at its offset from there.
"""
from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from gguf.constants import GGUFValueType

from edgekit.errors import EdgekitError
from edgekit.loaders.gguf_types import GGML_TYPE_BY_ID, GGML_TYPE_I2_S, type_name  # noqa: F401 (re-exported)

DEFAULT_ALIGNMENT = 32
MAX_DIMS = 4  # GGML_MAX_DIMS
MAX_COUNT = 1 << 32  # more tensors/keys/array items than this is a corrupt count, not a model

_SCALARS = {
    GGUFValueType.UINT8: "<B", GGUFValueType.INT8: "<b", GGUFValueType.UINT16: "<H", GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I", GGUFValueType.INT32: "<i", GGUFValueType.FLOAT32: "<f",
    GGUFValueType.UINT64: "<Q", GGUFValueType.INT64: "<q", GGUFValueType.FLOAT64: "<d", GGUFValueType.BOOL: "<?",
}
_NUMPY_SCALARS = {GGUFValueType.UINT8: "<u1", GGUFValueType.INT8: "<i1", GGUFValueType.UINT16: "<u2",
                  GGUFValueType.INT16: "<i2", GGUFValueType.UINT32: "<u4", GGUFValueType.INT32: "<i4",
                  GGUFValueType.FLOAT32: "<f4", GGUFValueType.UINT64: "<u8", GGUFValueType.INT64: "<i8",
                  GGUFValueType.FLOAT64: "<f8"}


@dataclass(frozen=True)
class GGUFTensorInfo:
    name: str
    dims: tuple[int, ...]  # GGUF order: innermost (contiguous) first, e.g. (in_features, out_features)
    ggml_type: int
    begin: int  # absolute file offset
    nbytes: int

    @property
    def shape(self) -> tuple[int, ...]:
        """numpy (row-major) order, e.g. (out_features, in_features)."""
        return tuple(reversed(self.dims))

    @property
    def numel(self) -> int:
        return math.prod(self.dims)

    @property
    def type_name(self) -> str:
        return type_name(self.ggml_type)


def tensor_nbytes(ggml_type: int, dims: tuple[int, ...]) -> int | None:
    """Bytes a tensor of this ggml type occupies, or None when the type is unknown or its rows do not fit the
    type's blocks. dims in GGUF order (innermost first)."""
    row = GGML_TYPE_BY_ID.get(ggml_type)
    return None if row is None else row.nbytes(tuple(reversed(dims)))


class _Cursor:
    """Reads little-endian values from the start of a file, refusing to run past its end. The header is
    read in growing chunks, so a multi-GB file costs only its header's bytes."""

    FIRST_READ_BYTES = 1 << 20

    def __init__(self, f, size: int, path: Path):
        self.f, self.size, self.path, self.pos = f, size, path, 0
        self.buf = f.read(min(size, self.FIRST_READ_BYTES))

    def need(self, n: int, what: str) -> None:
        if n < 0 or self.pos + n > self.size:
            raise EdgekitError(f"GGUF file ends inside {what} (offset {self.pos}, needs {n} more bytes)",
                               path=self.path, fix="the file is truncated or corrupt; download it again")
        if self.pos + n > len(self.buf):
            want = min(self.size, max(self.pos + n, 2 * len(self.buf)))
            self.f.seek(len(self.buf))
            more = self.f.read(want - len(self.buf))
            self.buf = self.buf + more  # a new bytes object: arrays already cut from the old one stay valid
            if len(self.buf) < self.pos + n:
                raise EdgekitError(f"GGUF file ends inside {what} (file changed while reading?)", path=self.path)

    def scalar(self, fmt: str, what: str):
        size = struct.calcsize(fmt)
        self.need(size, what)
        (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return value

    def string(self, what: str) -> str:
        n = self.scalar("<Q", what)
        self.need(n, what)
        raw = bytes(self.buf[self.pos:self.pos + n])
        self.pos += n
        try:
            return raw.decode("utf-8")  # the GGUF spec makes every string UTF-8
        except UnicodeDecodeError:
            raise EdgekitError(f"{what}: string at offset {self.pos - n} is not valid UTF-8", path=self.path,
                               fix="the file is corrupt") from None

    def value(self, vtype: int, what: str, depth: int = 0):
        if vtype == GGUFValueType.STRING:
            return self.string(what)
        if vtype == GGUFValueType.ARRAY:
            if depth > 4:
                raise EdgekitError(f"{what}: arrays nested too deeply", path=self.path)
            etype = self.scalar("<I", what)
            count = self.scalar("<Q", what)
            if count > MAX_COUNT:
                raise EdgekitError(f"{what}: array of {count} items", path=self.path, fix="the file is corrupt")
            if etype in _NUMPY_SCALARS:
                size = np.dtype(_NUMPY_SCALARS[etype]).itemsize
                self.need(count * size, what)
                arr = np.frombuffer(self.buf, dtype=_NUMPY_SCALARS[etype], count=count, offset=self.pos).copy()
                self.pos += count * size
                return arr
            if etype == GGUFValueType.BOOL:
                self.need(count, what)
                arr = np.frombuffer(self.buf, dtype=np.uint8, count=count, offset=self.pos) != 0
                self.pos += count
                return arr
            if etype in (GGUFValueType.STRING, GGUFValueType.ARRAY):
                # each item takes at least 8 bytes, so a corrupt count fails here instead of looping for ages
                if count * 8 > self.size - self.pos:
                    raise EdgekitError(f"{what}: {count} array items cannot fit in the rest of the file",
                                       path=self.path, fix="the file is truncated or corrupt")
                return [self.value(etype, what, depth + 1) for _ in range(count)]
            raise EdgekitError(f"{what}: unknown array item type {etype}", path=self.path, fix="the file is corrupt")
        try:
            fmt = _SCALARS[GGUFValueType(vtype)]
        except (ValueError, KeyError):
            raise EdgekitError(f"{what}: unknown value type {vtype}", path=self.path,
                               fix="the file is corrupt or from a newer GGUF version") from None
        return self.scalar(fmt, what)


class GGUFFile:
    """Metadata and tensor table of one GGUF file."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            size = os.path.getsize(self.path)
            if size < 24:
                raise EdgekitError(f"file is {size} bytes, too short for a GGUF header", path=self.path,
                                   fix="the file is truncated")
            with open(self.path, "rb") as f:
                self._parse(_Cursor(f, size, self.path), size)
        except OSError as e:
            raise EdgekitError(f"cannot read: {e.strerror or e}", path=self.path) from None

    def _parse(self, cur: _Cursor, size: int) -> None:
        try:
            if cur.buf[:4] != b"GGUF":
                raise EdgekitError("not a GGUF file (bad magic)", path=self.path)
            cur.pos = 4
            self.version = cur.scalar("<I", "the header")
            if self.version not in (2, 3):
                raise EdgekitError(f"GGUF version {self.version} is not supported (2 and 3 are)", path=self.path)
            n_tensors = cur.scalar("<Q", "the header")
            n_kv = cur.scalar("<Q", "the header")
            if n_tensors > MAX_COUNT or n_kv > MAX_COUNT or (n_tensors + n_kv) * 8 > size:
                raise EdgekitError(f"header counts ({n_tensors} tensors, {n_kv} keys) do not fit the file",
                                   path=self.path, fix="the file is corrupt")
            self.metadata: dict[str, object] = {}
            for i in range(n_kv):
                key = cur.string(f"metadata key #{i}")
                vtype = cur.scalar("<I", f"metadata {key!r}")
                self.metadata[key] = cur.value(vtype, f"metadata {key!r}")
            alignment = self.metadata.get("general.alignment", DEFAULT_ALIGNMENT)
            if type(alignment) is not int or alignment <= 0 or alignment & (alignment - 1):
                raise EdgekitError(f"general.alignment {alignment!r} is not a power of two", path=self.path)
            infos = []
            for i in range(n_tensors):
                name = cur.string(f"tensor info #{i}")
                n_dims = cur.scalar("<I", f"tensor {name!r}")
                if not 1 <= n_dims <= MAX_DIMS:
                    raise EdgekitError(f"tensor {name!r} has {n_dims} dimensions", path=self.path,
                                       fix="the file is corrupt")
                dims = tuple(cur.scalar("<Q", f"tensor {name!r}") for _ in range(n_dims))
                ggml_type = cur.scalar("<I", f"tensor {name!r}")
                offset = cur.scalar("<Q", f"tensor {name!r}")
                infos.append((name, dims, ggml_type, offset))
            data_start = -(-cur.pos // alignment) * alignment
            self.tensors: dict[str, GGUFTensorInfo] = {}
            for name, dims, ggml_type, offset in infos:
                if name in self.tensors:
                    raise EdgekitError(f"tensor {name!r} appears twice", path=self.path, fix="the file is corrupt")
                if any(d > 2**40 for d in dims):
                    raise EdgekitError(f"tensor {name!r} has impossible dimensions {dims}", path=self.path)
                nbytes = tensor_nbytes(ggml_type, dims)
                if nbytes is None:
                    raise EdgekitError(f"tensor {name!r}: ggml type {ggml_type} is unknown or does not fit "
                                       f"dimensions {dims}", path=self.path,
                                       fix="the file is corrupt or uses a format edgekit does not read")
                if offset % alignment:
                    raise EdgekitError(f"tensor {name!r} offset {offset} is not {alignment}-byte aligned",
                                       path=self.path, fix="the file is corrupt")
                if data_start + offset + nbytes > size:
                    raise EdgekitError(f"tensor {name!r} ends at byte {data_start + offset + nbytes} of a "
                                       f"{size}-byte file", path=self.path,
                                       fix="the file is truncated; download it again")
                self.tensors[name] = GGUFTensorInfo(name, dims, ggml_type, data_start + offset, nbytes)
        except (struct.error, OverflowError, MemoryError) as e:  # belt and braces: the checks above come first
            raise EdgekitError(f"GGUF header is corrupt ({type(e).__name__})", path=self.path) from None

    def read_bytes(self, name: str) -> np.ndarray:
        """The raw bytes of one tensor (uint8), read from disk now."""
        info = self.tensors[name]
        try:
            with open(self.path, "rb") as f:
                f.seek(info.begin)
                buf = f.read(info.nbytes)
        except OSError as e:
            raise EdgekitError(f"cannot read tensor {name!r}: {e.strerror or e}", path=self.path) from None
        if len(buf) != info.nbytes:
            raise EdgekitError(f"tensor {name!r} is truncated (file changed since it was opened?)", path=self.path)
        return np.frombuffer(buf, dtype=np.uint8)
