"""Board profile schema: the dataclasses a profile becomes and the one validator every profile goes through.

A profile (boards/<name>.toml) is data. This module turns the parsed TOML into frozen dataclasses and
rejects anything malformed with an EdgekitError naming the file, the field and the fix: unknown fields
(typos), missing fields, values outside their enums, memory regions that overlap, and combinations that
cannot work (an emulated board without a [qemu] table, MVE on a core that has none...).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from edgekit.errors import EdgekitError

# --- enums (tables, not scattered ifs) -------------------------------------------------------------------

# Memory region kinds (docs/design.md §5). Weights may execute in place from flash/xip-flash; KV cache needs RAM.
REGION_KINDS = ("flash", "xip-flash", "psram", "sram", "tcm", "dram")
RAM_KINDS = frozenset({"psram", "sram", "tcm", "dram"})

# How bytes get into a region, which the planner and the flasher both need to know:
#   elf          - part of the firmware binary; the flasher/loader writes it with the program
#   flasher      - the board's flasher tool writes an image part at an address (pyocd, picotool, ...)
#   qemu-loader  - QEMU's `-device loader,file=...,addr=...` fills it before the CPU starts
#   copy-at-boot - volatile RAM: the firmware copies an image part in at boot from another region
#   file         - OS memory: the image part is a file the process mmaps
#   runtime      - working RAM only; never holds an image part
PROGRAMMING_METHODS = ("elf", "flasher", "qemu-loader", "copy-at-boot", "file", "runtime")

ISA_FEATURES = ("neon", "dotprod", "i8mm", "mve", "dsp", "fpu", "avx2")
OS_KINDS = ("none", "linux", "macos")
TOOLCHAINS = ("arm-none-eabi-gcc", "aarch64-linux-gnu-gcc", "clang", "cc")
BUILD_SYSTEMS = ("cmake", "platformio")
FLASHERS = ("qemu", "qemu-user", "platformio", "pyocd", "openocd", "picotool", "teensy_loader", "scp-ssh",
            "none")
LINK_KINDS = ("uart", "usb-cdc", "pty", "tcp", "stdio")
POWER_METERS = ("ina219", "ina226", "ina228", "ppk2", "joulescope", "os-counters", "icount-estimate")
VERIFICATION_LEVELS = ("emulated-and-tested", "build-tested", "profile-only")
QEMU_MODES = ("system", "user")

# --- patterns for every field that reaches a compiler, CMake, a path or an external tool -------------------
# Profiles are shared like any other config file, so they are untrusted input: a value that reaches a command
# line, a generated CMakeLists/C header or a path must match one of these (nothing else gets through; the
# writers quote as well, as a second line of defence).
FIELD_PATTERNS: dict[str, tuple[str, str]] = {
    # pattern name: (regular expression, what a valid value looks like, for the fix)
    "board_name": (r"[a-z0-9][a-z0-9-]{0,63}", "lower-case letters, digits and -"),
    "port": (r"[a-z0-9][a-z0-9-]{0,63}", "a directory name under firmware/ports/ (lower-case letters, digits, -)"),
    "cpu_name": (r"[a-z0-9][a-z0-9._+-]{0,63}", "a core or architecture name such as cortex-m7 or armv8.2-a"),
    # Only -m machine options: they pick the core, ISA and ABI. Anything else (-D, -include, -fplugin, -Wl,...)
    # would let a profile change what the build does beyond the CPU.
    "cpu_flag": (r"-m[a-z0-9][a-z0-9=+._,-]{0,63}", "-m options only, e.g. -mcpu=cortex-m7 or -mfloat-abi=hard"),
    "cmake_toolchain": (r"[a-z0-9][a-z0-9._-]{0,63}\.cmake", "a file name under firmware/cmake/, e.g. arm-none-eabi.cmake"),
    "platformio_env": (r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", "letters, digits, _ . -"),
    "uart_name": (r"[A-Za-z][A-Za-z0-9_]{0,15}", "the UART's name in the reference manual, e.g. USART1"),
    "qemu_name": (r"[a-z0-9][a-z0-9._-]{0,63}", "a QEMU machine or CPU name, e.g. mps3-an547"),
    "text": (r"[^\x00-\x1f\x7f]{0,200}", "one line of text without control characters"),
    # Flasher options
    "host": (r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
             r"[A-Za-z0-9])?)*\.?|\[?[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]?",
             "a host name, an IPv4 address or an IPv6 address (never starting with -)"),
    "user": (r"[A-Za-z_][A-Za-z0-9_.-]{0,31}", "a user name (letters, digits, _ . -; not starting with -)"),
    "relative_dir": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}(?:/[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}){0,7}",
                     "a relative directory of plain names, e.g. edgekit or work/edgekit (no .., no leading /)"),
    "openocd_cfg": (r"(?:[a-z0-9_-]{1,32}/)?[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}\.cfg",
                    "an OpenOCD script name from its search path, e.g. interface/stlink.cfg"),
    "target_name": (r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}", "a target/MCU name such as stm32h747xihx or TEENSY41"),
}
_COMPILED_PATTERNS = {name: re.compile(regex) for name, (regex, _) in FIELD_PATTERNS.items()}


def matches(pattern: str, value: str) -> bool:
    """Whether `value` is a valid FIELD_PATTERNS[pattern] (the whole string)."""
    return _COMPILED_PATTERNS[pattern].fullmatch(value) is not None


# Options each flasher kind accepts: option -> pattern name, or int for a TCP port. Anything else is refused.
PORT_NUMBER = "port_number"
FLASHER_OPTIONS: dict[str, dict[str, str]] = {
    "qemu": {}, "qemu-user": {}, "none": {}, "platformio": {}, "picotool": {},
    "pyocd": {"target": "target_name"},
    "openocd": {"interface": "openocd_cfg", "target": "openocd_cfg", "board": "openocd_cfg"},
    "teensy_loader": {"mcu": "target_name"},
    "scp-ssh": {"host": "host", "user": "user", "remote_dir": "relative_dir", "tcp_port": PORT_NUMBER,
                "ssh_port": PORT_NUMBER},
}
# QEMU command-line options a profile may add. Most QEMU options can run programs or open files (-netdev
# script=, -chardev, -device loader), so only these harmless ones pass: option -> value regex (None: a flag).
QEMU_OPTIONS: dict[str, str | None] = {"-no-reboot": None, "-smp": r"[1-8]", "-m": r"[0-9]{1,6}[MG]?"}

# Architectures where each vector extension can exist; a profile claiming one elsewhere is a typo.
_FEATURE_ARCHES = {
    "neon": ("armv8-a", "armv8.2-a", "armv8.4-a", "armv8.5-a", "armv8.6-a", "armv7-a"),
    "dotprod": ("armv8.2-a", "armv8.4-a", "armv8.5-a", "armv8.6-a"),
    "i8mm": ("armv8.6-a",),
    "mve": ("armv8.1-m.main",),
    "dsp": ("armv7e-m", "armv8-m.main", "armv8.1-m.main"),
    "avx2": ("x86_64",),
}


# --- dataclasses --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class MemoryRegion:
    """One address range of a board, as the planner and the linker script see it."""

    name: str                      # identifier, also the linker-script MEMORY name (upper-cased)
    kind: str                      # one of REGION_KINDS
    base: int                      # first address (0 for OS boards, where addresses are virtual)
    size_bytes: int
    read_bw_bytes_per_s: int       # sustained sequential read bandwidth, an estimate (see profile comment)
    writable: bool                 # can the running firmware write it (flash and QEMU's QSPI ROM: no)
    programmed_by: str             # one of PROGRAMMING_METHODS
    note: str = ""

    @property
    def end(self) -> int:
        """One past the last address."""
        return self.base + self.size_bytes

    @property
    def is_ram(self) -> bool:
        return self.kind in RAM_KINDS

    @property
    def holds_images(self) -> bool:
        """Whether an image part can be placed here at all."""
        return self.programmed_by != "runtime"


@dataclass(frozen=True)
class Cpu:
    core: str                      # e.g. cortex-m55, cortex-a76
    arch: str                      # e.g. armv8.1-m.main, armv8.2-a, x86_64
    features: frozenset[str]       # subset of ISA_FEATURES
    clock_hz: int

    def has(self, feature: str) -> bool:
        if feature not in ISA_FEATURES:
            raise ValueError(f"unknown ISA feature {feature!r}")
        return feature in self.features


@dataclass(frozen=True)
class Toolchain:
    compiler: str                  # one of TOOLCHAINS
    cpu_flags: tuple[str, ...]     # passed to every C file and the link (ABI must match everywhere)
    build_system: str              # cmake | platformio
    cmake_toolchain: str | None    # file name under firmware/cmake/, None for a native build
    platformio_env: str | None = None


@dataclass(frozen=True)
class Flasher:
    kind: str                      # one of FLASHERS
    options: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Link:
    kind: str                      # one of LINK_KINDS
    baud: int | None = None        # None where the transport has no baud rate (USB CDC, pty, TCP)
    uart: str | None = None        # the UART's name in the reference manual, e.g. "UART0", "USART1"
    uart_base: int | None = None   # its register base address (bare-metal ports)
    usb_cdc: bool = False          # the board also enumerates as a USB CDC serial port


@dataclass(frozen=True)
class Qemu:
    mode: str                      # system (qemu-system-arm) | user (qemu-aarch64 runs a Linux binary)
    binary: str
    cpu: str
    machine: str | None = None     # system mode only
    options: tuple[str, ...] = ()
    icount_shift: int | None = None  # suggested -icount shift for instruction-count timing estimates


@dataclass(frozen=True)
class Layout:
    """Where a bare-metal firmware's own sections go by default (the generator may move the arena)."""

    text: str                      # region for vectors + code + rodata + .data's load copy (boot address first)
    data: str                      # region for .data/.bss
    stack: str                     # region for the main stack
    arena: str                     # default region for the working arena (KV cache + activations)
    stack_bytes: int
    arena_bytes: int               # default arena size when no plan says otherwise


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    verification: str              # one of VERIFICATION_LEVELS
    os: str                        # one of OS_KINDS
    port: str                      # directory under firmware/ports/
    cpu: Cpu
    memory: tuple[MemoryRegion, ...]
    toolchain: Toolchain
    flasher: Flasher
    link: Link
    power_meters: tuple[str, ...]
    qemu: Qemu | None
    layout: Layout | None = None   # bare-metal boards only
    source: Path | None = None     # the TOML file the profile came from
    # [port_config]: board facts a port reads that differ between boards sharing it (e.g. the PSRAM chip-select
    # GPIO); generated into ek_config.h as EK_PORT_CFG_<NAME>.
    port_config: Mapping[str, int] = field(default_factory=dict)

    @property
    def clock_hz(self) -> int:
        return self.cpu.clock_hz

    @property
    def emulated(self) -> bool:
        return self.qemu is not None

    def region(self, name: str) -> MemoryRegion:
        for r in self.memory:
            if r.name == name:
                return r
        known = ", ".join(r.name for r in self.memory)
        raise EdgekitError(f"board {self.name} has no memory region {name!r} (regions: {known})",
                           path=self.source)

    def regions_of_kind(self, *kinds: str) -> tuple[MemoryRegion, ...]:
        return tuple(r for r in self.memory if r.kind in kinds)

    def region_at(self, address: int) -> MemoryRegion | None:
        for r in self.memory:
            if r.base <= address < r.end:
                return r
        return None

    @property
    def ram_bytes(self) -> int:
        return sum(r.size_bytes for r in self.memory if r.is_ram)

    @property
    def flash_bytes(self) -> int:
        return sum(r.size_bytes for r in self.memory if r.kind in ("flash", "xip-flash"))

    def cmake_args(self, firmware_dir: Path) -> list[str]:
        """The -D arguments that configure firmware/CMakeLists.txt for this board (generator and tests)."""
        args = [f"-DEK_PORT={self.port}", f"-DEK_BOARD={self.name}",
                f"-DEK_CPU_FLAGS={' '.join(self.toolchain.cpu_flags)}"]
        if self.toolchain.cmake_toolchain:
            args.append(f"-DCMAKE_TOOLCHAIN_FILE={Path(firmware_dir) / 'cmake' / self.toolchain.cmake_toolchain}")
        return args


