"""A streaming, bounds-checked reader of one .safetensors file.

We parse the header ourselves instead of calling `safetensors.safe_open` because (1) bf16 has no numpy
dtype, (2) every byte of a checkpoint is outside input, so each offset, shape and size is checked here and
a bad file becomes an EdgekitError that names the file and the tensor, and (3) a 2B-parameter checkpoint
must never be read whole: `read()` seeks to one tensor and reads exactly its bytes.

Layout (safetensors spec): u64 little-endian N, then N bytes of UTF-8 JSON
{name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}, then the data region;
offsets are relative to the start of the data region.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgekit.errors import EdgekitError

# Bytes per element of every dtype the spec defines; numpy dtype where numpy has one (bf16 is widened).
DTYPE_SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1, "I16": 2, "U16": 2, "F16": 2,
               "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}
NUMPY_DTYPES = {"BOOL": np.bool_, "U8": np.uint8, "I8": np.int8, "I16": np.int16, "U16": np.uint16,
                "F16": np.float16, "BF16": np.uint16, "I32": np.int32, "U32": np.uint32, "F32": np.float32,
                "I64": np.int64, "U64": np.uint64, "F64": np.float64}
FLOAT_DTYPES = ("F32", "F16", "BF16")
MAX_HEADER_BYTES = 100 * 1024 * 1024  # the spec's own limit; a larger length field means a corrupt file


@dataclass(frozen=True)
class TensorEntry:
    name: str
    dtype: str  # safetensors dtype name, e.g. "BF16"
    shape: tuple[int, ...]
    begin: int  # absolute file offset of the first byte
    nbytes: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


def bf16_to_f32(raw: np.ndarray) -> np.ndarray:
    """bf16 bit patterns (uint16) -> float32: bf16 is the top half of a float32, so shift it back."""
    wide = raw.astype(np.uint32)
    wide <<= 16  # in place: no second full-size temporary
    return wide.view(np.float32)


class SafetensorsFile:
    """The header of one .safetensors file; tensors are read one at a time on demand."""

    def __init__(self, path: Path):
        self.path = Path(path)
        try:
            size = os.path.getsize(self.path)
            with open(self.path, "rb") as f:
                head = f.read(8)
                if len(head) < 8:
                    raise EdgekitError(f"file is {size} bytes, too short for a safetensors header",
                                       path=self.path, fix="the file is truncated; download it again")
                header_len = int.from_bytes(head, "little")
                if header_len > MAX_HEADER_BYTES or header_len > size - 8:
                    raise EdgekitError(f"safetensors header length {header_len} exceeds the file "
                                       f"({size} bytes)", path=self.path,
                                       fix="the file is truncated or not a safetensors file")
                header_bytes = f.read(header_len)
        except OSError as e:
            raise EdgekitError(f"cannot read: {e.strerror or e}", path=self.path) from None
        if len(header_bytes) != header_len:
            raise EdgekitError("safetensors header is truncated", path=self.path)
        try:
            header = json.loads(header_bytes.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as e:
            raise EdgekitError(f"safetensors header is not valid JSON ({type(e).__name__})", path=self.path,
                               fix="the file is corrupt; download it again") from None
        if not isinstance(header, dict):
            raise EdgekitError("safetensors header is not a JSON object", path=self.path)
        data_start = 8 + header_len
        data_size = size - data_start
        self.metadata = header.pop("__metadata__", None)
        self.entries: dict[str, TensorEntry] = {}
        for name, info in header.items():
            self.entries[name] = self._parse_entry(name, info, data_start, data_size)

    def _parse_entry(self, name: str, info: object, data_start: int, data_size: int) -> TensorEntry:
        def bad(problem: str) -> EdgekitError:
            return EdgekitError(f"tensor {name!r}: {problem}", path=self.path,
                                fix="the file is corrupt or truncated; download it again")

        if not isinstance(info, dict):
            raise bad("header entry is not an object")
        dtype, shape, offsets = info.get("dtype"), info.get("shape"), info.get("data_offsets")
        if not isinstance(dtype, str) or dtype not in DTYPE_SIZES:
            raise bad(f"unknown dtype {dtype!r}")
        if not isinstance(shape, list) or not all(type(d) is int and 0 <= d < 2**40 for d in shape):
            raise bad(f"invalid shape {shape!r}")
        if (not isinstance(offsets, list) or len(offsets) != 2
                or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1]):
            raise bad(f"invalid data_offsets {offsets!r}")
        nbytes = offsets[1] - offsets[0]
        expected = math.prod(shape) * DTYPE_SIZES[dtype]
        if nbytes != expected:
            raise bad(f"holds {nbytes} bytes but {dtype}{tuple(shape)} needs {expected}")
        if offsets[1] > data_size:
            raise bad(f"data ends at byte {offsets[1]} of a {data_size}-byte data region")
        return TensorEntry(name, dtype, tuple(shape), data_start + offsets[0], nbytes)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def read_raw(self, name: str, rows: tuple[int, int] | None = None) -> np.ndarray:
        """The tensor's elements as stored (bf16 as uint16 bit patterns), shaped; read from disk now.
        rows=(start, stop) reads only those rows of the first dimension."""
        entry = self.entries[name]
        if entry.dtype not in NUMPY_DTYPES:
            raise EdgekitError(f"tensor {name!r} has dtype {entry.dtype}, which edgekit does not read",
                               path=self.path)
        shape = tuple(entry.shape)
        begin, nbytes = entry.begin, entry.nbytes
        if rows is not None:
            start, stop = rows
            if not shape or not 0 <= start <= stop <= shape[0]:
                raise EdgekitError(f"rows {start}..{stop} are outside tensor {name!r} of shape {shape}",
                                   path=self.path)
            row_bytes = nbytes // shape[0] if shape[0] else 0  # a (0, N) tensor has no rows to read
            begin, nbytes, shape = begin + start * row_bytes, (stop - start) * row_bytes, (stop - start, *shape[1:])
        try:
            with open(self.path, "rb") as f:
                f.seek(begin)
                buf = f.read(nbytes)
        except OSError as e:
            raise EdgekitError(f"cannot read tensor {name!r}: {e.strerror or e}", path=self.path) from None
        if len(buf) != nbytes:
            raise EdgekitError(f"tensor {name!r} is truncated (file changed since it was opened?)",
                               path=self.path)
        return np.frombuffer(buf, dtype=np.dtype(NUMPY_DTYPES[entry.dtype]).newbyteorder("<")).reshape(shape)

    def read_float32(self, name: str, rows: tuple[int, int] | None = None) -> np.ndarray:
        """A float tensor (F32/F16/BF16) widened to float32 (optionally only rows (start, stop))."""
        entry = self.entries[name]
        if entry.dtype not in FLOAT_DTYPES:
            raise EdgekitError(f"tensor {name!r} has dtype {entry.dtype}, expected one of "
                               f"{', '.join(FLOAT_DTYPES)}", path=self.path)
        raw = self.read_raw(name, rows)
        if entry.dtype == "BF16":
            return bf16_to_f32(raw)
        return raw.astype(np.float32)
