"""Build a generated project (edgekit/gen/project.py) with CMake or PlatformIO and find the firmware binary."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgekit.errors import EdgekitError
from edgekit.gen.project import read_manifest

BUILD_DIR = "build"
BUILD_TIMEOUT_S = 900.0  # a cold cross build of runtime + kernels + port is well under a minute on 2 cores
ERROR_TAIL_LINES = 30
POSIX_BINARY = "edgekit-device"
MCU_BINARY = "edgekit_fw.elf"


@dataclass
class BuildResult:
    project: Path
    system: str
    binary: Path
    seconds: float
    log: str


# Lines by which the build tools report how far they are: Ninja "[12/40] ...", Make "[ 30%] ...".
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]")
_MAKE_PERCENT = re.compile(r"^\[\s*(\d+)%\]")

Progress = Callable[[str], None]


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the build tool and every compiler it started
    except ProcessLookupError:
        pass


def _run(cmd: list[str], cwd: Path, what: str, verbose: bool, progress: Progress | None = None) -> str:
    """Run a build step, streaming its output: echoed under verbose, turned into "compiling 12/40" progress
    otherwise, and quoted (the tail) in the error when it fails."""
    proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace", stdin=subprocess.DEVNULL, start_new_session=True)
    timer = threading.Timer(BUILD_TIMEOUT_S, _kill_group, (proc,))
    timer.start()
    lines: list[str] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            if verbose:
                sys.stderr.write(line)
                sys.stderr.flush()
            if progress:
                ninja, make = _NINJA_STEP.match(line), _MAKE_PERCENT.match(line)
                if ninja:
                    progress(f"{what} {ninja.group(1)}/{ninja.group(2)}")
                elif make:
                    progress(f"{what} {make.group(1)}%")
        proc.wait()
    except BaseException:
        _kill_group(proc)  # Ctrl-C: no compiler left running behind us
        proc.wait()
        raise
    finally:
        timer.cancel()
    out = "".join(lines)
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-ERROR_TAIL_LINES:])
        timed_out = proc.returncode == -signal.SIGKILL
        raise EdgekitError(f"{what} {'timed out' if timed_out else 'failed'} (exit {proc.returncode}):\n{tail}",
                           path=cwd, fix="run with --verbose for the whole log")
    return out


def firmware_binary(project: Path, system: str, manifest: dict) -> Path:
    if system == "platformio":
        from edgekit.build.platformio import firmware_elf_path

        return firmware_elf_path(project, manifest["board"])
    name = POSIX_BINARY if manifest["port"] == "posix" else MCU_BINARY
    return project / BUILD_DIR / "firmware" / name


def _write_flash_file(project: Path, manifest: dict, binary: Path) -> Path | None:
    """A real board's flash file (UF2/HEX: firmware + image parts) next to the ELF, for its flasher's table row."""
    from edgekit.boards import load_board
    from edgekit.flash.flashers import write_flash_file

    board = load_board(manifest["board"])
    parts = [(project / img["file"], int(img["address"])) for img in manifest["images"]]
    return write_flash_file(board, binary, parts)


def _check_host_can_build(project: Path, manifest: dict) -> None:
    """Boards whose SDK cannot exist on this machine (macOS on Linux): one line saying so, not a CMake log."""
    import platform

    from edgekit.boards import load_board

    board = load_board(manifest["board"])
    if board.os == "macos" and platform.system() != "Darwin" and not os.environ.get("EDGEKIT_MACOS_SDK"):
        raise EdgekitError(f"{board.name} builds on a Mac (the macOS SDK is not redistributable); this project was "
                           "generated and can be copied there", path=project,
                           fix="run `edgekit build` on the Mac, set EDGEKIT_MACOS_SDK=/path/to/MacOSX.sdk (with lld "
                               "installed), or check the same POSIX port here with `edgekit build --board rpi5`")


def build_project(project: str | Path, *, system: str = "cmake", jobs: int = 2, verbose: bool = False,
                  progress: Progress | None = None) -> BuildResult:
    """Configure (once) and build; incremental afterwards. Returns the path of the firmware binary.

    progress: called with a short description of each step ("configuring", "compiling 12/40", ...).
    """
    project = Path(project).resolve()
    manifest = read_manifest(project)
    start = time.perf_counter()
    if system not in ("cmake", "platformio"):
        raise EdgekitError(f"unknown build system {system!r}", fix="use cmake or platformio")
    from edgekit.boards import load_board
    from edgekit.build.toolchains import check_build_tools

    board = load_board(manifest["board"])
    _check_host_can_build(project, manifest)
    if system == "platformio" and not manifest.get("platformio", (project / "platformio.ini").is_file()):
        raise EdgekitError(f"board {manifest['board']} has no PlatformIO build", path=project,
                           fix="build it with --system cmake")
    if progress:
        progress("checking the build tools")
    check_build_tools(board)
    if system == "platformio":
        from edgekit.build.platformio import build_with_platformio

        if not (project / "platformio.ini").is_file():
            from edgekit.gen.platformio_project import write_platformio_for

            if progress:
                progress("deriving platformio.ini from the CMake project")
            write_platformio_for(project, board, list(manifest.get("kernels", ["c"])))
        if progress:
            progress("compiling with PlatformIO")
        binary = build_with_platformio(project, manifest["board"], verbose=verbose)
        _write_flash_file(project, manifest, Path(binary))
        return BuildResult(project, system, Path(binary), time.perf_counter() - start, "")
    cmake = shutil.which("cmake")
    build = project / BUILD_DIR
    log = ""
    configured = any((build / name).is_file() for name in ("build.ninja", "Makefile"))
    if not configured:
        if progress:
            progress("configuring")
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        try:
            log += _run([cmake, "-S", str(project), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release"],
                        project, "cmake configure", verbose)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)  # a half-configured cache would make the next try fail oddly
            raise
    if progress:
        progress("compiling")
    log += _run([cmake, "--build", str(build), "-j", str(jobs)], project, "compiling", verbose, progress)
    binary = firmware_binary(project, "cmake", manifest)
    if not binary.is_file():
        raise EdgekitError(f"the build finished but produced no {binary.name}", path=build)
    if progress:
        progress("writing the flash file")
    _write_flash_file(project, manifest, binary)
    return BuildResult(project, system, binary, time.perf_counter() - start, log)
