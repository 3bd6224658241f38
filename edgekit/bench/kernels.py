"""Kernel benchmark: ternary matvec throughput per format and kernel body at the bitnet-b1.58-2B-4T shapes.

The kernel family sets come from what this CPU has, as the host board's build chooses them
(edgekit.gen.project.kernel_families): "c" (the portable bodies), then each native family added in turn
(e.g. "c;avx2" on x86-64 with AVX2, "c;neon;dotprod" on AArch64 with dot product; "c;avx2;avx512" only on a CPU with
AVX-512, whose bodies the firmware picks at run time). Each set is built once
into the bench work directory with the project's own CMake (EK_PORT=none, Release). Per format and shape:

1. `ek_eval matvec` of that build checks the dispatched body against the portable one and writes the
   accumulators, which must equal numpy's exact integer product (a wrong kernel is never timed);
2. the same build's kernel objects, linked into a shared library, are called through ctypes: the timed
   call is `ek_ternary_matvec`, the entry point the runtime uses, on one thread. ek_eval has no timing loop,
   and timing its whole process would measure file I/O and the portable reference it always runs.

The lm_head is timed too, at the 2B-4T head's shape (128,256 x 2,560) and from DRAM (a head is read once per
token): each head format's entry point the runtime calls (ek_float_matvec for bf16 and q8row, ek_head_q8i and
ek_head_q4i for the integer heads) on random weights, and every body's logits must equal the portable body's bit
for bit before its time counts.

Two placements are timed: "cache" calls the kernel on one weight matrix again and again (it stays in the
caches: the kernel's compute speed), "dram" cycles through enough copies of it to fill 4x the last-level cache
(every call streams its weights from memory, as decode does). Each case: one warm-up call, then RUNS timed
runs reported as min / median / max weights per second (rows x cols / seconds per call, in G) and, for
"dram", the packed weight bytes read per second. Emulated CPUs (qemu-aarch64) are not timed here: their
speed says nothing about silicon.
"""
from __future__ import annotations

import ctypes
import hashlib
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np

from edgekit.bench.machine import cache_bytes
from edgekit.bench.stats import summary
from edgekit.errors import EdgekitError
from edgekit.pack.formats import FLOAT_FORMATS, TERNARY_FORMATS

FIRMWARE = Path(__file__).resolve().parents[1].parent / "firmware"
KERNEL_FORMATS = ("i2", "t158", "tl")
# (rows, cols) of the 2B-4T ternary layers: q/o (2560x2560), gate/up (6912x2560), down (2560x6912)
TWO_B_SHAPES = ((2560, 2560), (6912, 2560), (2560, 6912))
# the 2B-4T lm_head (tied embedding: vocab x hidden) and the head formats timed at it
TWO_B_HEAD = (128256, 2560)
HEAD_FORMATS = ("bf16", "q8row", "q8i", "q4i")
INTEGER_HEAD_ENTRY = {"q8i": "ek_head_q8i", "q4i": "ek_head_q4i"}  # the rest: ek_float_matvec
RUNS = 7  # timed runs per case, after one warm-up call
MIN_RUN_S = 0.05  # each run repeats the call until it lasts this long (ctypes call overhead is ~1 us)
PLACEMENTS = ("cache", "dram")
DRAM_FOOTPRINT_OVER_LLC = 4  # "dram": the copies together are this many times the last-level cache


class _Tensor(ctypes.Structure):  # ek_tensor (firmware/kernels/ek_kernels.h)
    _fields_ = [("data", ctypes.c_void_p), ("rows", ctypes.c_uint32), ("cols", ctypes.c_uint32),
                ("format", ctypes.c_uint32), ("scale", ctypes.c_float)]


class _QVec(ctypes.Structure):  # ek_qvec
    _fields_ = [("q", ctypes.c_void_p), ("n", ctypes.c_uint32), ("scale", ctypes.c_float),
                ("tl_lut", ctypes.c_void_p)]


def native_kernel_sets() -> list[tuple[str, str]]:
    """(EK_KERNELS value, body name) pairs this machine runs natively: the portable set first, then each
    family the host board's build would use on this CPU, added in turn. A family chosen at run time (avx512) is
    timed only where this CPU has it, under the name of the tier it runs (avx512 or avx512vnni)."""
    from edgekit.boards import load_board
    from edgekit.gen.project import RUNTIME_TIERS, kernel_families, native_features

    families = kernel_families(load_board("host"))
    cpu = native_features()
    sets = []
    for i, family in enumerate(families):
        body = family
        if family in RUNTIME_TIERS:
            tiers = [tier for tier in RUNTIME_TIERS[family] if tier in cpu]
            if not tiers:
                continue
            body = tiers[-1]
        sets.append((";".join(families[: i + 1]), body))
    return sets