# --- validation ---------------------------------------------------------------------------------------------

class _Fields:
    """Reads one TOML table, remembering which keys were used so leftovers are reported as unknown."""

    def __init__(self, data: Any, where: str, path: Path | None):
        self.where = where
        self.path = path
        if not isinstance(data, dict):
            self.fail(where, f"must be a table, got {type(data).__name__}", "see boards/README.md for the schema")
        self.data = data
        self.used: set[str] = set()

    def fail(self, fieldname: str, problem: str, fix: str) -> None:
        raise EdgekitError(f"field '{fieldname}' {problem}", path=self.path, fix=fix)

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def get(self, key: str, kind: type | tuple[type, ...], *, required: bool = True, default: Any = None,
            fix: str | None = None) -> Any:
        self.used.add(key)
        if key not in self.data:
            if required:
                self.fail(self._name(key), "is missing", fix or f"add `{key} = ...` to the profile")
            return default
        value = self.data[key]
        # TOML booleans are ints in Python; never accept one for the other.
        bad_bool = isinstance(value, bool) and kind in (int, (int,))
        if bad_bool or not isinstance(value, kind):
            want = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(self._name(key), f"must be {want}, got {value!r}", fix or f"write {key} as a {want}")
        return value

    def choice(self, key: str, choices: tuple[str, ...], *, required: bool = True, default: str | None = None) -> Any:
        value = self.get(key, str, required=required, default=default)
        if value is not None and value not in choices:
            self.fail(self._name(key), f"is {value!r}, not one of: {', '.join(choices)}",
                      f"use one of {', '.join(choices)}")
        return value

    def positive_int(self, key: str, *, required: bool = True, allow_zero: bool = False) -> int | None:
        value = self.get(key, int, required=required)
        if value is not None and (value < 0 or (value == 0 and not allow_zero)):
            self.fail(self._name(key), f"must be {'>= 0' if allow_zero else '> 0'}, got {value}",
                      "fix the number")
        return value

    def pattern(self, key: str, pattern: str, *, required: bool = True, default: str | None = None) -> Any:
        """A string field that must match FIELD_PATTERNS[pattern] in full."""
        value = self.get(key, str, required=required, default=default)
        if value is not None and not matches(pattern, value):
            self.fail(self._name(key), f"is {value!r}, which is not allowed here",
                      f"use {FIELD_PATTERNS[pattern][1]}")
        return value

    def str_list(self, key: str, *, choices: tuple[str, ...] | None = None, required: bool = True) -> tuple[str, ...]:
        value = self.get(key, list, required=required, default=[])
        for item in value:
            if not isinstance(item, str):
                self.fail(self._name(key), f"must be a list of strings, has {item!r}", "quote every item")
            if choices is not None and item not in choices:
                self.fail(self._name(key), f"has {item!r}, not one of: {', '.join(choices)}",
                          f"use items from {', '.join(choices)}")
        return tuple(value)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            known = ", ".join(sorted(self.used))
            self.fail(self._name(unknown[0]), "is not a known field", f"check the spelling; known fields: {known}")


