"""Writing firmware and image parts to real boards with their vendors' tools: one table row per [flasher] kind.

A row says which tool, how to install it, which flash file `edgekit build` writes for it, the exact command
lines (argv lists: no option value ever reaches a shell), how the tool verifies, which failures are worth one
more try, and which outputs mean "no board attached" / "not in flashing mode" -- each turned into ONE line that
names the fix (exit status 2 from the CLI).

    kind           tool               flash file              verify
    openocd        openocd            ELF + raw image parts   verify_image after every write (reads back)
    pyocd          pyocd              ELF + raw image parts   none (pyocd load does not read back)
    picotool       picotool           UF2, everything         picotool load -v (reads back)
    teensy_loader  teensy_loader_cli  Intel HEX, everything   none (the HalfKay bootloader cannot read flash)
    platformio     pio                (its own build)         whatever the board's upload tool does

Why these files:
  * openocd: the ELF as it is (OpenOCD places each PT_LOAD at its physical address) and each image part as
    the raw .ekm it already is, at its planned address. One HEX with everything would be ~2.8x the bytes as
    text, and keeping files separate lets verify_image name the part that failed. The external QSPI flash is
    written through the `stmqspi` flash bank that OpenOCD's board/stm32h747i-disco.cfg defines (it sets
    QUADSPI=1, so target/stm32h7x.cfg adds `flash bank ... stmqspi 0x90000000`, and its reset-init handler
    sets the QUADSPI pins and memory-mapped mode): profiles name that script as `board`.
  * picotool: one UF2 (edgekit/flash/flash_files.py), so the same file also works by drag-and-drop onto the
    RP2350's BOOTSEL drive. `picotool load -v -x` writes, reads back and starts it.
  * teensy_loader: teensy_loader_cli takes only one Intel HEX file, so firmware and parts go into one. It
    does not complain about addresses outside the flash (teensy_loader_cli 2.2), so flash_files refuses any
    byte outside the board's flasher-written regions before the file is written.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

from edgekit.boards import Board
from edgekit.errors import EdgekitError
from edgekit.flash import flash_files
from edgekit.flash.tools import Diagnosis, require_tool, run_tool

Parts = Sequence[tuple[Path, int]]


@dataclass(frozen=True)
class Step:
    """One external command: its argv and what it does, for messages."""

    argv: list[str]
    what: str


@dataclass(frozen=True)
class FlashJob:
    """What to write: the firmware ELF, its flash file (UF2/HEX, when the flasher takes one) and image parts."""

    board: Board
    project: Path
    elf: Path
    parts: Parts
    flash_file: Path | None


@dataclass(frozen=True)
class FlasherKind:
    kind: str
    tool: str                               # executable looked up on PATH
    install: str                            # how to get it (Debian package or pip)
    flash_file: str | None                  # "uf2" | "hex" | None: edgekit build writes it next to the ELF
    options: Mapping[str, str | None]       # accepted [flasher] options -> default (None: no default)
    steps: Callable[[str, FlashJob, Mapping[str, str]], list[Step]]  # (tool path, job, options) -> commands
    verify: str                             # how the written bytes are checked (docs and --dry-run notes)
    diagnoses: tuple[Diagnosis, ...] = ()
    transient: re.Pattern[str] | None = None  # a failure worth another attempt (USB hiccups)
    retries: int = 0
    double_dash: bool = False               # the tool's parser takes `--` before file arguments


def _d(pattern: str, problem: str, fix: str) -> Diagnosis:
    return Diagnosis(re.compile(pattern, re.IGNORECASE), problem, fix)


# --- command lines, one builder per kind --------------------------------------------------------------------

def _check_plain(value: str, what: str, pattern: str, board: Board) -> str:
    if not re.fullmatch(pattern, value):
        raise EdgekitError(f"[flasher] {what} = {value!r} is not a plain name", path=board.source,
                           fix=f"use a name matching {pattern}")
    return value


def _tcl_word(path: Path) -> str:
    """A path as one word of an OpenOCD (Jim Tcl) command: braces quote everything but braces and backslashes."""
    text = str(path)
    if any(c in text for c in "{}\\") or any(ord(c) < 0x20 for c in text):
        raise EdgekitError("OpenOCD cannot be given this path (braces, backslashes or control characters)",
                           path=path, fix="move the project to a plain directory name")
    return "{" + text + "}"


def _openocd_script(opts: Mapping[str, str], key: str, board: Board) -> str:
    """An OpenOCD script under the scripts directory's `key`/ folder: `stm32h747i-disco.cfg` or, the same,
    `board/stm32h747i-disco.cfg`. Plain names only: nothing else reaches OpenOCD's search path."""
    name = _check_plain(opts[key], key, rf"({key}/)?[A-Za-z0-9_][A-Za-z0-9_.-]*\.cfg", board)
    return name if name.startswith(f"{key}/") else f"{key}/{name}"