def _run(cmd: list[str], what: str) -> None:
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise EdgekitError(f"{what} failed: {' '.join(cmd)}\n{r.stdout[-2000:]}{r.stderr[-2000:]}")


def build_kernels(work: Path, kernels: str, log) -> tuple[Path, Path]:
    """Build the firmware (runtime + ek_eval) for one kernel family set, once; returns (ek_eval, kernel .so)."""
    if shutil.which("cmake") is None:
        raise EdgekitError("the kernel benchmark needs cmake", fix="install cmake (and ninja) and rerun")
    build = work / f"kernels-{kernels.replace(';', '+')}-{_firmware_key()}"  # a firmware change rebuilds
    lib = build / "libek_kernels.so"
    if not lib.is_file():
        log(f"building the kernels with EK_KERNELS={kernels} into {build}")
        gen = ["-G", "Ninja"] if shutil.which("ninja") else []
        # position-independent objects so the same kernel objects also link into the timing library
        _run(["cmake", "-S", str(FIRMWARE), "-B", str(build), *gen, "-DEK_PORT=none", "-DCMAKE_BUILD_TYPE=Release",
              "-DEK_BUILD_EVAL=ON", f"-DEK_KERNELS={kernels}", "-DCMAKE_POSITION_INDEPENDENT_CODE=ON"], "configure")
        _run(["cmake", "--build", str(build), "-j2"], "build")
        objects = sorted((build / "CMakeFiles" / "ek_runtime.dir" / "kernels").glob("*.o"))
        if not objects:
            raise EdgekitError(f"no kernel objects under {build}/CMakeFiles/ek_runtime.dir/kernels")
        tmp = lib.with_suffix(".so.tmp")
        _run([_c_compiler(build), "-shared", "-o", str(tmp), *map(str, objects), "-lm", "-Wl,--no-undefined",
              "-Wl,-Bsymbolic"],  # calls inside the library stay inside it (two builds are loaded at once)
             "linking the kernel library")
        tmp.replace(lib)
    return build / "ek_eval", lib


def _firmware_key() -> str:
    """A short hash of the firmware sources (as edgekit's build cache keys them), so a scratch build of older
    kernels is never timed as the current ones."""
    from edgekit.link.run import tree_fingerprint

    h = hashlib.sha256()
    tree_fingerprint(h, FIRMWARE)
    return h.hexdigest()[:12]


def _c_compiler(build: Path) -> str:
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith("CMAKE_C_COMPILER:"):
            return line.split("=", 1)[1]
    return "cc"