def _region(data: Any, index: int, path: Path | None) -> MemoryRegion:
    f = _Fields(data, f"memory[{index}]", path)
    name = f.get("name", str)
    if not name.replace("_", "").isalnum() or not name[0].isalpha():
        f.fail(f"memory[{index}].name", f"is {name!r}", "use letters, digits and _ only, starting with a letter")
    f.where = f"memory[{index}] ({name})"
    kind = f.choice("kind", REGION_KINDS)
    base = f.positive_int("base", allow_zero=True)
    size = f.positive_int("size_bytes")
    bw = f.positive_int("read_bw_bytes_per_s")
    writable = f.get("writable", bool)
    programmed_by = f.choice("programmed_by", PROGRAMMING_METHODS)
    note = f.pattern("note", "text", required=False, default="")
    f.done()
    if kind in ("flash", "xip-flash") and programmed_by in ("copy-at-boot", "runtime"):
        f.fail(f"{f.where}.programmed_by", f"is {programmed_by!r} but a {kind} region keeps its contents",
               "use elf, flasher or qemu-loader")
    if kind in RAM_KINDS and not writable:
        f.fail(f"{f.where}.writable", f"is false but a {kind} region is RAM", "set writable = true")
    if base + size > 1 << 64:
        f.fail(f"{f.where}.size_bytes", "runs past the end of a 64-bit address space", "fix base or size")
    return MemoryRegion(name=name, kind=kind, base=base, size_bytes=size, read_bw_bytes_per_s=bw,
                        writable=writable, programmed_by=programmed_by, note=note)