def _openocd_steps(tool: str, job: FlashJob, opts: Mapping[str, str]) -> list[Step]:
    if "board" in opts:
        # The board script sources its interface and target and adds the board's external flash banks.
        if "interface" in opts or "target" in opts:
            raise EdgekitError("[flasher] gives both board and interface/target; the board script already "
                               "sources its interface and target", path=job.board.source,
                               fix="keep only board = \"...cfg\"")
        scripts = [_openocd_script(opts, "board", job.board)]
    elif "interface" in opts and "target" in opts:
        scripts = [_openocd_script(opts, "interface", job.board), _openocd_script(opts, "target", job.board)]
    else:
        raise EdgekitError("[flasher] kind = \"openocd\" needs board = \"<board>.cfg\" or interface and target",
                           path=job.board.source,
                           fix="name OpenOCD scripts, e.g. board = \"board/stm32h747i-disco.cfg\"")
    # init + reset init: connect and run the script's reset-init handler (clocks, QSPI pins) before writing.
    commands = ["init", "reset init",
                f"flash write_image erase {_tcl_word(job.elf)}", f"verify_image {_tcl_word(job.elf)}"]
    for path, address in job.parts:
        # Explicit type `bin`: an image part is raw bytes; OpenOCD must not guess a format from its first bytes.
        commands += [f"flash write_image erase {_tcl_word(path)} {address:#x} bin",
                     f"verify_image {_tcl_word(path)} {address:#x} bin"]
    commands += ["reset run", "shutdown"]
    argv = [tool]
    for script in scripts:
        argv += ["-f", script]
    for command in commands:
        argv += ["-c", command]
    return [Step(argv, "openocd (write + verify firmware and image parts)")]


def _pyocd_steps(tool: str, job: FlashJob, opts: Mapping[str, str]) -> list[Step]:
    target = ["--target", _check_plain(opts["target"], "target", r"[A-Za-z0-9_]+", job.board)] \
        if opts.get("target") else []
    steps = [Step([tool, "load", *target, "--format", "elf", "--", str(job.elf)], "pyocd load (firmware)")]
    for path, address in job.parts:
        steps.append(Step([tool, "load", *target, "--format", "bin", "--base-address", f"{address:#x}", "--",
                           str(path)], f"pyocd load ({path.name})"))
    return steps


def _picotool_steps(tool: str, job: FlashJob, opts: Mapping[str, str]) -> list[Step]:
    assert job.flash_file is not None
    # -v reads every written range back and compares; -x starts the program afterwards. The UF2 holds the image
    # parts too, so one load writes everything. (picotool's option parser has no `--`; the path is absolute.)
    return [Step([tool, "load", "-v", "-x", "-t", "uf2", str(job.flash_file)], "picotool load")]


def _teensy_steps(tool: str, job: FlashJob, opts: Mapping[str, str]) -> list[Step]:
    assert job.flash_file is not None
    mcu = _check_plain(opts["mcu"], "mcu", r"[A-Za-z0-9_]+", job.board)
    # No -w: with it teensy_loader_cli waits, without limit, for a Teensy in bootloader mode; without it the
    # tool fails at once ("Unable to open device") and we say which button to press. teensy_loader_cli rejects
    # `--` ("Unknown option"); the HEX path is absolute, so it cannot be read as an option.
    return [Step([tool, f"--mcu={mcu}", "-v", str(job.flash_file)], "teensy_loader_cli")]