def _case(fmt: str, rows: int, cols: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(-1, 2, size=(rows, cols), dtype=np.int8)
    x = rng.integers(-128, 128, size=cols, dtype=np.int8)
    return codes, x, TERNARY_FORMATS[fmt].pack(codes)


def check_with_eval(ek_eval: Path, fmt: str, codes: np.ndarray, x: np.ndarray, packed: bytes, tmp: Path) -> None:
    """`ek_eval matvec`: the dispatched body equals the portable one, and both equal numpy's integer product."""
    rows, cols = codes.shape
    w_path, x_path, out = tmp / "w.bin", tmp / "x.bin", tmp / "acc.bin"
    w_path.write_bytes(packed)
    x_path.write_bytes(x.tobytes())
    r = subprocess.run([str(ek_eval), "matvec", fmt, str(rows), str(cols), str(w_path), str(x_path), str(out)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise EdgekitError(f"ek_eval matvec {fmt} {rows}x{cols}: a kernel body disagrees\n{r.stdout}{r.stderr}")
    want = codes.astype(np.int32) @ x.astype(np.int32)
    if not np.array_equal(np.fromfile(out, dtype="<i4"), want):
        raise EdgekitError(f"ek_eval matvec {fmt} {rows}x{cols}: accumulators differ from numpy")
    for p in (w_path, x_path, out):
        p.unlink()


def dram_copies(packed_bytes: int) -> int:
    """Copies of one weight matrix that together overflow the last-level cache DRAM_FOOTPRINT_OVER_LLC times."""
    llc = cache_bytes(3) or cache_bytes(2) or 32 << 20
    return max(2, -(-DRAM_FOOTPRINT_OVER_LLC * llc // packed_bytes))


def time_matvec(lib: ctypes.CDLL, fmt: str, codes: np.ndarray, x: np.ndarray, packed: bytes,
                copies: int = 1, runs: int = RUNS) -> list[float]:
    """Seconds per ek_ternary_matvec call (one thread), one sample per timed run. copies > 1: the calls cycle
    through that many copies of the weights, so each call reads them from memory, not from the caches."""
    rows, cols = codes.shape
    weights = [np.frombuffer(packed, dtype=np.uint8).copy() for _ in range(copies)]
    xq = np.zeros(-(-cols // 128) * 128, dtype=np.int8)  # EK_XQ_PAD(cols)
    xq[:cols] = x
    lut = np.zeros((cols + 1) // 2 * 9, dtype=np.int16)  # EK_TL_LUT_ENTRIES(cols)
    acc = np.zeros(rows, dtype=np.int32)
    build_lut = lib.ek_tl_build_lut
    build_lut.restype = None
    build_lut.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]  # pointers stay 64-bit
    build_lut(xq.ctypes.data, cols, lut.ctypes.data)
    tensors = [_Tensor(w.ctypes.data, rows, cols, TERNARY_FORMATS[fmt].code, 1.0) for w in weights]
    q = _QVec(xq.ctypes.data, cols, 1.0, lut.ctypes.data)
    call = lib.ek_ternary_matvec
    call.restype = None
    call.argtypes = [ctypes.POINTER(_Tensor), ctypes.POINTER(_QVec), ctypes.c_void_p]
    args = [(ctypes.byref(w), ctypes.byref(q), acc.ctypes.data) for w in tensors]
    t0 = time.perf_counter()
    for a in args:
        call(*a)  # warm-up: page faults, and the cache-resident case's first fill
    once = max((time.perf_counter() - t0) / copies, 1e-6)
    reps = max(copies, int(MIN_RUN_S / once) // copies * copies)  # whole cycles through the copies
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for i in range(reps):
            call(*args[i % copies])
        samples.append((time.perf_counter() - t0) / reps)
    if not np.array_equal(acc, codes.astype(np.int32) @ x.astype(np.int32)):
        raise EdgekitError(f"{fmt} {rows}x{cols}: the timed kernel's accumulators differ from numpy")
    return samples


def head_case(fmt: str, rows: int, cols: int, seed: int = 0) -> tuple[bytes, np.ndarray]:
    """A random head packed in `fmt` (normal weights, as a trained head's; packed 8192 rows at a time, so the
    float32 weights never exist whole) and a random float32 input."""
    rng = np.random.default_rng(seed)
    chunks = (rng.standard_normal((min(8192, rows - r), cols), dtype=np.float32) for r in range(0, rows, 8192))
    packed = b"".join(FLOAT_FORMATS[fmt].pack_stream(chunks))
    return packed, rng.standard_normal(cols, dtype=np.float32)


def time_head(lib: ctypes.CDLL, fmt: str, rows: int, cols: int, packed: bytes, x: np.ndarray, copies: int,
              runs: int = RUNS) -> tuple[list[float], np.ndarray]:
    """Seconds per head call (one thread) cycling through `copies` copies of the weights, and the logits."""
    weights = [np.frombuffer(packed, dtype=np.uint8).copy() for _ in range(copies)]
    y = np.zeros(rows, dtype=np.float32)
    tensors = [_Tensor(w.ctypes.data, rows, cols, FLOAT_FORMATS[fmt].code, 0.0) for w in weights]
    if fmt in INTEGER_HEAD_ENTRY:  # the runtime's own step: x quantised as a BitLinear input, then the head
        xq = np.zeros(-(-cols // 128) * 128, dtype=np.int8)
        quantize = lib.ek_quantize
        quantize.restype = ctypes.c_float
        quantize.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p]
        scale = quantize(x.ctypes.data, cols, xq.ctypes.data)
        operand = _QVec(xq.ctypes.data, cols, scale, None)
        call = getattr(lib, INTEGER_HEAD_ENTRY[fmt])
        call.argtypes = [ctypes.POINTER(_Tensor), ctypes.POINTER(_QVec), ctypes.c_void_p]
        args = [(ctypes.byref(t), ctypes.byref(operand), y.ctypes.data) for t in tensors]
    else:
        call = lib.ek_float_matvec
        call.argtypes = [ctypes.POINTER(_Tensor), ctypes.c_void_p, ctypes.c_void_p]
        args = [(ctypes.byref(t), x.ctypes.data, y.ctypes.data) for t in tensors]
    call.restype = None
    for a in args:
        call(*a)  # warm-up: page faults
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        for a in args:
            call(*a)
        samples.append((time.perf_counter() - t0) / copies)
    return samples, y.copy()


def bench_heads(builds, work: Path, log, shape=TWO_B_HEAD, formats=HEAD_FORMATS, runs: int = RUNS) -> list[dict]:
    rows, cols = shape
    out = []
    for fmt in formats:
        packed, x = head_case(fmt, rows, cols)
        copies = dram_copies(len(packed))
        portable_s, portable_y = None, None
        for kernels, body, _, lib in builds:
            log(f"head {fmt} {rows}x{cols}, body {body}, dram")
            samples, y = time_head(lib, fmt, rows, cols, packed, x, copies, runs=runs)
            if portable_y is None:
                portable_y = y
            elif y.tobytes() != portable_y.tobytes():
                raise EdgekitError(f"head {fmt} {rows}x{cols}: the {body} body's logits differ from the portable "
                                   f"body's")
            seconds = sorted(samples)[len(samples) // 2]
            portable_s = seconds if body == "c" else portable_s
            gb = summary([len(packed) / s / 1e9 for s in samples])
            out.append({
                "suite": "kernels", "op": "head", "format": fmt, "rows": rows, "cols": cols, "kernels": kernels,
                "body": body, "placement": "dram", "copies": copies, "ms_per_head": round(seconds * 1e3, 2),
                "weight_gb_per_s": gb["median"], "weight_gb_per_s_min": gb["min"], "weight_gb_per_s_max": gb["max"],
                "runs": gb["runs"], "speedup_vs_c": round(portable_s / seconds, 2) if portable_s else None,
                "packed_bytes": len(packed),
            })
        del packed
    return out


def bench_kernels(work: Path, log, shapes=TWO_B_SHAPES, formats=KERNEL_FORMATS, placements=PLACEMENTS,
                  runs: int = RUNS, head_shape=TWO_B_HEAD, head_formats=HEAD_FORMATS) -> list[dict]:
    work.mkdir(parents=True, exist_ok=True)
    rows_out = []
    builds = []
    for kernels, body in native_kernel_sets():
        ek_eval, lib_path = build_kernels(work, kernels, log)
        builds.append((kernels, body, ek_eval, ctypes.CDLL(str(lib_path))))
    for fmt in formats:
        for rows, cols in shapes:
            codes, x, packed = _case(fmt, rows, cols)
            for placement in placements:
                copies = 1 if placement == "cache" else dram_copies(len(packed))
                portable_s = None
                for kernels, body, ek_eval, lib in builds:
                    log(f"matvec {fmt} {rows}x{cols}, body {body}, {placement}")
                    if placement == placements[0]:  # the same bytes in every placement: checked once
                        check_with_eval(ek_eval, fmt, codes, x, packed, work)
                    samples = time_matvec(lib, fmt, codes, x, packed, copies=copies, runs=runs)
                    seconds = sorted(samples)[len(samples) // 2]
                    portable_s = seconds if body == "c" else portable_s
                    gweights = summary([rows * cols / s / 1e9 for s in samples])
                    rows_out.append({
                        "suite": "kernels", "op": "matvec", "format": fmt, "rows": rows, "cols": cols,
                        "kernels": kernels,
                        "body": body, "placement": placement, "copies": copies,
                        "us_per_matvec": round(seconds * 1e6, 1),
                        "gweights_per_s": gweights["median"], "gweights_per_s_min": gweights["min"],
                        "gweights_per_s_max": gweights["max"], "runs": gweights["runs"],
                        "weight_gb_per_s": round(len(packed) / seconds / 1e9, 2),
                        "speedup_vs_c": round(portable_s / seconds, 2) if portable_s else None,
                        "packed_bytes": len(packed),
                    })
    return rows_out + bench_heads(builds, work, log, head_shape, head_formats, runs=runs)