QEMU_BINARIES = {"system": "qemu-system-arm", "user": "qemu-aarch64"}


def _check_qemu_options(q: _Fields, options: tuple[str, ...]) -> None:
    i = 0
    while i < len(options):
        option = options[i]
        if option not in QEMU_OPTIONS:
            q.fail("qemu.options", f"has {option!r}, which a profile may not pass to QEMU",
                   f"use only {', '.join(QEMU_OPTIONS)} (other options can open files or run programs)")
        value_pattern = QEMU_OPTIONS[option]
        if value_pattern is not None:
            if i + 1 >= len(options) or not re.fullmatch(value_pattern, options[i + 1]):
                q.fail("qemu.options", f"needs a value matching {value_pattern} after {option!r}",
                       f"write e.g. [\"{option}\", \"2\"]")
            i += 1
        i += 1


PORT_CONFIG_KEY = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def _port_config(data: Any, path: Path | None) -> dict[str, int]:
    """[port_config]: small integers (or booleans) keyed by C-identifier-safe names; nothing else reaches C."""
    f = _Fields(data, "port_config", path)
    out: dict[str, int] = {}
    for key in sorted(f.data):
        if not isinstance(key, str) or not PORT_CONFIG_KEY.match(key):
            f.fail(f"port_config.{key}", "is not a valid name", "use lower-case letters, digits and _ (at most 32)")
        value = f.get(key, (int, bool))
        if isinstance(value, bool):
            value = int(value)
        if not 0 <= value <= 0xFFFF_FFFF:
            f.fail(f"port_config.{key}", f"is {value}, outside 0..0xFFFFFFFF", "give a 32-bit unsigned number")
        out[key] = value
    f.done()
    return out


