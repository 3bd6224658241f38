"""Run compiled x86-64 code under the Bochs CPU emulator as a chosen Intel CPU model, for tests.

Why: edgekit's AVX-512 (F/BW/VL) and AVX-512 VNNI kernel bodies, and the CPUID dispatcher that picks a body, must
be checked on hosts whose CPU has no AVX-512 (the development machine is an AMD Zen 2). bochscpu-python embeds
Bochs' CPU, which decodes and executes the real compiled instructions as a modelled Intel CPU reports and
implements them: the test runs the very machine code a build ships, CPUID answers as that CPU, and an
instruction the model lacks raises #UD as on that hardware. What it does not prove: speed (Bochs interprets:
about 35 million simple instructions a second on the Zen 2 host, about 28 million in a zmm VNNI loop, plus
~0.1 s to start a run; it models no caches or pipelines), cache or memory-ordering behaviour, or that Bochs'
implementation of an instruction matches silicon bit for bit.

    MODELS                          name -> CpuModel: the emulated CPUs and what their CPUID must report
    build_guest(sources, out_dir)   C sources + tests/x86_guest/runtime.c -> a flat image (tests/x86_guest/guest.ld)
    run_guest(image, io, model)     run it: ek_guest_main(io) in 64-bit user mode -> GuestResult (io afterwards,
                                    the exception that ended the run and where, the CPUID the guest saw)
    require_bochscpu()              skip the caller when bochscpu-python is not installed (and only then)

A guest is `void ek_guest_main(uint8_t *io)` (tests/x86_guest/ek_guest.h). Its return lands on a HLT, which a
user-mode program may not execute: the #GP it raises is the normal end. Any other exception ends the run too and
is reported with the faulting instruction, e.g. "invalid opcode (#UD) at rip 0x4012ab in dot_vnni+0x1b:
vpdpbusd %zmm1,%zmm0,%zmm0". Bochs hands the exception over with RIP already past the instruction, so the runner
finds the instruction in the guest's ELF that ends there (objdump).

The emulator runs in a child process (this file as a script): the extension prints leak reports and can crash at
interpreter exit, and it holds the GIL while it runs, so a guest that never returns can only be stopped by
killing its process (run_guest's timeout).
"""
from __future__ import annotations

import ctypes
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Union

GUEST_DIR = Path(__file__).resolve().parent / "x86_guest"
RUNTIME_SOURCE = GUEST_DIR / "runtime.c"
LINKER_SCRIPT = GUEST_DIR / "guest.ld"
SHIM_SOURCE = GUEST_DIR / "glibc_isoc23_shim.c"

INSTALL_HINT = "pip install bochscpu-python"
# the package version MODELS' Bochs indices were read from; another version is checked, not refused (CpuModel)
BOCHSCPU_VERSION = "0.4.0"

PAGE = 0x1000

# Flags of every guest source: nothing that calls into a libc (stack protector, fortify), absolute addressing at
# guest.ld's address, no CET notes. Sources are compiled as hosted C (no -ffreestanding, which implies
# -fno-builtin), so small memcpy/memset calls are expanded inline as in a normal build of the same file.
GUEST_CFLAGS = ("-O2", "-fno-stack-protector", "-fno-pic", "-fno-pie", "-mno-red-zone",
                "-fno-asynchronous-unwind-tables", "-fno-unwind-tables", "-fcf-protection=none",
                "-U_FORTIFY_SOURCE", "-Wall")
# runtime.c is the C library itself: nothing in it may become a call back into it
RUNTIME_FLAGS = ("-ffreestanding", "-fno-builtin", "-fno-tree-loop-distribute-patterns")
LINK_FLAGS = ("-nostdlib", "-static", "-no-pie", "-Wl,--orphan-handling=error", "-Wl,--build-id=none",
              "-Wl,--no-warn-rwx-segments")  # one RWX image is the point: text, data and bss in one flat file
IMAGE_MAGIC = b"EKGUEST1"
IMAGE_HEADER = struct.Struct("<8sQQQ")  # magic, load address, entry, end of .bss (guest.ld)

