"""Storage formats: one table row per format, read by the packer, the planner, `inspect` and the C
generator (firmware/runtime/ek_spec.h is generated from these rows, packed-size geometry included; see
edgekit/gen/spec_header.py).

Ternary formats hold codes in {-1, 0, +1} of a (rows, cols) matrix, row-major, each row padded to the
format's block geometry with zero weights (so padded activations never matter):

  i2    2 bits/weight. Per row, blocks of 128 weights in 32 bytes; byte j of a block holds weights
        j, j+32, j+64, j+96 (code = w + 1) at bits 7..6, 5..4, 3..2, 1..0. A SIMD unpack of 32 bytes is
        four shift+mask steps, each yielding 32 consecutive weights (the I2_S idea).
  t158  5 trits per byte, 1.6 bits/weight. Per row, blocks of 80 weights in 16 bytes: byte j holds
        weights j, j+16, j+32, j+48, j+64 as base-3 digits (most significant first) of v in 0..242,
        stored as q = ceil(v * 256 / 243). Digit k decodes as ((q * 3^k) mod 256) * 3 >> 8: a multiply
        and a shift, no division (the TQ1_0 idea). The row's last cols % 80 weights go 5 per byte.
  tl    2 bits/weight in a lookup layout. Rows in tiles of 16; per tile and per pair of columns g,
        8 bytes: byte i holds the pair's index (w0+1)*3 + (w1+1) in 0..8 for row 2i (low nibble) and
        row 2i+1 (high nibble). A kernel builds, per pair, the 9 possible sums of two activations once,
        then every row only looks up and adds: no multiplications (the T-MAC / TL1 idea).

Float formats hold embeddings, norms and the lm_head:
  f32   little-endian float32.
  f16   IEEE half (flash-size choice; measured in `edgekit plan`).
  bf16  bfloat16: the top 16 bits of the float32 (decode: a 16-bit shift). Exact for bf16 checkpoints.
  q8row per row: float32 scale (max|row| / 127) for every row first, then int8 values, value = q * scale.
  q8i   q8row's bytes, read by an integer lm_head: the normed activation vector is quantised to int8 exactly as
        a BitLinear's input (per-tensor absmax, s_x), each row's int8 x int8 dot is summed exactly in int32, and
        logit[r] = ((float)acc[r] * scale[r]) / s_x in float32 (docs/design.md §2). Lossy like q8row (and its
        activations are rounded too), never chosen by the planner on its own: the fast head on request.
        The int32 sum is exact while cols * 127 * 128 < 2^31: Q8I_MAX_COLS.
  q4i   4.25 bits/value, read by the same integer lm_head. Per row a float32 scale d (all rows' scales first, as
        q8row), then the row: cols / 32 block scales s_b (uint8), then cols / 2 bytes of 4-bit codes. Block b's
        byte i holds column 32b + i (low nibble) and 32b + i + 16 (high nibble) as n = q + 8, q in -8..7;
        value = d * (float)(s_b * q). The head sums acc = sum_b s_b * sum_i q_i * x_q[i] exactly in int32
        (cols <= Q4I_MAX_COLS) and logit = ((float)acc * d) / s_x, q8i's rounding. cols must be a multiple of 32.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from edgekit.errors import EdgekitError


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Geometry:
    """The byte size of a (rows, cols) tensor in a format, as numbers the C side computes with too
    (ek_format_packed_size reads them from the generated ek_spec.h):

        ceil(rows / row_group) * ((cols // block_cols) * block_bytes + ceil((cols % block_cols) / tail_cols)
        * tail_bytes) + rows * row_prefix_bytes

    align: the alignment the kernels read a payload with (image sections are aligned to a multiple of it)."""
    block_cols: int
    block_bytes: int
    tail_cols: int
    tail_bytes: int
    row_group: int = 1
    row_prefix_bytes: int = 0
    align: int = 1

    def size(self, rows: int, cols: int) -> int:
        whole, tail = divmod(cols, self.block_cols)
        group_bytes = whole * self.block_bytes + _ceil_div(tail, self.tail_cols) * self.tail_bytes
        return _ceil_div(rows, self.row_group) * group_bytes + rows * self.row_prefix_bytes


# --- i2 -------------------------------------------------------------------------------------------
I2_BLOCK = 128
I2_GEOMETRY = Geometry(I2_BLOCK, I2_BLOCK // 4, I2_BLOCK, I2_BLOCK // 4, align=4)  # DSP body: word loads


def _i2_size(rows: int, cols: int) -> int:
    return I2_GEOMETRY.size(rows, cols)


def _i2_pack(codes: np.ndarray) -> np.ndarray:
    rows, cols = codes.shape
    nb = _ceil_div(cols, I2_BLOCK)
    padded = np.ones((rows, nb * I2_BLOCK), dtype=np.uint8)  # code 1 == weight 0
    padded[:, :cols] = (codes + 1).astype(np.uint8)
    c = padded.reshape(rows, nb, 4, 32)
    out = (c[:, :, 0] << 6) | (c[:, :, 1] << 4) | (c[:, :, 2] << 2) | c[:, :, 3]
    return out.reshape(-1)


def _i2_unpack(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    nb = _ceil_div(cols, I2_BLOCK)
    b = buf[: _i2_size(rows, cols)].reshape(rows, nb, 1, 32)
    shifts = np.array([6, 4, 2, 0], dtype=np.uint8).reshape(1, 1, 4, 1)
    c = (b >> shifts) & 3
    return (c.reshape(rows, nb * I2_BLOCK)[:, :cols].astype(np.int8) - 1)


# --- t158 -----------------------------------------------------------------------------------------
T158_BLOCK = 80  # weights per 16-byte block
T158_POW3 = np.array([1, 3, 9, 27, 81], dtype=np.uint16)
T158_GEOMETRY = Geometry(T158_BLOCK, 16, 5, 1)  # the row tail: 5 weights per byte


def _t158_row_bytes(cols: int) -> int:
    return T158_GEOMETRY.size(1, cols)


def _t158_size(rows: int, cols: int) -> int:
    return T158_GEOMETRY.size(rows, cols)


def _t158_encode(trits: np.ndarray) -> np.ndarray:
    """trits (..., 5) in 0..2, most significant first -> q bytes."""
    v = (trits.astype(np.uint32) * np.array([81, 27, 9, 3, 1], dtype=np.uint32)).sum(axis=-1)
    return ((v * 256 + 242) // 243).astype(np.uint8)


def _t158_decode(q: np.ndarray) -> np.ndarray:
    """q bytes (...) -> trits (..., 5) in 0..2."""
    x = (q[..., None].astype(np.uint16) * T158_POW3) & 0xFF
    return ((x * 3) >> 8).astype(np.int8)


def _t158_pack(codes: np.ndarray) -> np.ndarray:
    rows, cols = codes.shape
    nb, tail = divmod(cols, T158_BLOCK)
    t = (codes + 1).astype(np.uint8)
    main = t[:, : nb * T158_BLOCK].reshape(rows, nb, 5, 16).transpose(0, 1, 3, 2)  # (rows, nb, j, k)
    parts = [_t158_encode(main).reshape(rows, nb * 16)]
    if tail:
        tb = _ceil_div(tail, 5)
        tt = np.ones((rows, tb * 5), dtype=np.uint8)
        tt[:, :tail] = t[:, nb * T158_BLOCK:]
        parts.append(_t158_encode(tt.reshape(rows, tb, 5)))
    return np.concatenate(parts, axis=1).reshape(-1)


def _t158_unpack(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    nb, tail = divmod(cols, T158_BLOCK)
    rb = _t158_row_bytes(cols)
    b = buf[: rows * rb].reshape(rows, rb)
    out = np.empty((rows, cols), dtype=np.int8)
    main = _t158_decode(b[:, : nb * 16].reshape(rows, nb, 16))  # (rows, nb, j, k)
    out[:, : nb * T158_BLOCK] = main.transpose(0, 1, 3, 2).reshape(rows, nb * T158_BLOCK)
    if tail:
        tt = _t158_decode(b[:, nb * 16:])  # (rows, tb, 5)
        out[:, nb * T158_BLOCK:] = tt.reshape(rows, -1)[:, :tail]
    return out - 1


# --- tl -------------------------------------------------------------------------------------------
TL_TILE_ROWS = 16
TL_GEOMETRY = Geometry(2, TL_TILE_ROWS // 2, 2, TL_TILE_ROWS // 2, row_group=TL_TILE_ROWS)  # per tile and pair


def _tl_size(rows: int, cols: int) -> int:
    return TL_GEOMETRY.size(rows, cols)


def _tl_pack(codes: np.ndarray) -> np.ndarray:
    rows, cols = codes.shape
    nt, ng = _ceil_div(rows, TL_TILE_ROWS), _ceil_div(cols, 2)
    t = np.ones((nt * TL_TILE_ROWS, ng * 2), dtype=np.uint8)
    t[:rows, :cols] = (codes + 1).astype(np.uint8)
    idx = t[:, 0::2] * 3 + t[:, 1::2]  # (rows_p, ng) in 0..8
    idx = idx.reshape(nt, TL_TILE_ROWS // 2, 2, ng)  # (tile, i, row parity, g)
    byte = idx[:, :, 0, :] | (idx[:, :, 1, :] << 4)  # (tile, i, g)
    return byte.transpose(0, 2, 1).reshape(-1)  # (tile, g, i)


def _tl_unpack(buf: np.ndarray, rows: int, cols: int) -> np.ndarray:
    nt, ng = _ceil_div(rows, TL_TILE_ROWS), _ceil_div(cols, 2)
    b = buf[: _tl_size(rows, cols)].reshape(nt, ng, TL_TILE_ROWS // 2).transpose(0, 2, 1)  # (tile, i, g)
    idx = np.stack([b & 0xF, b >> 4], axis=2).reshape(nt * TL_TILE_ROWS, ng)
    if idx.max(initial=0) > 8:
        raise EdgekitError("tl data holds a pair index above 8; the section is corrupt")
    w = np.empty((nt * TL_TILE_ROWS, ng * 2), dtype=np.int8)
    w[:, 0::2] = idx // 3
    w[:, 1::2] = idx % 3
    return w[:rows, :cols] - 1


@dataclass(frozen=True)
class TernaryFormat:
    name: str
    code: int  # stored in the image's section table; the C side switches on it
    bits_per_weight: float  # nominal, before row padding
    block: str  # block geometry, for humans
    geometry: Geometry
    pack_fn: Callable[[np.ndarray], np.ndarray]
    unpack_fn: Callable[[np.ndarray, int, int], np.ndarray]
    kernels: tuple[str, ...]  # C kernel variants that read it
    summary: str

    def packed_size(self, rows: int, cols: int) -> int:
        return self.geometry.size(rows, cols)

    def pack(self, codes: np.ndarray) -> bytes:
        codes = np.asarray(codes)
        if codes.ndim != 2:
            raise EdgekitError(f"{self.name}: expected a 2-D ternary matrix, got shape {codes.shape}")
        if codes.size and (codes.min() < -1 or codes.max() > 1):
            raise EdgekitError(f"{self.name}: values outside {{-1, 0, +1}}")
        out = self.pack_fn(codes.astype(np.int8, copy=False)).tobytes()
        assert len(out) == self.packed_size(*codes.shape)
        return out

    def unpack(self, data: bytes | np.ndarray, rows: int, cols: int) -> np.ndarray:
        buf = np.frombuffer(data, dtype=np.uint8) if not isinstance(data, np.ndarray) else data
        need = self.packed_size(rows, cols)
        if buf.size < need:
            raise EdgekitError(f"{self.name}: {buf.size} bytes for a {rows}x{cols} matrix, need {need}")
        return self.unpack_fn(buf, rows, cols)


TERNARY_FORMATS: dict[str, TernaryFormat] = {f.name: f for f in (
    TernaryFormat("i2", 1, 2.0, "128 weights / 32 B per row block", I2_GEOMETRY, _i2_pack, _i2_unpack,
                  ("c", "neon", "mve", "dsp", "avx2", "avx512", "avx512vnni"), "decode speed first (shift + mask)"),
    TernaryFormat("t158", 2, 1.6, "80 weights / 16 B per row block, tail 5 per byte", T158_GEOMETRY,
                  _t158_pack, _t158_unpack, ("c", "neon", "mve", "dsp", "avx2"),
                  "flash size first (base-3, multiply + shift)"),
    TernaryFormat("tl", 3, 2.0, "16-row tiles x column pairs, 4-bit pair index", TL_GEOMETRY, _tl_pack,
                  _tl_unpack, ("c", "neon", "mve", "avx2"), "multiplication-free lookup kernels"),
)}


# --- float formats --------------------------------------------------------------------------------
def _q8row_pack(arr: np.ndarray) -> bytes:
    a = np.asarray(arr, dtype=np.float32).reshape(arr.shape[0], -1)
    amax = np.max(np.abs(a), axis=1)
    scale = np.where(amax > 0, amax / np.float32(127.0), np.float32(1.0)).astype(np.float32)
    q = np.clip(np.rint(a / scale[:, None]), -127, 127).astype(np.int8)
    return scale.astype("<f4").tobytes() + q.tobytes()


def _q8row_unpack(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    rows = shape[0]
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    scale = np.frombuffer(data, dtype="<f4", count=rows)
    q = np.frombuffer(data, dtype=np.int8, count=rows * cols, offset=rows * 4).reshape(rows, cols)
    return (q.astype(np.float32) * scale[:, None]).reshape(shape)


# The largest row length whose int8 x int8 sum fits an int32 (|w| <= 127, |x_q| <= 128): 2^17 * 16256 < 2^31.
Q8I_MAX_COLS = 1 << 17


# q4i: 32 columns per block; |sum_i q_i x_i| <= 32 * 8 * 128 per block, times s_b <= 255, for cols / 32 blocks:
# 8192 columns keep the whole sum under 2^31 (256 * 32768 * 255 = 2,139,095,040).
Q4I_BLOCK = 32
Q4I_MAX_COLS = 8192
Q4I_GEOMETRY = Geometry(Q4I_BLOCK, Q4I_BLOCK // 2 + 1, Q4I_BLOCK, Q4I_BLOCK // 2 + 1, row_prefix_bytes=4, align=4)

# The integer-head formats and the longest row each sums exactly in int32 (the packer, the reference and the
# firmware refuse longer ones).
INTEGER_HEAD_MAX_COLS = {"q8i": Q8I_MAX_COLS, "q4i": Q4I_MAX_COLS}


def _q4i_check_cols(cols: int) -> None:
    if cols % Q4I_BLOCK:
        raise EdgekitError(f"q4i stores rows of whole {Q4I_BLOCK}-value blocks; these rows hold {cols:,} values",
                           fix="choose q8i, q8row, bf16, f16 or f32 for this tensor")


# Where a block's largest value lands, in code steps: each block keeps the candidate with the least squared error
# (7 alone rounds every block's extremes exactly; searching these cuts the bundled embedding's RMS error by 9 %).
Q4I_STEP_CANDIDATES = (6.5, 7.0, 7.5, 8.0)


def _q4i_pack(arr: np.ndarray) -> bytes:
    a = np.asarray(arr, dtype=np.float32).reshape(arr.shape[0], -1)
    rows, cols = a.shape
    _q4i_check_cols(cols)
    blocks = a.reshape(rows, cols // Q4I_BLOCK, Q4I_BLOCK)
    amax_block = np.max(np.abs(blocks), axis=2)
    amax_row = np.max(amax_block, axis=1) if cols else np.zeros(rows, np.float32)
    # d is one 255th of the step that maps the row's largest value to code 7; each block then takes a multiple
    # of d as its step, so a block of small values keeps its resolution.
    d = np.where(amax_row > 0, amax_row / np.float32(7 * 255), np.float32(1.0)).astype(np.float32)
    best = None
    for top in Q4I_STEP_CANDIDATES:
        s = np.rint(amax_block / (np.float32(top) * d[:, None]))
        s = np.where(amax_block > 0, np.clip(s, 1, 255), 0).astype(np.uint8)
        step = (d[:, None] * s.astype(np.float32)).astype(np.float32)[:, :, None]
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.where(step > 0, np.clip(np.rint(blocks / step), -8, 7), 0).astype(np.int8)
        err = np.sum(np.square(q * step.astype(np.float64) - blocks), axis=2)  # float64: no overflow near FLT_MAX
        if best is None:
            best = [s, q, err]
        else:
            better = err < best[2]
            best = [np.where(better, s, best[0]), np.where(better[:, :, None], q, best[1]),
                    np.minimum(err, best[2])]
    s, q = best[0].astype(np.uint8), best[1]
    n = (q + 8).astype(np.uint8)
    nibbles = n[:, :, :16] | (n[:, :, 16:] << 4)
    body = np.concatenate([s, nibbles.reshape(rows, -1)], axis=1)
    return d.astype("<f4").tobytes() + body.tobytes()


def q4i_parts(data: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The stored parts of a q4i tensor: (row scales d float32 (rows,), s_b * q as int16 (rows, cols)), the
    integers the head multiplies the int8 activations by."""
    rows = shape[0]
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    _q4i_check_cols(cols)
    nb = cols // Q4I_BLOCK
    d = np.frombuffer(data, dtype="<f4", count=rows).astype(np.float32)
    body = np.frombuffer(data, dtype=np.uint8, count=rows * nb * (Q4I_BLOCK // 2 + 1), offset=rows * 4)
    body = body.reshape(rows, nb * (Q4I_BLOCK // 2 + 1))
    s = body[:, :nb].astype(np.int16)
    packed = body[:, nb:].reshape(rows, nb, Q4I_BLOCK // 2)
    q = np.concatenate([packed & 0xF, packed >> 4], axis=2).astype(np.int16) - 8
    return d, (q * s[:, :, None]).reshape(rows, cols)


def _q4i_unpack(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    d, e = q4i_parts(data, shape)
    return (e.astype(np.float32) * d[:, None]).astype(np.float32).reshape(shape)


def q8_rows(data: bytes, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The stored parts of a q8row/q8i tensor: (scales float32 (rows,), q int8 (rows, cols))."""
    rows = shape[0]
    cols = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    scale = np.frombuffer(data, dtype="<f4", count=rows).astype(np.float32)
    q = np.frombuffer(data, dtype=np.int8, count=rows * cols, offset=rows * 4).reshape(rows, cols)
    return scale, q


def _bf16_pack(arr: np.ndarray) -> bytes:
    """float32 -> bfloat16, rounding to nearest even (exact, so lossless, for values that are bf16 already).
    NaN stays a quiet NaN with its sign; rounding never turns a NaN into an infinity."""
    bits = np.ascontiguousarray(arr, dtype="<f4").view("<u4").astype(np.uint64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    nan = (bits & 0x7FFFFFFF) > 0x7F800000
    out = np.where(nan, (bits >> 16) | 0x40, rounded).astype("<u2")
    return out.tobytes()


def _bf16_unpack(data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    half = np.frombuffer(data, dtype="<u2").astype(np.uint32) << 16  # the decode every C body does
    return half.astype("<u4").view("<f4").astype(np.float32).reshape(shape)


def bf16_exact(arr: np.ndarray) -> bool:
    """True when every value is a bfloat16 already (its low 16 float32 bits are zero): bf16 stores it exactly."""
    bits = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32)
    return bool(np.all((bits & 0xFFFF) == 0))


def f16_exact(arr: np.ndarray) -> bool:
    """True when every value survives float32 -> IEEE half -> float32 unchanged (NaN payloads aside)."""
    a = np.ascontiguousarray(arr, dtype=np.float32)
    with np.errstate(over="ignore"):
        back = a.astype(np.float16).astype(np.float32)
    return bool(np.all((back.view(np.uint32) == a.view(np.uint32)) | (np.isnan(a) & np.isnan(back))))


# Lossless candidates, smallest first; between the two 16-bit ones bf16 first (its decode is a shift).
LOSSLESS_PREFERENCE = ("bf16", "f16", "f32")
_EXACT = {"bf16": bf16_exact, "f16": f16_exact, "f32": lambda a: True}


def exact_float_formats(chunks) -> tuple[str, ...]:
    """The float formats (LOSSLESS_PREFERENCE order) that store every value of the float32 row blocks in `chunks`
    exactly, checked value by value; chunk by chunk, so a 128k x 2560 embedding is never whole in memory."""
    left = list(LOSSLESS_PREFERENCE)
    for chunk in chunks:
        left = [name for name in left if _EXACT[name](chunk)]
    return tuple(left)


def lossless_float_format(arr: np.ndarray) -> str:
    """The smallest float format that stores every value of `arr` exactly: bf16, f16, or f32."""
    return exact_float_formats([arr])[0]


@dataclass(frozen=True)
class FloatFormat:
    name: str
    code: int
    bits_per_value: float
    geometry: Geometry  # rows = shape[0], cols = the product of the other dimensions (1 for a vector)
    pack_fn: Callable[[np.ndarray], bytes]
    unpack_fn: Callable[[bytes, tuple[int, ...]], np.ndarray]
    summary: str

    def packed_size(self, shape: tuple[int, ...]) -> int:
        shape = tuple(shape)
        rows = shape[0] if shape else 1
        return self.geometry.size(rows, _numel(shape[1:]))

    def pack(self, arr: np.ndarray) -> bytes:
        return self.pack_fn(np.asarray(arr, dtype=np.float32))

    def pack_chunks(self, arr: np.ndarray, rows_per_chunk: int = 4096):
        """The packed bytes of `arr` in row chunks (see pack_stream)."""
        arr = np.asarray(arr)
        rows = arr.shape[0] if arr.ndim else 1
        return self.pack_stream(arr[r:r + rows_per_chunk] for r in range(0, max(rows, 1), rows_per_chunk))

    def pack_stream(self, chunks):
        """Pack an iterable of float32 row blocks, yielding bytes as they are ready. q8row keeps the int8 rows
        (a quarter of the float32 size) until all scales, which come first in the layout, are out."""
        if self.name not in SCALES_FIRST:
            for chunk in chunks:
                yield self.pack_fn(np.asarray(chunk, dtype=np.float32))
            return
        scales, values = [], []
        for chunk in chunks:
            chunk = np.asarray(chunk, dtype=np.float32)
            n = chunk.shape[0] if chunk.ndim else 1
            packed = self.pack_fn(chunk)
            scales.append(packed[: 4 * n])
            values.append(packed[4 * n:])
        yield from scales
        yield from values

    def unpack(self, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
        need = self.packed_size(shape)
        if len(data) < need:
            raise EdgekitError(f"{self.name}: {len(data)} bytes for shape {shape}, need {need}")
        return self.unpack_fn(bytes(data[:need]), tuple(shape))


SCALES_FIRST = ("q8row", "q8i", "q4i")  # formats whose row scales all come before the rows


def _numel(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape)) if shape else 1


FLOAT_FORMATS: dict[str, FloatFormat] = {f.name: f for f in (
    FloatFormat("f32", 16, 32, Geometry(1, 4, 1, 4, align=4), lambda a: a.astype("<f4").tobytes(),
                lambda d, s: np.frombuffer(d, dtype="<f4").reshape(s).copy(), "exact"),
    FloatFormat("f16", 17, 16, Geometry(1, 2, 1, 2, align=2), lambda a: a.astype("<f2").tobytes(),
                lambda d, s: np.frombuffer(d, dtype="<f2").astype(np.float32).reshape(s), "half the bytes"),
    FloatFormat("q8row", 18, 8, Geometry(1, 1, 1, 1, row_prefix_bytes=4, align=4), _q8row_pack, _q8row_unpack,
                "int8 per row + fp32 row scale; a quarter of the bytes"),
    FloatFormat("bf16", 19, 16, Geometry(1, 2, 1, 2, align=2), _bf16_pack, _bf16_unpack,
                "top half of float32; half the bytes, exact for bf16 checkpoints"),
    FloatFormat("q8i", 20, 8, Geometry(1, 1, 1, 1, row_prefix_bytes=4, align=4), _q8row_pack, _q8row_unpack,
                "q8row bytes; integer lm_head (int8 activations, int32 sums): the fast head, lossy"),
    FloatFormat("q4i", 21, 4.25, Q4I_GEOMETRY, _q4i_pack, _q4i_unpack,
                "4-bit codes, uint8 scale per 32 + fp32 row scale; integer lm_head: the smallest head, lossy"),
)}

FORMAT_BY_CODE: dict[int, TernaryFormat | FloatFormat] = {
    **{f.code: f for f in TERNARY_FORMATS.values()}, **{f.code: f for f in FLOAT_FORMATS.values()}}


def ternary_format(name: str) -> TernaryFormat:
    try:
        return TERNARY_FORMATS[name]
    except KeyError:
        raise EdgekitError(f"unknown ternary format {name!r}",
                           fix=f"choose one of {', '.join(TERNARY_FORMATS)}") from None


def float_format(name: str) -> FloatFormat:
    try:
        return FLOAT_FORMATS[name]
    except KeyError:
        raise EdgekitError(f"unknown float format {name!r}",
                           fix=f"choose one of {', '.join(FLOAT_FORMATS)}") from None