# One reader per TOML table, in the order a profile is checked (so the first problem reported is stable). Each
# takes the top-level fields and what the tables before it produced.

def _cpu(top: _Fields, path: Path | None) -> Cpu:
    c = _Fields(top.get("cpu", dict), "cpu", path)
    cpu = Cpu(core=c.pattern("core", "cpu_name"), arch=c.pattern("arch", "cpu_name"),
              features=frozenset(c.str_list("features", choices=ISA_FEATURES)),
              clock_hz=c.positive_int("clock_hz"))
    c.done()
    for feat in sorted(cpu.features):
        arches = _FEATURE_ARCHES.get(feat)
        if arches is not None and cpu.arch not in arches:
            c.fail("cpu.features", f"has {feat!r} but arch {cpu.arch!r} cannot have it",
                   f"remove {feat!r} or fix cpu.arch (it needs one of {', '.join(arches)})")
    return cpu


def _memory(top: _Fields, path: Path | None) -> tuple[MemoryRegion, ...]:
    raw_regions = top.get("memory", list, fix="add [[memory]] tables (name, kind, base, size_bytes, ...)")
    if not raw_regions:
        top.fail("memory", "is empty", "add at least one [[memory]] region")
    regions = tuple(_region(r, i, path) for i, r in enumerate(raw_regions))
    seen: dict[str, int] = {}
    for i, r in enumerate(regions):
        if r.name in seen:
            top.fail(f"memory[{i}].name", f"{r.name!r} is used twice", "give every region its own name")
        seen[r.name] = i
    by_base = sorted(range(len(regions)), key=lambda i: regions[i].base)
    for a, b in zip(by_base, by_base[1:]):
        ra, rb = regions[a], regions[b]
        if rb.base < ra.end:
            top.fail(f"memory[{b}] ({rb.name})",
                     f"overlaps memory[{a}] ({ra.name}): {rb.name} starts at {rb.base:#x}, "
                     f"{ra.name} ends at {ra.end:#x}",
                     "fix base/size_bytes so regions do not overlap")
    return regions


