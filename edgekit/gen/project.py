"""`edgekit gen`: a self-contained, deterministic, version-stamped firmware project for (model, board).

    <project>/
      manifest.json        edgekit version, board, model hash, the plan, every file with its sha256
      ek_config.h          generated: board identity, clock, link, image part addresses/sizes, arena, context
      firmware.ld          generated linker script (bare-metal boards): MEMORY ends where image parts begin
      CMakeLists.txt       wraps firmware/ with the board's port, kernels and cross toolchain file
      platformio.ini       written by `edgekit build --system platformio` (bare-metal boards with the GNU Arm
                           toolchain): an offline PlatformIO build of the same sources, derived from CMake
      firmware/            the runtime, kernels, the board's port and the CMake toolchain files
      model.partN.ekm      the image part(s), placed by the plan
      tokenizer.json       (+ tokenizer_config.json when the model has a chat template)

Everything is computed on the host; nothing in the project depends on the time or the machine it was made on,
so generating twice gives identical bytes. Nothing here runs a compiler, CMake or PlatformIO: a project can be
generated on a machine without any toolchain and built elsewhere (`edgekit build` is where toolchains are
needed). The whole project is written to a temporary directory beside the destination and renamed into place:
an interrupted or failed `gen` leaves the previous project intact.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgekit import __version__
from edgekit.atomic_file import user_dir_mode, user_file_mode
from edgekit.boards import Board
from edgekit.boards.schema import matches
from edgekit.boards.linker import firmware_dir, render_linker_script
from edgekit.errors import EdgekitError
from edgekit.model import Model
from edgekit.pack.packer import pack_model
from edgekit.plan.planner import Plan, plan_model

MANIFEST = "manifest.json"
CONFIG_HEADER = "ek_config.h"
LINKER_SCRIPT = "firmware.ld"
# Bump when the meaning of a generated macro changes; the runtime refuses a stale ek_config.h at compile time.
CONFIG_FORMAT = 1

# ISA feature -> kernel families to build (CMake's EK_KERNELS). The runtime picks the best compiled body.
KERNEL_FAMILIES = (("mve", "mve"), ("dsp", "dsp"), ("neon", "neon"), ("dotprod", "dotprod"), ("avx2", "avx2"))
# (family, the family it extends): built into every build that has the base family, whatever the build machine's
# CPU, and chosen by the firmware at run time from the CPU it runs on (firmware/kernels/ek_isa.h). The family's
# bodies, by tier: avx512 (AVX-512 F/BW/VL) and avx512vnni (the same plus VNNI).
RUNTIME_KERNEL_FAMILIES = (("avx512", "avx2"),)
RUNTIME_TIERS = {"avx512": ("avx512", "avx512vnni")}
FIRMWARE_DIRS = ("runtime", "kernels", "cmake")
PROJECT_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", "build", "build-*", ".pio*")


@dataclass
class GeneratedProject:
    path: Path
    board: Board
    plan: Plan
    model_hash: str
    manifest: dict

    @property
    def image_paths(self) -> list[Path]:
        return [self.path / p.file_name for p in self.plan.parts]


def native_features() -> set[str]:
    """ISA features of this machine, for boards built natively (no cross toolchain): they run where they are
    built, so the build may use what the CPU has even when the profile claims only a portable baseline."""
    import platform

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    flags = set(cpuinfo.split())
    machine = platform.machine().lower()
    found = set()
    if machine in ("x86_64", "amd64") and "avx2" in flags and "f16c" in flags:
        found.add("avx2")
        if {"avx512f", "avx512bw", "avx512vl"} <= flags:  # the run-time tiers (ek_cpu_x86.c asks the same)
            found.add("avx512")
            if "avx512_vnni" in flags:
                found.add("avx512vnni")
    if machine in ("aarch64", "arm64"):
        found.add("neon")
        if "asimddp" in flags:
            found.add("dotprod")
    return found


def kernel_families(board: Board) -> list[str]:
    features = set(board.cpu.features)
    if board.os != "none" and board.toolchain.cmake_toolchain is None:
        features |= native_features()
    families = ["c"]
    for feature, family in KERNEL_FAMILIES:
        if feature in features:
            families.append(family)
    if "dotprod" in families and "neon" not in families:  # dotprod bodies are NEON bodies
        families.insert(1, "neon")
    families += [family for family, base in RUNTIME_KERNEL_FAMILIES if base in families]
    return families


def _c_string(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config_header(board: Board, plan: Plan, model_hash: str) -> str:
    """ek_config.h: every number the firmware needs from the plan, as macros (see ports/common/ek_port_config.h)."""
    parts = plan.parts
    lines = [
        f"/* ek_config.h — GENERATED by edgekit {__version__} (`edgekit gen`) for board {board.name}. Do not edit:",
        " * regenerate with `edgekit gen`. Model hash " + model_hash + " */",
        "#ifndef EK_CONFIG_H",
        "#define EK_CONFIG_H",
        "",
        f"#define EK_CONFIG_FORMAT {CONFIG_FORMAT}",
        f"#define EK_CONFIG_EDGEKIT_VERSION {_c_string(__version__)}",
        f"#define EK_BOARD_NAME {_c_string(board.name)}",
        f"#define EK_CLOCK_HZ {board.cpu.clock_hz}u",
        f"#define EK_MAX_CTX {plan.ctx}u",
        f"#define EK_ARENA_SIZE {plan.arena_bytes}u /* bytes; placed in region {plan.arena_region} */",
        f"#define EK_KERNEL_FAMILIES {_c_string(';'.join(kernel_families(board)))}",
        f"#define EK_MODEL_HASH_HEX {_c_string(model_hash)}",
    ]
    if board.link.uart_base is not None:
        lines.append(f"#define EK_UART_BASE 0x{board.link.uart_base:08X}u /* {board.link.uart} */")
    if board.link.baud:
        lines.append(f"#define EK_UART_BAUD {board.link.baud}u")
    for key, value in sorted(board.port_config.items()):
        lines.append(f"#define EK_PORT_CFG_{key.upper()} {value}u /* [port_config] {key} */")
    if board.os == "none":
        addrs = ", ".join(f"0x{p.address:08X}u" for p in parts)
        sizes = ", ".join(f"{p.size_bytes}u" for p in parts)
        lines += [
            f"#define EK_IMAGE_COUNT {len(parts)}",
            f"#define EK_IMAGE_ADDRS {{ {addrs} }} /* " + ", ".join(f"part {p.index} in {p.region}" for p in parts)
            + " */",
            f"#define EK_IMAGE_SIZES {{ {sizes} }}",
        ]
    lines += ["", "#endif /* EK_CONFIG_H */", ""]
    return "\n".join(lines)


def _cmake_string(s: str) -> str:
    """A CMake quoted argument. Profile values are pattern-checked already (edgekit/boards/schema.py); escaping
    here is the second line of defence: nothing a profile says can end the string or expand a variable."""
    if any(ord(c) < 0x20 or c == ";" for c in s):
        raise EdgekitError(f"refusing to write {s!r} into CMakeLists.txt (control character or ;)",
                           fix="fix the board profile field it came from")
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("@", "\\@") + '"'


def render_cmakelists(board: Board, families: list[str]) -> str:
    toolchain = board.toolchain.cmake_toolchain
    # the file name is schema-checked (a plain *.cmake name); _cmake_string refuses anything that could escape
    tc_line = (f'  set(CMAKE_TOOLCHAIN_FILE "${{CMAKE_CURRENT_SOURCE_DIR}}/firmware/cmake/{_cmake_string(toolchain)[1:]} '
               f'CACHE FILEPATH "cross toolchain")' if toolchain else "")
    linker = ('set(EK_LINKER_SCRIPT "${CMAKE_CURRENT_SOURCE_DIR}/' + LINKER_SCRIPT + '" CACHE FILEPATH "generated")'
              if board.os == "none" else "")
    return "\n".join(line for line in [
        f"# GENERATED by edgekit {__version__} (`edgekit gen`) for board {board.name}. Build:",
        "#   cmake -S . -B build -G Ninja && cmake --build build",
        "cmake_minimum_required(VERSION 3.16)",
        (f'set(EK_CPU_FLAGS {_cmake_string(" ".join(board.toolchain.cpu_flags))} CACHE STRING "CPU/ABI flags")'
         if board.toolchain.cpu_flags else ""),
        "if(NOT CMAKE_TOOLCHAIN_FILE)" if toolchain else "",
        tc_line,
        "endif()" if toolchain else "",
        "project(edgekit_project C ASM)",
        f'set(EK_PORT {_cmake_string(board.port)} CACHE STRING "port under firmware/ports/")',
        f'set(EK_KERNELS "{";".join(families)}" CACHE STRING "kernel families")',
        'set(EK_CONFIG_DIR "${CMAKE_CURRENT_SOURCE_DIR}" CACHE PATH "holds the generated ek_config.h")',
        f'set(EK_BOARD {_cmake_string(board.name)} CACHE STRING "board profile")',
        'set(EK_BUILD_EVAL OFF CACHE BOOL "the host test harness is not part of a device project")',
        linker,
        "add_subdirectory(firmware firmware)",
        "",
    ] if line != "")


def supports_platformio(board: Board) -> bool:
    """Bare-metal boards built with the GNU Arm toolchain also build with PlatformIO (edgekit/build/platformio.py)."""
    return board.os == "none" and board.toolchain.compiler == "arm-none-eabi-gcc"


def _copy_firmware(dest: Path, board: Board) -> None:
    src = firmware_dir()
    # port and cmake_toolchain are plain names (schema patterns); they must also name what the firmware ships
    if not (src / "ports" / board.port / "port.cmake").is_file() and board.os == "none":
        raise EdgekitError(f"board {board.name}: port {board.port!r} has no firmware/ports/{board.port}/port.cmake",
                           path=board.source, fix="set port to a directory under firmware/ports/")
    if not (src / "ports" / board.port).is_dir():
        raise EdgekitError(f"board {board.name}: there is no firmware/ports/{board.port}", path=board.source,
                           fix="set port to a directory under firmware/ports/")
    toolchain = board.toolchain.cmake_toolchain
    if toolchain and not (src / "cmake" / toolchain).is_file():
        raise EdgekitError(f"board {board.name}: there is no firmware/cmake/{toolchain}", path=board.source,
                           fix="set toolchain.cmake_toolchain to a file under firmware/cmake/")
    (dest / "firmware").mkdir(parents=True)
    shutil.copy2(src / "CMakeLists.txt", dest / "firmware" / "CMakeLists.txt")
    for name in FIRMWARE_DIRS:
        shutil.copytree(src / name, dest / "firmware" / name, ignore=PROJECT_IGNORE)
    ports = dest / "firmware" / "ports"
    shutil.copytree(src / "ports" / board.port, ports / board.port, ignore=PROJECT_IGNORE)
    if board.os == "none":
        shutil.copytree(src / "ports" / "common", ports / "common", ignore=PROJECT_IGNORE)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _normalise_tree(root: Path) -> None:
    """The modes the user's umask gives new files and folders (mkstemp/mkdtemp make private ones, copies keep
    the source's), so two generations match in bytes and modes and the project is as shareable as the user's
    other files."""
    file_mode, dir_mode = user_file_mode(), user_dir_mode()
    for p in sorted(root.rglob("*")):
        if p.is_symlink():
            continue
        if p.is_file():
            os.chmod(p, file_mode)
        elif p.is_dir():
            os.chmod(p, dir_mode)
    os.chmod(root, dir_mode)


def generate_project(model: Model, board: Board, out_dir: str | Path, *, ctx: int | None = None,
                     ternary: str | None = None, embedding: str | None = None, placement: str = "persistent",
                     progress: Callable[[str, int], None] | None = None) -> GeneratedProject:
    """Plan, pack and write the project. Raises EdgekitError (with the shortfall) when the model does not fit."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgekitError("output path exists and is not a directory", path=out_dir, fix="choose a directory path")
    carried = _files_to_keep(out_dir)  # refuses a folder it cannot prove is a project it wrote
    plan = plan_model(model, board, ctx=ctx, ternary=ternary, embedding=embedding, placement=placement,
                      suggest_boards=False)
    if not plan.fits:
        from edgekit.plan.suggest import suggest

        advice = suggest(model, board, ctx=ctx, ternary=ternary, embedding=embedding, placement=placement)
        raise EdgekitError(f"model does not fit board {board.name}: short by {plan.shortfall_bytes:,} bytes "
                           f"({plan.problem})", fix="; ".join(advice.lines()) or "choose a bigger board")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        # device images: no host-only sections (the tokenizer travels as tokenizer.json beside them)
        paths = pack_model(model, [staging / p.file_name for p in plan.parts], plan.choice,
                           placement=plan.placement(), progress=progress, host_sections=False)
        from edgekit.pack.image import read_image

        header = read_image(paths[0], check_payload_crc=False).header
        model_hash = header.model_hash.hex()
        _copy_firmware(staging, board)
        (staging / CONFIG_HEADER).write_text(render_config_header(board, plan, model_hash))
        families = kernel_families(board)
        (staging / "CMakeLists.txt").write_text(render_cmakelists(board, families))
        if board.os == "none":
            limits = {}
            for r in plan.regions:
                if r.image_bytes:
                    limits[r.region.name] = (0, r.region.size_bytes - r.image_bytes)
            placements = {"arena": plan.arena_region} if plan.arena_region else {}
            (staging / LINKER_SCRIPT).write_text(render_linker_script(board, placements, limits=limits))
        if model.tokenizer_json is not None:
            (staging / "tokenizer.json").write_text(model.tokenizer_json, encoding="utf-8")
        if model.chat_template:
            (staging / "tokenizer_config.json").write_text(
                json.dumps({"chat_template": model.chat_template}, indent=2) + "\n", encoding="utf-8")
        (staging / ".gitignore").write_text("build/\n.pio/\n.pio-local/\nplatformio.ini\n")
        _normalise_tree(staging)
        files = {str(p.relative_to(staging)): _sha256(p) for p in sorted(staging.rglob("*"))
                 if p.is_file() and ".pio-local" not in p.parts}
        manifest = {
            "generator": f"edgekit {__version__}",
            "board": board.name,
            "port": board.port,
            "kernels": families,
            "platformio": supports_platformio(board),
            "model": {"hash": model_hash, "source": str(model.source), "config": model.config.to_dict()},
            "plan": plan.to_dict(),
            "images": [{"file": p.file_name, "region": p.region, "address": p.address, "size_bytes": p.size_bytes}
                       for p in plan.parts],
            "files": files,
        }
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _copy_kept_files(out_dir, staging, carried)
        if out_dir.exists():
            trash = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".old", dir=out_dir.parent))
            os.replace(out_dir, trash / "old")
            os.replace(staging, out_dir)
            shutil.rmtree(trash, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return GeneratedProject(out_dir, board, plan, model_hash, manifest)


# What `gen` may replace in an existing project besides the files its manifest lists: what `edgekit build
# --system platformio` derives from the project (platformio.ini and its local packages), made again by the next
# such build. Build trees (build/, .pio/) and every file the user added are carried into the new project.
REGENERATED_UNLISTED = (".pio-local", "platformio.ini")
_IMAGE_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}\.ekm")


