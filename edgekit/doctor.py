"""`edgekit doctor`: which tools each board needs, which of them this machine has, and a short self-test.

What a board needs is read from its profile (boards/<name>.toml) and the tables that already drive the work:
the [toolchain] compiler and build system, the [flasher] kind (the flasher table of edgekit/flash/flashers.py
names the tool and how to install it; QEMU boards name their emulator in [qemu]; scp-ssh needs ssh and scp), and
[power] meters that need a host package. TOOLS below says, per tool, how to find it, ask its version and install
it: one row per tool, whichever boards use it.

    report = check(all_boards())      # -> DoctorReport: tools (found/missing), boards (ready/missing)
    self_test(report)                 # reference generate of the bundled model + a compile per compiler
"""
from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from edgekit.boards import Board
from edgekit.build.toolchains import install_command

VERSION_TIMEOUT_S = 5.0     # `tool --version` answers at once; a tool that hangs is reported, not waited for
COMPILE_TIMEOUT_S = 30.0    # one tiny C file; cold caches on a loaded machine
SELF_TEST_TOKENS = 4


@dataclass(frozen=True)
class Tool:
    """One thing on PATH (or a Python package) edgekit runs, and how to get it."""

    name: str
    purpose: str
    install: str                          # apt package(s) or pip extra, as a command
    version_args: tuple[str, ...] = ("--version",)
    python_module: str | None = None      # a Python package instead of an executable
    distribution: str | None = None       # its name on PyPI, for the version
    compiles_c: bool = False              # the self-test compiles a trivial program with it


APT = "sudo apt-get install"  # for an emulator binary the apt table does not name
PICOTOOL_INSTALL = ("not packaged by Debian: build it from github.com/raspberrypi/picotool (needs libusb-1.0-0-dev), "
                    "or use the Raspberry Pi Pico SDK's")

TOOLS: dict[str, Tool] = {t.name: t for t in (
    Tool("gcc", "host builds (the POSIX device, host board)", install_command("gcc"), compiles_c=True),
    Tool("cc", "host builds (the POSIX device, host board)", install_command("cc"), compiles_c=True),
    Tool("arm-none-eabi-gcc", "Cortex-M firmware", install_command("arm-none-eabi-gcc"), compiles_c=True),
    Tool("aarch64-linux-gnu-gcc", "64-bit Arm Linux firmware (Raspberry Pi)",
         install_command("aarch64-linux-gnu-gcc"), compiles_c=True),
    Tool("clang", "Apple silicon firmware (cross from Linux with a macOS SDK)", install_command("clang"),
         compiles_c=True),
    Tool("ld64.lld", "linking Mach-O binaries on a machine that is not a Mac", install_command("ld64.lld"),
         ("--version",)),
    Tool("cmake", "configuring every firmware build", install_command("cmake")),
    Tool("ninja", "fast builds (CMake falls back to make without it)", install_command("ninja")),
    Tool("platformio", "PlatformIO builds (--system platformio; run as python -m platformio)",
         "pip install 'edgekit[platformio]'", python_module="platformio", distribution="platformio"),
    Tool("qemu-system-arm", "emulated Cortex-M boards", install_command("qemu-system-arm")),
    Tool("qemu-aarch64", "emulated Raspberry Pi boards (QEMU user mode)", install_command("qemu-aarch64")),
    Tool("ssh", "Linux boards reached over ssh", install_command("ssh"), ("-V",)),
    Tool("scp", "copying firmware and images to Linux boards", install_command("scp"), ()),
    Tool("ser2net", "sharing a board's serial port over the network (rfc2217://)", install_command("ser2net"),
         ("-v",)),
    Tool("ppk2-api", "the Nordic PPK2 meter (profile --meter ppk2)", "pip install 'edgekit[power]'",
         python_module="ppk2_api", distribution="ppk2-api"),
)}

# How a flasher tool says its version (teensy_loader_cli has no version option: its path is all we show).
FLASHER_VERSION_ARGS = {"picotool": ("version",), "teensy_loader_cli": ()}
# The Python package each [power] meter needs on the host (meters not listed need no host package).
METER_PACKAGES = {"ppk2": "ppk2-api"}
COMPILER_TOOLS = {"arm-none-eabi-gcc": "arm-none-eabi-gcc", "aarch64-linux-gnu-gcc": "aarch64-linux-gnu-gcc",
                  "clang": "clang", "cc": "cc"}


def _flasher_tool(kind: str) -> Tool | None:
    """A flasher-table row as a Tool: its executable and install text come from edgekit/flash/flashers.py."""
    from edgekit.flash.flashers import FLASHERS

    row = FLASHERS.get(kind)
    if row is None:
        return None
    if row.tool in TOOLS:
        return TOOLS[row.tool]
    install = row.install
    if row.tool == "picotool":
        install = PICOTOOL_INSTALL
    else:
        m = re.search(r"\(([^()]*(?:apt-get|pip)[^()]*)\)", install)
        install = m.group(1) if m else install
    return Tool(row.tool, f"the {kind} flasher", install, FLASHER_VERSION_ARGS.get(row.tool, ("--version",)))