def _toolchain(top: _Fields, path: Path | None) -> Toolchain:
    t = _Fields(top.get("toolchain", dict), "toolchain", path)
    toolchain = Toolchain(compiler=t.choice("compiler", TOOLCHAINS),
                          cpu_flags=t.str_list("cpu_flags"),
                          build_system=t.choice("build_system", BUILD_SYSTEMS),
                          cmake_toolchain=t.pattern("cmake_toolchain", "cmake_toolchain", required=False),
                          platformio_env=t.pattern("platformio_env", "platformio_env", required=False))
    t.done()
    for flag in toolchain.cpu_flags:
        if not matches("cpu_flag", flag):
            t.fail("toolchain.cpu_flags", f"has {flag!r}, which is not allowed", f"use {FIELD_PATTERNS['cpu_flag'][1]}")
    if toolchain.build_system == "platformio" and not toolchain.platformio_env:
        t.fail("toolchain.platformio_env", "is missing for a platformio build", "name the platformio.ini env")
    return toolchain


def _flasher(top: _Fields, path: Path | None) -> Flasher:
    """[flasher]: kind, then the options that kind accepts (FLASHER_OPTIONS rows)."""
    fl = _Fields(top.get("flasher", dict), "flasher", path)
    kind = fl.choice("kind", FLASHERS)
    options: dict[str, Any] = {}
    for key, pattern in FLASHER_OPTIONS[kind].items():
        if pattern == PORT_NUMBER:
            value = fl.positive_int(key, required=False)
            if value is not None and value > 65535:
                fl.fail(f"flasher.{key}", f"is {value}, not a TCP port", "use a port number from 1 to 65535")
        else:
            value = fl.pattern(key, pattern, required=False)
        if value is not None:
            options[key] = value
    fl.done()
    return Flasher(kind=kind, options=options)


def _link(top: _Fields, path: Path | None, os_kind: str) -> Link:
    lk = _Fields(top.get("link", dict), "link", path)
    link = Link(kind=lk.choice("kind", LINK_KINDS), baud=lk.positive_int("baud", required=False),
                uart=lk.pattern("uart", "uart_name", required=False),
                uart_base=lk.positive_int("uart_base", required=False),
                usb_cdc=lk.get("usb_cdc", bool, required=False, default=False))
    lk.done()
    if link.kind == "uart" and (link.baud is None or link.uart is None):
        lk.fail("link.baud" if link.baud is None else "link.uart", "is missing for a UART link",
                "give the UART's name and baud rate")
    if os_kind == "none" and link.kind == "uart" and link.uart_base is None:
        lk.fail("link.uart_base", "is missing for a bare-metal UART link", "give the UART's register base address")
    return link


def _power(top: _Fields, path: Path | None) -> tuple[str, ...]:
    pw = _Fields(top.get("power", dict), "power", path)
    meters = pw.str_list("meters", choices=POWER_METERS)
    pw.done()
    return meters


def _qemu(top: _Fields, path: Path | None) -> Qemu | None:
    if "qemu" not in top.data:
        return None
    q = _Fields(top.get("qemu", dict), "qemu", path)
    mode = q.choice("mode", QEMU_MODES)
    qemu = Qemu(mode=mode, binary=q.choice("binary", (QEMU_BINARIES[mode],)), cpu=q.pattern("cpu", "qemu_name"),
                machine=q.pattern("machine", "qemu_name", required=False),
                options=q.str_list("options", required=False),
                icount_shift=q.positive_int("icount_shift", required=False, allow_zero=True))
    q.done()
    _check_qemu_options(q, qemu.options)
    if qemu.mode == "system" and not qemu.machine:
        q.fail("qemu.machine", "is missing for a system-mode emulator", "add machine = \"<qemu -machine name>\"")
    return qemu