# The guest's address space (identity-mapped: virtual = physical). Unmapped gaps around the stack and the I/O
# region turn overruns into page faults.
HALT_ADDRESS = 0x0020_0000        # one page holding HLT: ek_guest_main's return address
PROBE_CODE = 0x0030_0000          # the runner's own CPUID probe (probe_code())
PROBE_OUT = 0x0031_0000           # ... and the page it writes the registers to
STACK_TOP = 0x0800_0000           # the stack grows down from here; the image must end below its lowest page
IO_BASE = 0x1000_0000             # the I/O region: ek_guest_main's argument
MAX_IO_SIZE = 0x4000_0000
PAGE_TABLES = 0x6000_0000         # physical pages of the page tables (not mapped into the guest)
DEFAULT_STACK_SIZE = 1 << 20
DEFAULT_TIMEOUT = 120.0

# CPU state for 64-bit user mode: ring-3 code and data selectors (flat), SSE/AVX enabled for the OS's part
# (CR4.OSFXSR, OSXMMEXCPT, OSXSAVE) and every AVX-512 state component enabled in XCR0 (x87, SSE, AVX, opmask,
# ZMM_Hi256, Hi16_ZMM), as an OS that supports AVX-512 leaves it. MXCSR/FPU control words as after FNINIT/reset.
USER_CODE_SELECTOR, USER_CODE_ATTR = 0x33, 0x22FB   # present, DPL 3, code, long mode (L)
USER_DATA_SELECTOR, USER_DATA_ATTR = 0x2B, 0x0CF3   # present, DPL 3, writable data
CR4_OSFXSR, CR4_OSXMMEXCPT, CR4_OSXSAVE = 1 << 9, 1 << 10, 1 << 18
XCR0_AVX512_OS = 0xE7
MXCSR_DEFAULT, MXCSR_MASK, FPU_CONTROL_DEFAULT, RFLAGS_RESERVED = 0x1F80, 0xFFFF, 0x037F, 0x2

GP_FAULT = 13
EXCEPTION_NAMES = {
    0: "divide error (#DE)", 1: "debug exception (#DB)", 3: "breakpoint (#BP)", 4: "overflow (#OF)",
    5: "bound range exceeded (#BR)", 6: "invalid opcode (#UD)", 7: "device not available (#NM)",
    8: "double fault (#DF)", 10: "invalid TSS (#TS)", 11: "segment not present (#NP)",
    12: "stack-segment fault (#SS)", 13: "general protection fault (#GP)", 14: "page fault (#PF)",
    16: "x87 floating-point exception (#MF)", 17: "alignment check (#AC)", 18: "machine check (#MC)",
    19: "SIMD floating-point exception (#XM)", 21: "control protection exception (#CP)",
}

# CPUID (leaf, subleaf) pairs the runner reads before every guest run and returns in GuestResult.cpuid
CPUID_LEAVES = ((0, 0), (1, 0), (7, 0), (7, 1))
REGISTERS = ("eax", "ebx", "ecx", "edx")
# feature name -> where CPUID reports it: (leaf, subleaf, register, bit) (Intel SDM vol. 2A, CPUID)
FEATURE_BITS = {
    "avx2": (7, 0, "ebx", 5),
    "avx512f": (7, 0, "ebx", 16),
    "avx512bw": (7, 0, "ebx", 30),
    "avx512vl": (7, 0, "ebx", 31),
    "avx512vnni": (7, 0, "ecx", 11),
    "avxvnni": (7, 1, "eax", 4),
}


@dataclass(frozen=True)
class CpuModel:
    """An emulated CPU: Bochs' index for it in the "cpu.model" option of bochscpu-python BOCHSCPU_VERSION, the
    display family/model CPUID leaf 1 reports, and exactly which FEATURE_BITS features leaf 7 reports. The index
    is an internal detail of the wheel: every run checks the rest against the guest's CPUID (check_model)."""
    bochs_index: int
    family: int
    model: int
    features: frozenset[str]