@dataclass(frozen=True)
class Need:
    tool: Tool
    why: str
    required: bool = True


def board_needs(board: Board) -> list[Need]:
    """The tools `edgekit build` and `flash` use for this board, required first."""
    needs: list[Need] = []
    tc = board.toolchain
    needs.append(Need(TOOLS[COMPILER_TOOLS[tc.compiler]], f"[toolchain] compiler = {tc.compiler}"))
    if tc.build_system == "platformio":
        needs.append(Need(TOOLS["platformio"], "[toolchain] build_system = platformio"))
    needs.append(Need(TOOLS["cmake"], "every build configures with CMake", tc.build_system == "cmake"))
    needs.append(Need(TOOLS["ninja"], "faster builds", required=False))
    if board.os == "macos" and platform.system() != "Darwin":
        needs.append(Need(TOOLS["ld64.lld"], "macOS firmware linked on Linux"))
    kind = board.flasher.kind
    if kind in ("qemu", "qemu-user") and board.qemu is not None:
        needs.append(Need(TOOLS[board.qemu.binary] if board.qemu.binary in TOOLS else
                          Tool(board.qemu.binary, "the emulator", f"{APT} qemu-system-arm qemu-user"),
                          f"[qemu] binary = {board.qemu.binary}"))
    elif kind == "scp-ssh":
        needs += [Need(TOOLS["ssh"], "[flasher] kind = scp-ssh"), Need(TOOLS["scp"], "[flasher] kind = scp-ssh")]
    elif kind != "none":
        tool = _flasher_tool(kind)
        if tool is not None:
            needs.append(Need(tool, f"[flasher] kind = {kind}"))
    if board.qemu is None and board.os == "none":
        if tc.build_system != "platformio" and tc.compiler == "arm-none-eabi-gcc":
            needs.append(Need(TOOLS["platformio"], "optional PlatformIO build of the same project", required=False))
        needs.append(Need(TOOLS["ser2net"], "optional: share the board's serial port (rfc2217://)", required=False))
    for meter in board.power_meters:
        if meter in METER_PACKAGES:
            needs.append(Need(TOOLS[METER_PACKAGES[meter]], f"[power] meter {meter}", required=False))
    return needs


@dataclass
class ToolStatus:
    tool: Tool
    path: str | None
    version: str | None = None
    problem: str | None = None       # found but does not run / does not compile
    compile_ok: bool | None = None   # self-test result for compilers
    compile_seconds: float | None = None

    @property
    def found(self) -> bool:
        return self.path is not None and self.problem is None

    def to_dict(self) -> dict:
        t = self.tool
        d = {"name": t.name, "found": self.found, "path": self.path, "version": self.version,
             "purpose": t.purpose, "install": None if self.found else t.install}
        if self.problem:
            d["problem"] = self.problem
        if self.compile_ok is not None:
            d["compiles"] = self.compile_ok
        return d


def _first_line(text: str) -> str:
    return next((ln.strip() for ln in text.splitlines() if ln.strip()), "")