def _platformio_steps(tool: str, job: FlashJob, opts: Mapping[str, str]) -> list[Step]:
    if job.parts:
        raise EdgekitError(f"`pio run -t upload` writes only the firmware, not the {len(job.parts)} image part(s) of "
                           f"{job.board.name}", path=job.board.source,
                           fix="use a flasher that writes image parts (openocd, pyocd, picotool, teensy_loader)")
    return [Step([tool, "run", "-d", str(job.project), "-t", "upload"], "pio run -t upload")]


FLASHERS: dict[str, FlasherKind] = {row.kind: row for row in (
    FlasherKind(
        kind="openocd", tool="openocd", install="openocd (sudo apt-get install openocd)", flash_file=None,
        options={"board": None, "interface": None, "target": None}, steps=_openocd_steps,
        verify="verify_image after each write (reads the flash back)",
        diagnoses=(
            _d(r"LIBUSB_ERROR_ACCESS", "no permission to open the ST-LINK",
               "install the udev rules for ST-LINK (openocd's 60-openocd.rules) and re-plug the board"),
            _d(r"Error: open failed|No ST-?LINK|unable to find a matching CMSIS-DAP|couldn't open",
               "no ST-LINK debug probe found",
               "connect the board's ST-LINK USB port and check the udev rules (openocd's 60-openocd.rules)"),
            _d(r"init mode failed|unable to connect to the target|Error connecting DP",
               "the ST-LINK answers but the MCU does not",
               "check that the board is powered and its debug jumpers are on; try again holding RESET"),
            _d(r"No flash at address", "OpenOCD has no flash bank at an address the flash file writes",
               "name the OpenOCD board script that defines the external flash bank in [flasher] "
               "(STM32H747I-DISCO: board = \"board/stm32h747i-disco.cfg\")"),
            _d(r"checksum mismatch|diff \d+ address|verif\w* failed", "the flash did not read back as written",
               "flash again; if it fails the same way, check that the flash is not write-protected (option bytes)"),
        ),
        transient=re.compile(r"LIBUSB_ERROR_(TIMEOUT|IO|PIPE)|timed out while waiting", re.IGNORECASE),
        retries=1,
    ),
    FlasherKind(
        kind="pyocd", tool="pyocd", install="pyocd (pip install pyocd)", flash_file=None,
        options={"target": None}, steps=_pyocd_steps, verify="none (pyocd load does not read back)",
        diagnoses=(
            _d(r"No connected debug probes|No available debug probes", "no debug probe found",
               "connect the board's debug probe USB port (and install its udev rules)"),
            _d(r"Target type .* not recognized|unknown target", "pyocd does not know the [flasher] target",
               "install the target's CMSIS pack (pyocd pack install <target>) or fix target"),
        ),
        transient=re.compile(r"USB|timed? ?out", re.IGNORECASE), retries=1, double_dash=True,
    ),
    FlasherKind(
        kind="picotool", tool="picotool",
        install="picotool (not packaged by Debian: build it from github.com/raspberrypi/picotool, or use the "
                "Raspberry Pi Pico SDK's)",
        flash_file="uf2", options={}, steps=_picotool_steps, verify="picotool load -v (reads the flash back)",
        diagnoses=(
            _d(r"appears to be an RP-series device in BOOTSEL mode, but picotool was unable to connect|"
               r"LIBUSB_ERROR_ACCESS",
               "the board is in BOOTSEL mode but picotool may not open it",
               "install picotool's udev rules (udev/99-picotool.rules) or run as a user in the plugdev group"),
            _d(r"No accessible RP-series devices|No accessible RP2040 devices|not in BOOTSEL mode",
               "no RP2350 in BOOTSEL mode found",
               "hold the BOOTSEL button while plugging the board in, then flash again"),
            _d(r"verif\w*[^\n]*fail", "the flash did not read back as written",
               "flash again; if it persists, run `picotool erase` first"),
        ),
        transient=re.compile(r"LIBUSB_ERROR_(TIMEOUT|IO|PIPE)", re.IGNORECASE), retries=1,
    ),
    FlasherKind(
        kind="teensy_loader", tool="teensy_loader_cli",
        install="teensy_loader_cli (sudo apt-get install teensy-loader-cli)", flash_file="hex",
        options={"mcu": "TEENSY41"}, steps=_teensy_steps,
        verify="none (the HalfKay bootloader cannot read flash back)",
        diagnoses=(
            _d(r"Unable to open device", "no Teensy in bootloader mode found",
               "press the program button on the Teensy (it enters its bootloader), then flash again"),
            _d(r"Unknown MCU type", "teensy_loader_cli does not know the [flasher] mcu",
               "set mcu to a name from `teensy_loader_cli --list-mcus` (Teensy 4.1: TEENSY41)"),
            _d(r"Found device but unable to open|Unable to claim interface", "no permission to open the Teensy",
               "install PJRC's udev rules (00-teensy.rules) and re-plug the board"),
            _d(r"error reading intel hex file", "teensy_loader_cli could not read the HEX file",
               "rebuild the project with `edgekit build`"),
        ),
        transient=re.compile(r"error writing to Teensy", re.IGNORECASE), retries=1,
    ),
    FlasherKind(
        kind="platformio", tool="pio", install="platformio (pip install 'edgekit[platformio]')", flash_file=None,
        options={}, steps=_platformio_steps, verify="the board's PlatformIO upload tool decides",
        diagnoses=(_d(r"Please specify `upload_port`|No (serial|upload) port", "no board found to upload to",
                      "connect the board (and put it in its bootloader mode if it has one), then flash again"),),
    ),
)}