def _features(*names: str) -> frozenset[str]:
    unknown = set(names) - set(FEATURE_BITS)
    if unknown:
        raise ValueError(f"unknown CPU features {sorted(unknown)}; known: {', '.join(FEATURE_BITS)}")
    return frozenset(names)


_AVX512 = ("avx2", "avx512f", "avx512bw", "avx512vl")
MODELS = {
    "skylake_x": CpuModel(26, 6, 0x55, _features(*_AVX512)),
    "cannonlake": CpuModel(27, 6, 0x66, _features(*_AVX512)),
    "icelake": CpuModel(28, 6, 0x7E, _features(*_AVX512, "avx512vnni")),
    "tigerlake": CpuModel(29, 6, 0x8C, _features(*_AVX512, "avx512vnni")),
    "sapphire_rapids": CpuModel(30, 6, 0x8F, _features(*_AVX512, "avx512vnni", "avxvnni")),
    "arrowlake": CpuModel(31, 6, 0xC6, _features("avx2", "avxvnni")),
}


class GuestError(Exception):
    """The runner could not run the guest (emulator missing or broken, wrong CPU model, bad image)."""


class GuestBuildError(GuestError):
    """The compiler or linker refused a guest; the message carries its output."""


class GuestTimeout(GuestError):
    """The guest did not return within the time allowed; its process was killed."""


class GuestFault(AssertionError):
    """GuestResult.check(): the guest ended with an exception instead of returning."""


# ---------------------------------------------------------------------------------------------------- CPUID

def cpuid_features(cpuid: dict[tuple[int, int], tuple[int, int, int, int]]) -> frozenset[str]:
    """The FEATURE_BITS features a CPUID dump reports."""
    return frozenset(name for name, (leaf, sub, reg, bit) in FEATURE_BITS.items()
                     if cpuid[(leaf, sub)][REGISTERS.index(reg)] >> bit & 1)


def cpuid_family_model(cpuid: dict[tuple[int, int], tuple[int, int, int, int]]) -> tuple[int, int]:
    """Display family and model from CPUID leaf 1 EAX (the extended fields count for family 6 and 15)."""
    eax = cpuid[(1, 0)][0]
    family, model = eax >> 8 & 0xF, eax >> 4 & 0xF
    if family in (6, 15):
        model |= (eax >> 16 & 0xF) << 4
    if family == 15:
        family += eax >> 20 & 0xFF
    return family, model


def check_model(name: str, spec: CpuModel, cpuid: dict[tuple[int, int], tuple[int, int, int, int]]) -> None:
    """Raise GuestError unless the guest's CPUID is the one MODELS[name] describes."""
    family, model = cpuid_family_model(cpuid)
    features = cpuid_features(cpuid)
    if (family, model) != (spec.family, spec.model) or features != spec.features:
        raise GuestError(
            f"Bochs CPU model index {spec.bochs_index} is not {name}: the guest's CPUID says family {family} "
            f"model {model:#x} with {', '.join(sorted(features)) or 'none'} of {', '.join(FEATURE_BITS)}; "
            f"expected family {spec.family} model {spec.model:#x} with {', '.join(sorted(spec.features))} "
            f"(the table was made for bochscpu-python {BOCHSCPU_VERSION}; fix: correct MODELS in {__file__} "
            f"for the installed version)")


def probe_code() -> bytes:
    """Machine code of the runner's CPUID probe: for each CPUID_LEAVES pair, CPUID, then EAX/EBX/ECX/EDX stored at
    [rdi + 16*i + 0/4/8/12]; then RET. Written out as bytes so every run checks the model without a compiler."""
    code = bytearray()
    for i, (leaf, sub) in enumerate(CPUID_LEAVES):
        code += b"\xb8" + struct.pack("<I", leaf)   # mov eax, leaf
        code += b"\xb9" + struct.pack("<I", sub)    # mov ecx, subleaf
        code += b"\x0f\xa2"                         # cpuid
        # mov [rdi + disp32], eax/ebx/ecx/edx: ModRM mod=10, rm=rdi, reg = 0 (eax), 3 (ebx), 1 (ecx), 2 (edx)
        for j, modrm in enumerate((0x87, 0x9F, 0x8F, 0x97)):
            code += bytes((0x89, modrm)) + struct.pack("<I", 16 * i + 4 * j)
    code += b"\xc3"                                 # ret
    return bytes(code)