def _layout(top: _Fields, path: Path | None, regions: tuple[MemoryRegion, ...]) -> Layout | None:
    if "layout" not in top.data:
        return None
    lay = _Fields(top.get("layout", dict), "layout", path)
    layout = Layout(text=lay.get("text", str), data=lay.get("data", str), stack=lay.get("stack", str),
                    arena=lay.get("arena", str), stack_bytes=lay.positive_int("stack_bytes"),
                    arena_bytes=lay.positive_int("arena_bytes"))
    lay.done()
    for key in ("text", "data", "stack", "arena"):
        rname = getattr(layout, key)
        region = next((r for r in regions if r.name == rname), None)
        if region is None:
            lay.fail(f"layout.{key}", f"names region {rname!r}, which the board does not have",
                     f"use one of {', '.join(r.name for r in regions)}")
        if key != "text" and not region.writable:
            lay.fail(f"layout.{key}", f"puts {key} in {rname!r}, which is not writable", "choose a RAM region")
        if key == "text" and region.programmed_by not in ("elf", "flasher", "qemu-loader"):
            lay.fail("layout.text", f"puts code in {rname!r}, which nothing programs before boot",
                     "choose the region the program is flashed or loaded into")
    if layout.arena_bytes > next(r for r in regions if r.name == layout.arena).size_bytes:
        lay.fail("layout.arena_bytes", "is larger than its region", "shrink it or choose a bigger region")
    return layout


def _check_combination(top: _Fields, board: Board) -> None:
    """What no single table can check: the tables against each other."""
    qemu, flasher = board.qemu, board.flasher
    if board.os == "none" and board.toolchain.build_system == "cmake" and board.layout is None:
        top.fail("layout", "is missing for a bare-metal CMake board",
                 "add a [layout] table (text, data, stack, arena, stack_bytes, arena_bytes)")
    if flasher.kind in ("qemu", "qemu-user") and qemu is None:
        top.fail("qemu", f"is missing but flasher.kind is {flasher.kind!r}", "add a [qemu] table")
    if qemu is not None and flasher.kind not in ("qemu", "qemu-user"):
        top.fail("flasher.kind", f"is {flasher.kind!r} but the board has a [qemu] table", "use qemu or qemu-user")
    if qemu is not None and (qemu.mode == "user") != (flasher.kind == "qemu-user"):
        top.fail("qemu.mode", f"is {qemu.mode!r} but flasher.kind is {flasher.kind!r}",
                 "user mode goes with qemu-user, system mode with qemu")
    if board.os != "none" and any(r.programmed_by in ("flasher", "qemu-loader", "elf") for r in board.memory):
        top.fail("memory", "has a flashed region on an OS board", "OS boards hold image parts as files (programmed_by = \"file\")")
    if (board.verification == "emulated-and-tested") != (qemu is not None):
        top.fail("verification", f"is {board.verification!r}",
                 "only boards with a [qemu] table are emulated-and-tested; real boards are build-tested or profile-only")


def board_from_dict(data: Mapping[str, Any], *, path: Path | None = None, expect_name: str | None = None) -> Board:
    """Validate a parsed profile and build the Board. Raises EdgekitError naming file and field."""
    top = _Fields(dict(data), "", path)
    name = top.pattern("name", "board_name")
    if expect_name is not None and name != expect_name:
        top.fail("name", f"is {name!r} but the file is {expect_name}.toml", f"set name = \"{expect_name}\"")
    description = top.pattern("description", "text")
    verification = top.choice("verification", VERIFICATION_LEVELS)
    os_kind = top.choice("os", OS_KINDS)
    port = top.pattern("port", "port")
    cpu = _cpu(top, path)
    regions = _memory(top, path)
    toolchain = _toolchain(top, path)
    flasher = _flasher(top, path)
    link = _link(top, path, os_kind)
    meters = _power(top, path)
    qemu = _qemu(top, path)
    layout = _layout(top, path, regions)
    port_config = _port_config(top.get("port_config", dict, required=False, default={}), path)
    top.done()
    board = Board(name=name, description=description, verification=verification, os=os_kind, port=port, cpu=cpu,
                  memory=regions, toolchain=toolchain, flasher=flasher, link=link, power_meters=meters, qemu=qemu,
                  layout=layout, source=path, port_config=port_config)
    _check_combination(top, board)
    return board
