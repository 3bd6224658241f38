"""Build a generated project (edgekit/gen/project.py) with CMake or PlatformIO and find the firmware binary."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

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


def _run(cmd: list[str], cwd: Path, what: str, verbose: bool) -> str:
    proc = subprocess.run(cmd, cwd=cwd, capture_output=not verbose, text=True, timeout=BUILD_TIMEOUT_S)
    out = (proc.stdout or "") + (proc.stderr or "")
    if proc.returncode != 0:
        tail = "\n".join(out.strip().splitlines()[-ERROR_TAIL_LINES:])
        raise EdgekitError(f"{what} failed (exit {proc.returncode}):\n{tail}", path=cwd,
                           fix="run with --verbose for the whole log")
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


def build_project(project: str | Path, *, system: str = "cmake", jobs: int = 2, verbose: bool = False) -> BuildResult:
    """Configure (once) and build; incremental afterwards. Returns the path of the firmware binary."""
    project = Path(project).resolve()
    manifest = read_manifest(project)
    start = time.perf_counter()
    if system == "platformio":
        if not (project / "platformio.ini").is_file():
            raise EdgekitError(f"board {manifest['board']} has no PlatformIO build in this project", path=project,
                               fix="build it with --system cmake")
        from edgekit.build.platformio import build_with_platformio

        binary = build_with_platformio(project, manifest["board"], verbose=verbose)
        _write_flash_file(project, manifest, Path(binary))
        return BuildResult(project, system, Path(binary), time.perf_counter() - start, "")
    if system != "cmake":
        raise EdgekitError(f"unknown build system {system!r}", fix="use cmake or platformio")
    cmake = shutil.which("cmake")
    if cmake is None:
        raise EdgekitError("cmake not found", fix="install it with `sudo apt-get install cmake` or run `make deps`")
    build = project / BUILD_DIR
    _check_host_can_build(project, manifest)
    log = ""
    configured = any((build / name).is_file() for name in ("build.ninja", "Makefile"))
    if not configured:
        generator = ["-G", "Ninja"] if shutil.which("ninja") else []
        try:
            log += _run([cmake, "-S", str(project), "-B", str(build), *generator, "-DCMAKE_BUILD_TYPE=Release"],
                        project, "cmake configure", verbose)
        except EdgekitError:
            shutil.rmtree(build, ignore_errors=True)  # a half-configured cache would make the next try fail oddly
            raise
    log += _run([cmake, "--build", str(build), "-j", str(jobs)], project, "cmake build", verbose)
    binary = firmware_binary(project, "cmake", manifest)
    if not binary.is_file():
        raise EdgekitError(f"the build finished but produced no {binary.name}", path=build)
    _write_flash_file(project, manifest, binary)
    return BuildResult(project, system, binary, time.perf_counter() - start, log)