# ---------------------------------------------------------------------------------------------------- building

Source = Union[str, os.PathLike, tuple]  # a path, or (path, extra compiler flags for that file only)


def _run_tool(cmd: list[str], what: str) -> None:
    try:
        r = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as e:
        raise GuestBuildError(f"{what}: {cmd[0]} is not installed ({e})") from None
    if r.returncode:
        raise GuestBuildError(f"{what} failed ({r.returncode}): {' '.join(cmd)}\n{r.stdout}{r.stderr}")


def build_guest(sources: Iterable[Source], out_dir: str | os.PathLike, include_dirs: Iterable = (),
                defines: Iterable[str] = (), cflags: Iterable[str] = (), name: str = "guest",
                cc: str = "gcc") -> Path:
    """Compile `sources` and the guest runtime, link them with guest.ld and return the flat image
    (out_dir/<name>.bin; the ELF beside it, <name>.elf, names the functions in fault reports).

    A source is a path, or (path, flags) whose flags apply to that file only: an AVX-512 body gets
    ("-mavx512f", "-mavx512bw", ...) while the portable reference and the dispatcher stay baseline x86-64 (or
    AVX2), so they really run without AVX-512. `cflags`, `include_dirs` and `defines` ("NAME" or "NAME=value")
    apply to every source; the runtime is always baseline x86-64. Raises GuestBuildError with the compiler's
    output."""
    out = Path(out_dir)
    (out / "obj").mkdir(parents=True, exist_ok=True)
    common = [*GUEST_CFLAGS, f"-I{GUEST_DIR}", *(f"-I{d}" for d in include_dirs), *(f"-D{d}" for d in defines),
              *cflags]
    jobs = [(RUNTIME_SOURCE, [*GUEST_CFLAGS, *RUNTIME_FLAGS])]
    for src in sources:
        path, extra = (src[0], src[1]) if isinstance(src, tuple) else (src, ())
        if isinstance(extra, str):
            raise TypeError(f"flags of {path} must be a sequence of strings, not the string {extra!r}")
        jobs.append((Path(path), [*common, *extra]))
    objects = [str(out / "obj" / f"{i:02d}-{path.stem}.o") for i, (path, _) in enumerate(jobs)]
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # the compilers run in parallel
        for done in [pool.submit(_run_tool, [cc, *flags, "-c", str(path), "-o", obj], f"compiling {path}")
                     for (path, flags), obj in zip(jobs, objects)]:
            done.result()  # the first failure, in source order
    elf, image = out / f"{name}.elf", out / f"{name}.bin"
    _run_tool([cc, *LINK_FLAGS, f"-Wl,-T,{LINKER_SCRIPT}", "-o", str(elf), *objects, "-lgcc"], f"linking {elf}")
    _run_tool(["objcopy", "-O", "binary", str(elf), str(image)], f"extracting the image of {elf}")
    read_image_header(image.read_bytes())  # a linker script gone wrong fails here, not inside the emulator
    return image


def read_image_header(image: bytes) -> tuple[int, int, int]:
    """(load address, entry, end of .bss) of a build_guest image."""
    if len(image) < IMAGE_HEADER.size or image[:8] != IMAGE_MAGIC:
        raise GuestError(f"not an x86_guest image (no {IMAGE_MAGIC.decode()} header; build it with build_guest)")
    _, base, entry, end = IMAGE_HEADER.unpack_from(image)
    if base % PAGE or not base < entry < end or end - base < len(image):
        raise GuestError(f"bad x86_guest image header: load {base:#x}, entry {entry:#x}, end {end:#x}, "
                         f"{len(image)} bytes")
    return base, entry, end