# --- the table, used ------------------------------------------------------------------------------------------

def flasher_kind(board: Board) -> FlasherKind:
    row = FLASHERS.get(board.flasher.kind)
    if row is None:
        raise EdgekitError(f"board {board.name} has no flasher edgekit can drive (flasher kind "
                           f"{board.flasher.kind!r})", path=board.source,
                           fix="flash the firmware and image parts by hand, then use --port")
    return row


def _options(board: Board, row: FlasherKind) -> dict[str, str]:
    given = dict(board.flasher.options)
    unknown = sorted(set(given) - set(row.options))
    if unknown:
        known = ", ".join(row.options) or "none"
        raise EdgekitError(f"[flasher] option {unknown[0]!r} is not one the {row.kind} flasher takes (it takes: "
                           f"{known})", path=board.source, fix="remove it or check its spelling")
    opts = {k: v for k, v in row.options.items() if v is not None}
    for key, value in given.items():
        if not isinstance(value, str):
            raise EdgekitError(f"[flasher] {key} must be a string, got {value!r}", path=board.source,
                               fix=f'write {key} = "..."')
        opts[key] = value
    return opts


# The Arm core decides a picotool board's UF2 family: RP2040 is a Cortex-M0+ (armv6-m); RP2350 a Cortex-M33
# (armv8-m.main), whose boot ROM takes Arm Secure images as family RP2350_ARM_S (pico-sdk boot/uf2.h).
UF2_FAMILY_BY_ARCH = {"armv6-m": flash_files.RP2040_FAMILY_ID, "armv8-m.main": flash_files.RP2350_ARM_S_FAMILY_ID}


def flash_file_path(board: Board, elf: Path) -> Path | None:
    """Where `edgekit build` puts the board's flash file: next to the ELF (edgekit_fw.uf2 / edgekit_fw.hex)."""
    row = FLASHERS.get(board.flasher.kind)
    if row is None or row.flash_file is None:
        return None
    return elf.with_suffix(f".{row.flash_file}")