def find_tool(tool: Tool) -> ToolStatus:
    """Where the tool is and its version (never raises; a tool that does not run is found with a problem)."""
    if tool.python_module is not None:
        spec = importlib.util.find_spec(tool.python_module)
        if spec is None:
            return ToolStatus(tool, None)
        try:
            version = importlib.metadata.version(tool.distribution or tool.name)
        except importlib.metadata.PackageNotFoundError:
            version = None
        return ToolStatus(tool, spec.origin or tool.python_module, version)
    path = shutil.which(tool.name)
    if path is None:
        return ToolStatus(tool, None)
    if not tool.version_args:
        return ToolStatus(tool, path)
    try:
        proc = subprocess.run([path, *tool.version_args], capture_output=True, text=True, errors="replace",
                              timeout=VERSION_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        return ToolStatus(tool, path, problem=f"`{tool.name} {' '.join(tool.version_args)}` did not answer within "
                                              f"{VERSION_TIMEOUT_S:g} s")
    except OSError as exc:
        return ToolStatus(tool, path, problem=f"does not run ({exc.strerror})")
    return ToolStatus(tool, path, _first_line(proc.stdout) or _first_line(proc.stderr) or None)


@dataclass
class BoardStatus:
    board: Board
    needs: list[Need]
    missing: list[str]              # required tools not found
    missing_optional: list[str]
    note: str | None = None

    @property
    def ready(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict:
        return {"name": self.board.name, "ready": self.ready, "verification": self.board.verification,
                "needs": [{"tool": n.tool.name, "why": n.why, "required": n.required} for n in self.needs],
                "missing": self.missing, "missing_optional": self.missing_optional, "note": self.note}


@dataclass
class SelfTest:
    name: str
    ok: bool
    detail: str
    seconds: float

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "seconds": round(self.seconds, 3)}


@dataclass
class DoctorReport:
    tools: dict[str, ToolStatus]
    boards: list[BoardStatus]
    self_tests: list[SelfTest] = field(default_factory=list)

    def board(self, name: str) -> BoardStatus:
        return next(b for b in self.boards if b.board.name == name)

    def to_dict(self) -> dict:
        return {"tools": [s.to_dict() for s in self.tools.values()], "boards": [b.to_dict() for b in self.boards],
                "self_test": [t.to_dict() for t in self.self_tests]}


def check(boards: Iterable[Board]) -> DoctorReport:
    """Find every tool the boards need (each looked up once) and say per board what is missing."""
    boards = list(boards)
    per_board = [(b, board_needs(b)) for b in boards]
    wanted: dict[str, Tool] = {}
    for name in ("gcc", "clang", "arm-none-eabi-gcc", "aarch64-linux-gnu-gcc"):
        wanted[name] = TOOLS[name]   # every compiler is reported (and self-tested), whichever boards are checked
    for _, needs in per_board:
        for n in needs:
            wanted.setdefault(n.tool.name, n.tool)
    order = list(TOOLS)  # the table's order (compilers, build, emulators, ...); flasher-table tools after it
    ranked = sorted(wanted, key=lambda name: order.index(name) if name in order else len(order))
    tools = {name: find_tool(wanted[name]) for name in ranked}
    statuses = []
    for board, needs in per_board:
        missing = [n.tool.name for n in needs if n.required and not tools[n.tool.name].found]
        optional = [n.tool.name for n in needs if not n.required and not tools[n.tool.name].found]
        note = None
        if board.os == "macos" and platform.system() != "Darwin":
            sdk = os.environ.get("EDGEKIT_MACOS_SDK")
            # the same test firmware/cmake/clang-aarch64-apple.cmake makes before it configures anything
            if not sdk or not (Path(sdk) / "usr" / "include" / "stdint.h").is_file():
                missing.append("macOS SDK")
                note = (f"EDGEKIT_MACOS_SDK={sdk} holds no usr/include/stdint.h" if sdk else
                        "set EDGEKIT_MACOS_SDK=/path/to/MacOSX.sdk to build here, or build on the Mac")
        statuses.append(BoardStatus(board, needs, missing, optional, note))
    return DoctorReport(tools, statuses)


# --- self-test ---------------------------------------------------------------------------------------------

_TRIVIAL_C = """#include <stdint.h>
#include <string.h>
int edgekit_doctor(const char *s) { return (int)strlen(s) + (int)sizeof(uint32_t); }
"""


def compile_check(status: ToolStatus, work: Path) -> SelfTest:
    """Compile (not link: bare-metal targets have no default startup code) a file that includes libc headers,
    which also proves the target's C library is installed (newlib, the arm64 cross libc)."""
    src = work / "doctor.c"
    src.write_text(_TRIVIAL_C)
    obj = work / f"doctor-{status.tool.name}.o"
    start = time.monotonic()
    try:
        proc = subprocess.run([status.path, "-O2", "-c", str(src), "-o", str(obj)], capture_output=True, text=True,
                              errors="replace", timeout=COMPILE_TIMEOUT_S, stdin=subprocess.DEVNULL)
        ok = proc.returncode == 0 and obj.is_file()
        detail = "compiles C with its C library" if ok else _last_error(proc.stdout + proc.stderr)
    except subprocess.TimeoutExpired:
        ok, detail = False, f"did not finish within {COMPILE_TIMEOUT_S:g} s"
    except OSError as exc:
        ok, detail = False, f"does not run ({exc.strerror})"
    seconds = time.monotonic() - start
    status.compile_ok, status.compile_seconds = ok, seconds
    return SelfTest(f"compile with {status.tool.name}", ok, detail, seconds)


def _last_error(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if "error" in ln.lower():
            return ln
    return lines[-1] if lines else "failed without output"


def reference_check(tokens: int = SELF_TEST_TOKENS) -> SelfTest:
    """The bundled model loads and the reference engine generates a few greedy tokens."""
    from edgekit.errors import EdgekitError

    start = time.monotonic()
    try:
        import edgekit
        from edgekit.models import DEFAULT_MODEL
        from edgekit.reference.generate import generate_tokens
        from edgekit.reference.sampler import Sampler

        model = edgekit.load(DEFAULT_MODEL)
        ids = list(generate_tokens(model, model.encode("In the beginning"), tokens, Sampler(), stop_at_eos=False))
        ok = len(ids) == tokens
        detail = f"bundled model {DEFAULT_MODEL}: {len(ids)} tokens: {model.decode(ids)!r}"
    except EdgekitError as exc:
        ok, detail = False, str(exc)
    return SelfTest("reference generate", ok, detail, time.monotonic() - start)


def self_test(report: DoctorReport) -> list[SelfTest]:
    """Run the checks; a board whose compiler is present but cannot compile (its C library missing) is then
    not ready either."""
    tests = [reference_check()]
    with tempfile.TemporaryDirectory(prefix="edgekit-doctor-") as tmp:
        for status in report.tools.values():
            if status.tool.compiles_c and status.found:
                tests.append(compile_check(status, Path(tmp)))
    for board in report.boards:
        compiler = report.tools[COMPILER_TOOLS[board.board.toolchain.compiler]]
        if compiler.compile_ok is False:
            board.missing.append(f"{compiler.tool.name} cannot compile (install: {compiler.tool.install})")
    report.self_tests = tests
    return tests