# ---------------------------------------------------------------------------------------------------- running

@dataclass(frozen=True)
class FaultSite:
    """The instruction an exception was raised by, from the guest's ELF."""
    rip: int
    symbol: str | None       # function+offset
    code: bytes
    text: str                # objdump's disassembly (AT&T syntax)


@dataclass(frozen=True)
class GuestResult:
    model: str
    io: bytes
    vector: int              # the exception that ended the run (GP_FAULT from the HLT: ek_guest_main returned)
    error_code: int
    next_rip: int            # Bochs' RIP when it raised it: just past the faulting instruction
    cr2: int                 # the faulting address of a page fault
    site: FaultSite | None   # the faulting instruction (None when it ended normally or is not in the ELF)
    cpuid: dict              # (leaf, subleaf) -> (eax, ebx, ecx, edx), as the guest sees them

    @property
    def completed(self) -> bool:
        """ek_guest_main returned (and nothing faulted before)."""
        return self.vector == GP_FAULT and self.next_rip == HALT_ADDRESS + 1

    @property
    def rip(self) -> int | None:
        """Address of the faulting instruction (None if it is not known: not in the ELF)."""
        if self.vector == 14 and self.cr2 == self.next_rip:
            return self.next_rip  # fetching the instruction itself faulted: RIP never moved past it
        return self.site.rip if self.site else None

    @property
    def features(self) -> frozenset[str]:
        return cpuid_features(self.cpuid)

    def describe(self) -> str:
        if self.completed:
            return f"returned normally on the {self.model} model"
        what = EXCEPTION_NAMES.get(self.vector, f"exception {self.vector}")
        if self.rip is None:
            where = f"at an instruction ending at {self.next_rip:#x}"
        else:
            where = f"at rip {self.rip:#x}"
        if self.site:
            where += (f" in {self.site.symbol}" if self.site.symbol else "") + f": {self.site.text} " \
                     f"({self.site.code.hex(' ')})"
        detail = f", error code {self.error_code:#x}" if self.vector in (10, 11, 12, 13, 14, 17, 21) else ""
        if self.vector == 14:
            detail += f", address {self.cr2:#x}"
        return f"{what} {where}{detail}, on the {self.model} model"

    def check(self) -> GuestResult:
        """self, if the guest returned normally; else GuestFault saying what stopped it and where."""
        if not self.completed:
            raise GuestFault(f"guest did not return: {self.describe()}")
        return self


_shim_needed: bool | None = None  # None until a child has tried the plain import


def glibc_shim(cc: str = "gcc") -> Path:
    """The compiled glibc_isoc23_shim.c, built once into the edgekit cache ($EDGEKIT_CACHE/x86-guest, keyed by
    its source) and reused."""
    from edgekit.cache import cache_root  # here, not at the top: the child process runs without edgekit

    source = SHIM_SOURCE.read_bytes()
    path = cache_root() / "x86-guest" / f"glibc-isoc23-shim-{hashlib.sha256(source).hexdigest()[:16]}.so"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            _run_tool([cc, "-shared", "-fPIC", "-O2", str(SHIM_SOURCE), "-o", str(tmp)], "building the glibc shim")
            os.replace(tmp, path)  # another process building it at once writes the same bytes
        finally:
            tmp.unlink(missing_ok=True)
    return path


def find_fault_site(elf: Path, next_rip: int) -> FaultSite | None:
    """The instruction of `elf` that ends at `next_rip` (None without the ELF, objdump, or such an instruction)."""
    if not elf.is_file() or shutil.which("objdump") is None:
        return None
    r = subprocess.run(["objdump", "-d", "-w", str(elf)], capture_output=True, text=True)
    symbol = None
    for line in r.stdout.splitlines():
        head = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        if head:
            symbol = (head.group(2), int(head.group(1), 16))
            continue
        insn = re.match(r"^\s*([0-9a-f]+):\t((?:[0-9a-f]{2} )+)\s*\t?(.*)$", line)
        if insn:
            address, code = int(insn.group(1), 16), bytes.fromhex(insn.group(2))
            if address + len(code) == next_rip:
                where = f"{symbol[0]}+{address - symbol[1]:#x}" if symbol else None
                return FaultSite(address, where, code, " ".join(insn.group(3).split()))
    return None