def write_flash_file(board: Board, elf: Path, parts: Parts) -> Path | None:
    """Write the board's flash file (firmware + every image part) next to the ELF; None when its flasher takes
    the ELF itself."""
    path = flash_file_path(board, elf)
    if path is None:
        return None
    segments = flash_files.flash_segments(board, elf, parts)
    if path.suffix == ".hex":
        return flash_files.write_ihex(segments, path)
    family = UF2_FAMILY_BY_ARCH.get(board.cpu.arch)
    if family is None:
        raise EdgekitError(f"no UF2 family ID known for {board.cpu.arch} ({board.name})", path=board.source,
                           fix="use a picotool board with an RP2040 or RP2350")
    flash = board.region_at(segments[0].address)
    e10 = flash if family == flash_files.RP2350_ARM_S_FAMILY_ID else None
    return flash_files.write_uf2(segments, path, family, e10_flash=e10)


def flash_steps(board: Board, project: Path, elf: Path, parts: Parts, *, tool: str | None = None) -> list[Step]:
    """The exact commands that write firmware + parts to the board (a pure function: nothing is run or checked
    on disk; tool defaults to the bare executable name)."""
    row = flasher_kind(board)
    job = FlashJob(board, Path(project), Path(elf), [(Path(p), int(a)) for p, a in parts],
                   flash_file_path(board, Path(elf)))
    return row.steps(tool or row.tool, job, _options(board, row))


def flash_real_board(board: Board, project: Path, binary: Path, parts: list[tuple[Path, int]]) -> None:
    """Write firmware and image parts with the board's flasher, verifying where the tool can read back."""
    row = flasher_kind(board)
    steps = flash_steps(board, project, binary, parts, tool=row.tool)  # options checked before anything runs
    flash_file = flash_file_path(board, binary)
    if flash_file is not None:
        newest_input = max([binary.stat().st_mtime] + [Path(p).stat().st_mtime for p, _ in parts])
        if not flash_file.is_file() or flash_file.stat().st_mtime < newest_input:
            raise EdgekitError(f"the flash file {flash_file.name} is missing or older than the firmware",
                               path=flash_file.parent, fix=f"run `edgekit build {project}`")
    tool = require_tool(row.tool, row.install)
    for step in steps:
        run_tool([tool, *step.argv[1:]], step.what, diagnoses=row.diagnoses, transient=row.transient,
                 retries=row.retries)


# --- edgekit flash --dry-run ----------------------------------------------------------------------------------

QEMU_RUNTIME_TMP = "<tempdir>"    # start_emulator makes a fresh private directory for the QMP socket
QEMU_RUNTIME_PORT = "<free-port>"  # ... and, for --link tcp, takes a free 127.0.0.1 port at start-up


def dry_run_commands(project: str | Path, *, link: str = "pty", icount_shift: int | None = None,
                     marker: str | None = None, threads: int = 1) -> list[list[str]]:
    """The commands `edgekit flash PROJECT` would run, for every kind of board; nothing runs, no tool needed.

    Values chosen only when QEMU starts (its private socket directory, a free TCP port) appear as
    <tempdir> and <free-port>; for ssh boards the local forwarding port shown is one free now (a real run takes
    whichever is free then).
    """
    from edgekit.boards import load_board
    from edgekit.build.project import firmware_binary
    from edgekit.flash import device
    from edgekit.gen.project import read_manifest

    project = Path(project).resolve()
    manifest = read_manifest(project)
    board = load_board(manifest["board"])
    parts = device._project_parts(project, manifest)
    try:
        binary = device._binary(project, manifest)
    except EdgekitError:
        binary = firmware_binary(project, "cmake", manifest)  # not built yet: where `edgekit build` puts it
    launcher = device.LAUNCHERS.get(board.flasher.kind)
    if launcher is not None:
        return launcher.commands(device.Launch(board, project, manifest, binary, parts, link=link,
                                               icount_shift=icount_shift, threads=threads, marker=marker))
    return [step.argv for step in flash_steps(board, project, binary, parts)]


def format_commands(commands: Sequence[Sequence[str]]) -> str:
    """One shell-quoted line per command (copy-pasteable)."""
    return "\n".join(shlex.join([str(a) for a in c]) for c in commands)


__all__ = ["FLASHERS", "FlasherKind", "FlashJob", "Step", "dry_run_commands", "flash_file_path", "flash_real_board",
           "flash_steps", "format_commands", "write_flash_file", "UF2_FAMILY_BY_ARCH"]