def _files_to_keep(out_dir: Path) -> list[Path]:
    """Relative paths of the files in an existing project that `gen` did not write (the user's), to carry over.

    Replacing a folder is only allowed when it is provably ours: empty, or holding a manifest.json that edgekit
    wrote whose listed files are all still as it wrote them (same sha256). A generated file the user edited is
    not overwritten silently: gen refuses and names it."""
    if not out_dir.is_dir() or not any(out_dir.iterdir()):
        return []
    foreign = EdgekitError("output directory exists and is not an edgekit project (no manifest edgekit wrote)",
                           path=out_dir,
                           fix="choose a new directory, or empty this one first")
    try:
        manifest = json.loads((out_dir / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise foreign from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    generator = manifest.get("generator") if isinstance(manifest, dict) else None
    if (not isinstance(generator, str) or not generator.startswith("edgekit ") or not isinstance(files, dict)
            or not files or not all(isinstance(k, str) and isinstance(v, str) for k, v in files.items())):
        raise foreign
    keep, edited = [], []
    for path in sorted(out_dir.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(out_dir)
        key = rel.as_posix()
        if key == MANIFEST or rel.parts[0] in REGENERATED_UNLISTED:
            continue
        if key in files:
            if path.is_symlink() or not path.is_file() or _sha256(path) != files[key]:
                edited.append(key)
            continue
        keep.append(rel)
    if edited:
        shown = ", ".join(edited[:3]) + (f" and {len(edited) - 3} more" if len(edited) > 3 else "")
        raise EdgekitError(f"{shown} changed since `edgekit gen` wrote {'it' if len(edited) == 1 else 'them'}; "
                           "regenerating would overwrite the change", path=out_dir,
                           fix="copy your changes elsewhere and delete the changed file(s), or generate into a new "
                               "directory")
    return keep


def _copy_kept_files(out_dir: Path, staging: Path, keep: list[Path]) -> None:
    """Copy the user's files into the new project (copies: the old tree stays whole until the final rename)."""
    for rel in keep:
        src, dst = out_dir / rel, staging / rel
        if dst.exists() or dst.is_symlink():
            raise EdgekitError(f"{rel.as_posix()} was added by hand but the new project generates a file of that "
                               "name", path=out_dir, fix="move your file elsewhere, then run gen again")
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            os.symlink(os.readlink(src), dst)
        else:
            shutil.copy2(src, dst)


def read_manifest(project_dir: str | Path) -> dict:
    """The project's manifest.json, checked before anything uses it: it is a file on disk, so untrusted."""
    path = Path(project_dir) / MANIFEST
    if not path.is_file():
        raise EdgekitError("not an edgekit project (no manifest.json)", path=project_dir,
                           fix="generate one with `edgekit gen MODEL --board B -o DIR`")
    fix = "regenerate the project with `edgekit gen`"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EdgekitError(f"manifest.json is not valid JSON ({exc})", path=path, fix=fix) from None
    if not isinstance(manifest, dict):
        raise EdgekitError("manifest.json is not a JSON object", path=path, fix=fix)
    for key, pattern in (("board", "board_name"), ("port", "port")):
        if not isinstance(manifest.get(key), str) or not matches(pattern, manifest[key]):
            raise EdgekitError(f"manifest.json field {key!r} is missing or not a plain name", path=path, fix=fix)
    images = manifest.get("images")
    if not isinstance(images, list) or not images:
        raise EdgekitError("manifest.json field 'images' is missing or empty", path=path, fix=fix)
    for i, img in enumerate(images):
        # image files are plain names inside the project: a manifest cannot point the flasher anywhere else
        ok = (isinstance(img, dict) and isinstance(img.get("file"), str) and _IMAGE_FILE.fullmatch(img["file"])
              and all(isinstance(img.get(k), int) and not isinstance(img.get(k), bool) and 0 <= img[k] < 1 << 64
                      for k in ("address", "size_bytes")))
        if not ok:
            raise EdgekitError(f"manifest.json images[{i}] is not a plain .ekm file name with an address and size",
                               path=path, fix=fix)
    plan = manifest.get("plan")
    if not isinstance(plan, dict) or not isinstance(plan.get("ctx"), int) or isinstance(plan.get("ctx"), bool):
        raise EdgekitError("manifest.json field 'plan' is missing or has no context length", path=path, fix=fix)
    return manifest