def run_guest(image: str | os.PathLike, io: bytes, model: str, io_size: int | None = None,
              timeout: float = DEFAULT_TIMEOUT, stack_size: int = DEFAULT_STACK_SIZE) -> GuestResult:
    """Run a build_guest image as CPU `model` (a MODELS name): ek_guest_main(io region) with the region holding
    `io` followed by zeros up to `io_size` bytes (default len(io)). Returns the GuestResult whatever exception
    ended the run (.check() turns a fault into a test failure). Raises GuestTimeout when the guest has not
    returned after `timeout` seconds, GuestError when the emulator cannot run it or the model's CPUID is not
    what MODELS says."""
    global _shim_needed
    if model not in MODELS:
        raise GuestError(f"unknown CPU model {model!r}; known: {', '.join(MODELS)}")
    image = Path(image)
    io_size = len(io) if io_size is None else io_size
    if not len(io) <= io_size <= MAX_IO_SIZE:
        raise GuestError(f"io_size {io_size} must hold the {len(io)} input bytes and be at most {MAX_IO_SIZE}")
    base, _, end = read_image_header(image.read_bytes())
    if end > STACK_TOP - stack_size - PAGE:
        raise GuestError(f"image ends at {end:#x}, inside the stack (below {STACK_TOP:#x}, {stack_size} bytes)")
    spec = MODELS[model]
    with tempfile.TemporaryDirectory(prefix="x86-guest-") as tmp:
        work = Path(tmp)
        shutil.copyfile(image, work / "image.bin")
        (work / "io.bin").write_bytes(io)
        request = {"model": model, "spec": [spec.bochs_index, spec.family, spec.model, sorted(spec.features)],
                   "io_size": io_size, "stack_size": stack_size, "shim": None}
        for _ in range(2):
            if _shim_needed:
                request["shim"] = str(glibc_shim())
            (work / "request.json").write_text(json.dumps(request))
            (work / "result.json").unlink(missing_ok=True)
            try:
                proc = subprocess.run([sys.executable, __file__, "--child", str(work)], capture_output=True,
                                      text=True, timeout=timeout)
            except subprocess.TimeoutExpired:
                raise GuestTimeout(f"guest {image.name} did not return within {timeout:g} s on the {model} model "
                                   f"(an endless loop, or more work than the emulator does in that time); "
                                   f"its process was killed") from None
            result = json.loads((work / "result.json").read_text()) if (work / "result.json").is_file() else None
            if result is not None and "need_shim" in result and not _shim_needed:
                _shim_needed = True
                continue
            break
        if result is None or "error" in result or "need_shim" in result:
            why = result.get("error") or result.get("need_shim") if result else f"exit status {proc.returncode}"
            raise GuestError(f"the emulator did not run {image.name} on the {model} model: {why}\n"
                             f"{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
        if _shim_needed is None:
            _shim_needed = False
        out_io = (work / "io_out.bin").read_bytes()
    next_rip = result["next_rip"]
    normal_end = result["vector"] == GP_FAULT and next_rip == HALT_ADDRESS + 1
    in_image = base < next_rip <= end
    site = find_fault_site(image.with_suffix(".elf"), next_rip) if in_image and not normal_end else None
    return GuestResult(model=model, io=out_io, vector=result["vector"], error_code=result["error_code"],
                       next_rip=next_rip, cr2=result["cr2"], site=site,
                       cpuid={tuple(k): tuple(v) for k, v in result["cpuid"]})


def require_bochscpu() -> None:
    """Skip the calling test (or module) when bochscpu-python is not installed. Installed but broken (e.g. it
    cannot be loaded) is not a skip: run_guest then fails with the reason."""
    import importlib.util

    import pytest

    if importlib.util.find_spec("bochscpu") is None:
        pytest.skip(f"bochscpu-python is not installed ({INSTALL_HINT})", allow_module_level=True)


# ---------------------------------------------------------------------------------------------------- the child

class _Emulator:
    """One Bochs session with the guest's address space (child process only)."""

    def __init__(self, bochscpu, bochs_index: int):
        self.bx = bochscpu
        self._select_model(bochs_index)
        self.session = bochscpu.Session()
        self.session.missing_page_handler = self._missing_page
        self.page_table = bochscpu.memory.PageMapLevel4Table()
        self.pages: dict[int, int] = {}   # guest page address -> host address of its memory
        self.stop: tuple[int, int, int, int] | None = None

    def _select_model(self, index: int) -> None:
        # Bochs reads its "cpu.model" option when the Session creates the CPU; the wheel exports the option
        # API, not a Python call, so it is set through the C++ entry points (Itanium-mangled names).
        lib = ctypes.CDLL(self.bx._bochscpu.__file__)
        get_param_enum = lib._ZN13bx_real_sim_c14get_param_enumEPKcP10bx_param_c
        get_param_enum.restype = ctypes.c_void_p
        get_param_enum.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_void_p]
        param = get_param_enum(None, b"cpu.model", None)
        if not param:
            raise GuestError("this bochscpu has no cpu.model option")
        set_value = lib._ZN14bx_param_num_c3setEl
        set_value.argtypes = [ctypes.c_void_p, ctypes.c_long]
        set_value(param, index)

    def _missing_page(self, gpa: int) -> None:
        # Every page the guest can reach is mapped; Bochs asking for another is a runner bug, reported as such.
        _child_exit({"error": f"the emulator asked for unmapped physical page {gpa:#x}"})

    def map(self, address: int, size: int, data: bytes = b"") -> None:
        for page in range(address, address + size, PAGE):
            host = self.bx.memory.allocate_host_page()  # fresh mmap: zero-filled
            if not host:
                raise GuestError("out of host memory for guest pages")
            self.bx.memory.page_insert(page, host)
            self.page_table.insert(page, page, 1)       # user, writable
            self.pages[page] = host
        self.write(address, data)

    def write(self, address: int, data: bytes) -> None:
        done = 0
        while done < len(data):
            at = address + done
            n = min(PAGE - at % PAGE, len(data) - done)
            ctypes.memmove(self.pages[at - at % PAGE] + at % PAGE, data[done:done + n], n)
            done += n

    def read(self, address: int, size: int) -> bytes:
        out = bytearray()
        for page in range(address & ~(PAGE - 1), address + size, PAGE):
            if page not in self.pages:
                break
            out += ctypes.string_at(self.pages[page], PAGE)
        start = address & (PAGE - 1)
        return bytes(out[start:start + size])

    def commit(self) -> None:
        for host, gpa in self.page_table.commit(PAGE_TABLES):
            if gpa in self.pages:
                raise GuestError(f"page tables at {gpa:#x} collide with guest memory")
            self.bx.memory.page_insert(gpa, host)

    def call(self, entry: int, argument: int, stack_top: int) -> tuple[int, int, int, int]:
        """Run entry(argument) in user mode until an exception; (vector, error code, RIP, CR2) of the first, RIP
        as Bochs reports it: past the faulting instruction."""
        bx = self.bx
        state = bx.State()
        bx.cpu.set_long_mode(state)
        state.cr3 = PAGE_TABLES
        state.cr4 = state.cr4 | CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE
        state.xcr0 = XCR0_AVX512_OS
        state.mxcsr, state.mxcsr_mask, state.fpcw = MXCSR_DEFAULT, MXCSR_MASK, FPU_CONTROL_DEFAULT
        state.rflags = RFLAGS_RESERVED
        rsp = stack_top - 8   # as after a CALL: the return address on top, rsp + 8 16-byte aligned
        self.write(rsp, struct.pack("<Q", HALT_ADDRESS))
        state.rsp, state.rip, state.rdi = rsp, entry, argument
        code = bx.Segment()
        code.present, code.selector, code.base, code.limit, code.attr = (
            True, USER_CODE_SELECTOR, 0, 0xFFFFFFFF, USER_CODE_ATTR)
        state.cs = code
        for reg in ("ds", "ss", "es", "fs", "gs"):
            data = bx.Segment()
            data.present, data.selector, data.base, data.limit, data.attr = (
                True, USER_DATA_SELECTOR, 0, 0xFFFFFFFF, USER_DATA_ATTR)
            setattr(state, reg, data)
        self.session.cpu.state = state
        self.stop = None

        def on_exception(session, cpu_id, vector, error_code):
            # No IDT: delivering the exception would escalate to a triple fault. Keep the first and stop.
            if self.stop is None:
                self.stop = (vector, error_code, session.cpu.rip, session.cpu.cr2)
            session.stop()

        hook = bx.Hook()
        hook.exception = on_exception
        self.session.run([hook])
        if self.stop is None:
            raise GuestError("the emulator stopped without an exception")
        return self.stop


