"""platformio.ini for a generated bare-metal project, derived from the CMake build so both build the same thing.

The port's CMake files are the single source of truth for which sources, defines, include directories and
flags make the firmware. We configure the generated project once with CMake's file API (codemodel-v2) in a
scratch directory, read the `edgekit_fw` and `ek_runtime` targets back, and hand exactly those to the
PlatformIO writer (edgekit/build/platformio.py).
"""
from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

from edgekit.boards import Board
from edgekit.errors import EdgekitError

FIRMWARE_TARGET = "edgekit_fw"
RUNTIME_TARGET = "ek_runtime"
CONFIGURE_TIMEOUT_S = 120.0  # cross-compiler detection runs a few test compiles


def cmake_build_info(project: Path) -> dict:
    """Sources, defines, includes and compile fragments of the firmware targets, as CMake sees them."""
    cmake = shutil.which("cmake")
    if cmake is None:
        raise EdgekitError("cmake not found", fix="install it with `sudo apt-get install cmake` or run `make deps`")
    with tempfile.TemporaryDirectory(prefix="edgekit-cmake-api-") as scratch:
        build = Path(scratch)
        query = build / ".cmake" / "api" / "v1" / "query"
        query.mkdir(parents=True)
        (query / "codemodel-v2").write_text("")
        proc = subprocess.run([cmake, "-S", str(project), "-B", str(build)], capture_output=True, text=True,
                              timeout=CONFIGURE_TIMEOUT_S)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
            raise EdgekitError(f"cmake could not configure the generated project:\n{tail}", path=project)
        reply = build / ".cmake" / "api" / "v1" / "reply"
        index = json.loads(max(reply.glob("index-*.json")).read_text())
        codemodel = json.loads((reply / index["reply"]["codemodel-v2"]["jsonFile"]).read_text())
        targets = {}
        for t in codemodel["configurations"][0]["targets"]:
            targets[t["name"]] = json.loads((reply / t["jsonFile"]).read_text())
    info = {"sources": [], "defines": {}, "includes": [], "flags": []}
    for name in (RUNTIME_TARGET, FIRMWARE_TARGET):
        if name not in targets:
            raise EdgekitError(f"the generated project has no CMake target {name}", path=project)
        t = targets[name]
        for src in t["sources"]:
            if "compileGroupIndex" in src:
                info["sources"].append(src["path"])
        for group in t.get("compileGroups", []):
            for d in group.get("defines", []):
                key, _, value = d["define"].partition("=")
                info["defines"][key] = value if "=" in d["define"] else None
            for inc in group.get("includes", []):
                if inc["path"] not in info["includes"]:
                    info["includes"].append(inc["path"])
            for frag in group.get("compileCommandFragments", []):
                for flag in frag["fragment"].split():
                    if flag not in info["flags"]:
                        info["flags"].append(flag)
    return info


def _relative(project: Path, path: str) -> str:
    p = Path(path)
    if not p.is_absolute():
        return str(p)
    try:
        return str(p.resolve().relative_to(project.resolve()))
    except ValueError:
        raise EdgekitError(f"build input {path} lies outside the generated project", path=project) from None


def write_platformio_for(project: Path, board: Board, families: list[str]) -> Path:
    """Write platformio.ini (+ local offline packages) building the same sources as the CMake project."""
    from edgekit.build.platformio import write_platformio_project

    info = cmake_build_info(project)
    cpu_flags = list(board.toolchain.cpu_flags)
    # -mcpu/-mfloat-abi come from the board; -O/-W/-f flags from CMake; drop include/define duplicates
    extra = [f for f in info["flags"] if f not in cpu_flags and not f.startswith(("-I", "-D", "-mcpu", "-mfpu",
                                                                                   "-mfloat-abi", "-mthumb"))]
    sources = sorted({_relative(project, s) for s in info["sources"]})
    includes = [_relative(project, i) for i in info["includes"]]
    return write_platformio_project(project, env_name=board.name, cpu_flags=cpu_flags, defines=info["defines"],
                                    include_dirs=includes, source_dirs=[], ldscript="firmware.ld",
                                    extra_c_flags=extra, source_files=sources)
