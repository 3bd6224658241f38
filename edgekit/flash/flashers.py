"""Writing firmware and image parts to real boards with their vendors' tools (the board profile's [flasher])."""
from __future__ import annotations

from pathlib import Path

from edgekit.boards import Board
from edgekit.errors import EdgekitError
from edgekit.flash.tools import require_tool, run_tool


def flash_real_board(board: Board, project: Path, binary: Path, parts: list[tuple[Path, int]]) -> None:
    """Write firmware and image parts with the board's flasher, verifying where the tool can read back."""
    kind = board.flasher.kind
    opts = dict(board.flasher.options)
    if kind == "pyocd":
        tool = require_tool("pyocd", "pyocd (pip install pyocd)")
        target = ["--target", str(opts["target"])] if "target" in opts else []
        run_tool([tool, "load", *target, str(binary)], "pyocd load (firmware)")
        for path, addr in parts:
            run_tool([tool, "load", *target, "--base-address", hex(addr), str(path)], f"pyocd load ({path.name})")
            run_tool([tool, "cmd", *target, "-c", f"compare {hex(addr)} {path}"], f"pyocd verify ({path.name})")
    elif kind == "openocd":
        tool = require_tool("openocd", "openocd (apt-get install openocd)")
        cfg = [a for c in opts.get("config", []) for a in ("-f", str(c))]
        cmds = [f"program {binary} verify"] + [f"program {p} {hex(a)} verify" for p, a in parts] + ["reset run",
                                                                                                  "shutdown"]
        run_tool([tool, *cfg, *[a for c in cmds for a in ("-c", c)]], "openocd program")
    elif kind == "picotool":
        tool = require_tool("picotool", "picotool (apt-get install picotool)")
        run_tool([tool, "load", "-v", "-x", str(binary)], "picotool load (firmware)")
        for path, addr in parts:
            run_tool([tool, "load", "-v", "-o", hex(addr), str(path)], f"picotool load ({path.name})")
    elif kind == "teensy_loader":
        tool = require_tool("teensy_loader_cli", "teensy_loader_cli (apt-get install teensy-loader-cli)")
        hexfile = project / "firmware.hex"
        objcopy = require_tool("arm-none-eabi-objcopy", "gcc-arm-none-eabi")
        sections = [a for p, addr in parts for a in ("--add-section", f".ek_image_{addr:x}={p}",
                                                     "--set-section-flags", f".ek_image_{addr:x}=alloc,load,readonly",
                                                     "--change-section-address", f".ek_image_{addr:x}={hex(addr)}")]
        run_tool([objcopy, *sections, "-O", "ihex", str(binary), str(hexfile)], "objcopy (Intel HEX)")
        run_tool([tool, f"--mcu={opts.get('mcu', 'TEENSY41')}", "-w", "-v", str(hexfile)], "teensy_loader_cli")
    elif kind == "platformio":
        tool = require_tool("pio", "platformio (pip install platformio)")
        run_tool([tool, "run", "-d", str(project), "-t", "upload"], "pio run -t upload")
    else:
        raise EdgekitError(f"board {board.name} has no flasher edgekit can drive (flasher kind {kind!r})",
                           path=board.source, fix="flash the firmware and image parts by hand, then use --port")