def _child_exit(result: dict) -> None:
    (_CHILD_DIR / "result.json").write_text(json.dumps(result))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # not a normal exit: the extension's teardown crashes or prints leak reports


def _import_bochscpu(shim: str | None):
    try:
        import bochscpu
    except ImportError as e:
        if "__isoc23_" not in str(e):
            raise
        if shim is None:
            _child_exit({"need_shim": f"{e}"})
        ctypes.CDLL(shim, mode=ctypes.RTLD_GLOBAL)
        import bochscpu
    import bochscpu.cpu
    import bochscpu.memory
    return bochscpu


def _child(work: Path) -> None:
    request = json.loads((work / "request.json").read_text())
    index, family, model, features = request["spec"]
    spec = CpuModel(index, family, model, frozenset(features))
    bochscpu = _import_bochscpu(request["shim"])
    if bochscpu.memory.page_size() != PAGE:
        raise GuestError(f"bochscpu's page size is {bochscpu.memory.page_size():#x}, not {PAGE:#x}")
    image = (work / "image.bin").read_bytes()
    base, entry, end = read_image_header(image)
    io_size, stack_size = request["io_size"], request["stack_size"]

    emu = _Emulator(bochscpu, spec.bochs_index)
    emu.map(HALT_ADDRESS, PAGE, b"\xf4")  # hlt
    emu.map(PROBE_CODE, PAGE, probe_code())
    emu.map(PROBE_OUT, PAGE)
    emu.map(base, -(-(end - base) // PAGE) * PAGE, image)
    emu.map(STACK_TOP - stack_size, stack_size)
    emu.map(IO_BASE, max(PAGE, -(-io_size // PAGE) * PAGE), (work / "io.bin").read_bytes())
    emu.commit()

    stop = emu.call(PROBE_CODE, PROBE_OUT, STACK_TOP)
    if stop[:3] != (GP_FAULT, 0, HALT_ADDRESS + 1):
        raise GuestError(f"the CPUID probe did not return: exception {stop[0]} before rip {stop[2]:#x}")
    raw = struct.unpack(f"<{4 * len(CPUID_LEAVES)}I", emu.read(PROBE_OUT, 16 * len(CPUID_LEAVES)))
    cpuid = {leaf: raw[4 * i:4 * i + 4] for i, leaf in enumerate(CPUID_LEAVES)}
    check_model(request["model"], spec, cpuid)

    vector, error_code, next_rip, cr2 = emu.call(entry, IO_BASE, STACK_TOP)
    (work / "io_out.bin").write_bytes(emu.read(IO_BASE, io_size))
    _child_exit({"vector": vector, "error_code": error_code, "next_rip": next_rip, "cr2": cr2,
                 "cpuid": [[list(k), list(v)] for k, v in cpuid.items()]})


if __name__ == "__main__" and sys.argv[1:2] == ["--child"]:
    _CHILD_DIR = Path(sys.argv[2])
    try:
        _child(_CHILD_DIR)
    except GuestError as e:
        _child_exit({"error": str(e)})
