"""Port bring-up on emulated boards: build firmware/tests/port_echo.c for each QEMU Cortex-M machine, run it with
a test pattern loaded at the board's image address, and talk to it over a real pty/TCP link with pyserial.
Also runs a trivial aarch64 program under QEMU user mode for the Raspberry Pi stand-ins."""
from __future__ import annotations

import os
import re
import shutil
import socket
import struct
import tempfile
from pathlib import Path

import pytest
import serial

from edgekit.boards import load_board, write_linker_script
from edgekit.errors import EdgekitError
from edgekit.flash import start_emulator, start_user_mode
from edgekit.flash.qemu import marker_socket_path
from helpers import FIRMWARE, cmake_build, port_defaults_build

CORTEX_M_BOARDS = ["qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-netduinoplus2"]
LINK_TIMEOUT_S = 10.0  # one reply from the emulated board; generous for a loaded 2-core CI machine

needs_arm = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None or shutil.which("qemu-system-arm") is None
    or shutil.which("cmake") is None or shutil.which("ninja") is None,
    reason="needs arm-none-eabi-gcc, qemu-system-arm, cmake and ninja (make deps)")


@pytest.fixture(scope="module")
def port_echo_elves(tmp_path_factory) -> dict[str, Path]:
    """port_echo.elf for every emulated Cortex-M board, built once per test run with -Werror."""
    elves = {}
    for name in CORTEX_M_BOARDS:
        build_dir = tmp_path_factory.mktemp(f"build-{name}")
        elves[name] = port_defaults_build(load_board(name), build_dir, build=True) / "port_echo.elf"
    return elves


class EchoLink:
    """The port_echo request/response protocol (see firmware/tests/port_echo.c)."""

    def __init__(self, port: serial.Serial):
        self.port = port
        self.port.timeout = LINK_TIMEOUT_S

    def close(self) -> None:
        self.port.close()

    def banner(self) -> dict[str, str]:
        line = self.port.readline().decode()
        assert line.startswith("EKPORT "), f"no banner, got {line!r}"
        return dict(field.split("=", 1) for field in line.split()[1:])

    def request(self, cmd: bytes, payload: bytes = b"") -> bytes:
        self.port.write(cmd + struct.pack("<H", len(payload)) + payload)
        head = self.port.read(4)
        assert len(head) == 4 and head[:2] == b"<" + cmd, f"bad reply head {head!r}"
        (n,) = struct.unpack("<H", head[2:])
        body = self.port.read(n + 1)
        assert len(body) == n + 1 and body[-1:] == b">", f"bad reply body {body!r}"
        return body[:-1]


def _pattern(n: int, seed: int) -> bytes:
    return bytes((i * 31 + seed + (i >> 8)) & 0xFF for i in range(n))


@needs_arm
@pytest.mark.parametrize("name", CORTEX_M_BOARDS)
def test_port_on_emulated_board(name, port_echo_elves, tmp_path):
    board = load_board(name)
    elf = port_echo_elves[name]
    # The port's default (no plan) image address, from its ek_port_board.h; the test pattern goes there.
    default_image = {"qemu-mps3-an547": 0x28000000, "qemu-mps2-an386": 0x21800000,
                     "qemu-mps2-an500": 0x60800000, "qemu-netduinoplus2": 0x08080000}[name]
    pattern = _pattern(8192, seed=len(name))
    image = tmp_path / "pattern.bin"
    image.write_bytes(pattern)

    with start_emulator(board, elf, [(image, default_image)], link="pty", start_paused=True) as emu:
        assert emu.url.startswith("/dev/pts/")
        link = EchoLink(emu.open_link())  # opened before the guest runs: its boot banner must be there
        try:
            banner = link.banner()
            assert banner["board"] == name
            assert int(banner["clock"]) == board.clock_hz
            image_addr, image_size = (int(v, 0) for v in banner["image0"].split("/"))
            assert image_addr == default_image and board.region_at(image_addr).holds_images
            assert image_addr + image_size <= board.region_at(image_addr).end
            arena_addr, arena_size = (int(v, 0) for v in banner["arena"].split("/"))
            arena_region = board.region_at(arena_addr)
            assert arena_region.name == board.layout.arena and arena_region.writable
            assert arena_size == board.layout.arena_bytes

            link.port.write(b"B\x00\x00")  # the banner on request, for links that missed boot output
            again = link.banner()
            assert int(again.pop("uptime_us")) > int(banner.pop("uptime_us")) and again == banner

            # Echo through the interrupt-fed RX ring: small, binary and larger than the UART's 1-byte buffer.
            for payload in (b"x", bytes(range(256)), _pattern(3000, seed=3)):
                assert link.request(b"E", payload) == payload

            # Image placement: the bytes QEMU's loader put at the board's image address, read back by the device.
            for offset, length in ((0, 64), (4093, 300), (8192 - 16, 16)):
                got = link.request(b"I", struct.pack("<BIH", 0, offset, length))
                assert got == pattern[offset:offset + length]

            # Cycle counter: time_us is the cycle count at the board's clock. Each time reading was taken between
            # two cycle readings, so it lies between their times however long the host paused QEMU in between
            # (no tolerance needed); the icount test checks the count itself.
            *readings, clock = struct.unpack("<6QI", link.request(b"C"))
            assert clock == board.clock_hz
            (c0, t0, c0_end), (c1, t1, c1_end) = readings[:3], readings[3:]
            for before, time_us, after in ((c0, t0, c0_end), (c1, t1, c1_end)):
                assert before <= after and before * 1_000_000 // clock <= time_us <= after * 1_000_000 // clock
            assert c1 > c0_end and t1 >= t0

            # Arena: aligned, inside its region, first and last bytes writable.
            addr, size, ok = struct.unpack("<IIB", link.request(b"A"))
            assert ok == 1 and (addr, size) == (arena_addr, arena_size) and addr % 64 == 0

            # A link read with nothing to read returns 0 after (not before) its timeout, on the device's clock.
            n, elapsed_us = struct.unpack("<iQ", link.request(b"T", struct.pack("<H", 30)))
            assert n == 0 and elapsed_us >= 30_000

            # Across a SysTick wrap whose interrupt is still pending, the clock keeps counting forward.
            wrapped, backsteps, reads = struct.unpack("<BII", link.request(b"W"))
            assert wrapped == 1 and reads > 2000 and backsteps == 0

            assert link.request(b"X", bytes([42])) == b""
            link.port.write(b"!")  # acknowledge: the device exits once we have its reply
            assert emu.wait(LINK_TIMEOUT_S) == 42  # semihosting exit status reaches the host
        finally:
            link.close()


@needs_arm
@pytest.mark.parametrize("name", CORTEX_M_BOARDS)
def test_marker_wire_reaches_the_host(name, port_echo_elves):
    """The power-meter marker of an emulated board is its second UART: each ek_port_marker call arrives as one
    byte on the Unix socket QEMU's second -serial connects to (what a meter's logic input samples)."""
    board = load_board(name)
    sock_dir = tempfile.mkdtemp(prefix="ek-marker-", dir="/tmp")  # short: unix socket paths are <= 107 bytes
    path = os.path.join(sock_dir, "m.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(1)
    server.settimeout(LINK_TIMEOUT_S)
    try:
        with start_emulator(board, port_echo_elves[name], link="pty", start_paused=True,
                            marker=f"unix:{path}") as emu:
            wire, _ = server.accept()
            wire.settimeout(LINK_TIMEOUT_S)
            link = EchoLink(emu.open_link())
            try:
                link.banner()
                levels = [1, 0, 1, 1, 0]
                for level in levels:
                    assert link.request(b"M", bytes([level])) == b""
                got = b""
                while len(got) < len(levels):
                    chunk = wire.recv(64)
                    assert chunk, "the marker wire closed early"
                    got += chunk
                assert list(got) == levels
            finally:
                link.close()
                wire.close()
    finally:
        server.close()
        shutil.rmtree(sock_dir, ignore_errors=True)


def test_marker_socket_must_be_listening(tmp_path):
    with pytest.raises(EdgekitError, match="nothing listens at the marker socket"):
        marker_socket_path(f"unix:{tmp_path / 'absent.sock'}")
    with pytest.raises(EdgekitError, match="Unix socket"):
        marker_socket_path("tcp:127.0.0.1:9")


@needs_arm
@pytest.mark.parametrize("name", CORTEX_M_BOARDS)
def test_profile_memory_map_matches_qemu(name, port_echo_elves, tmp_path):
    """Every region of the board profile exists in the emulated machine, with the profile's kind: RAM takes a
    write, flash/ROM keeps what QEMU's loader put there. Probes the last word of each region and the first
    word of regions that hold no firmware section (so the probe never disturbs the running program)."""
    board = load_board(name)
    layout_regions = {board.layout.text, board.layout.data, board.layout.stack}
    loads, probes = [], []
    for region in board.memory:
        addresses = [region.end - 4] + ([] if region.name in layout_regions else [region.base])
        for addr in addresses:
            expected = None
            if not region.writable:  # ROM: the loader writes a marker the firmware must read back unchanged
                marker = tmp_path / f"{region.name}-{addr:x}.bin"
                expected = struct.pack("<I", (0xEC000000 | (addr >> 8)) & 0xFFFFFFFF)
                marker.write_bytes(expected)
                loads.append((marker, addr))
            probes.append((region, addr, expected))
    if name == "qemu-netduinoplus2":
        # QEMU 7.2 models no CCM (newer QEMU does): the profile keeps the real chip's region, unprobed here.
        probes = [p for p in probes if p[0].name != "ccm"]
    with start_emulator(board, port_echo_elves[name], loads, start_paused=True) as emu:
        link = EchoLink(emu.open_link())
        try:
            link.banner()
            for region, addr, expected in probes:
                before, after = struct.unpack("<II", link.request(b"P", struct.pack("<I", addr)))
                if region.writable:
                    assert after == before ^ 0xFFFFFFFF, f"{region.name} at {addr:#x} is not writable RAM"
                else:
                    assert after == before and struct.pack("<I", before) == expected, \
                        f"{region.name} at {addr:#x}: read {before:#x}, loader wrote {expected.hex()}"
            link.request(b"X", b"\x00")
            link.port.write(b"!")
            assert emu.wait(LINK_TIMEOUT_S) == 0
        finally:
            link.close()


@needs_arm
def test_tcp_link_and_icount(port_echo_elves):
    """The same firmware over a TCP link, with instruction-count timing: the guest waits for the client."""
    board = load_board("qemu-mps3-an547")
    with start_emulator(board, port_echo_elves["qemu-mps3-an547"], link="tcp",
                        icount_shift=board.qemu.icount_shift) as emu:
        assert re.fullmatch(r"socket://127\.0\.0\.1:\d+", emu.url)
        assert not emu.wait_started(0.3)  # nobody connected yet: still paused
        link = EchoLink(serial.serial_for_url(emu.url))
        try:
            assert emu.wait_started(LINK_TIMEOUT_S)
            # The guest started only after the client connected, so its boot banner is there to read.
            assert link.banner()["board"] == "qemu-mps3-an547"
            assert link.request(b"E", b"over tcp") == b"over tcp"
            # With -icount the clock advances per instruction: the 200000-iteration loop (several instructions
            # each, 2^5 ns per instruction at 32 MHz) is worth well over 200000 cycles.
            readings = struct.unpack("<6QI", link.request(b"C"))
            assert readings[3] - readings[2] > 200_000
            link.request(b"X", b"\x00")
            link.port.write(b"!")
            assert emu.wait(LINK_TIMEOUT_S) == 0
        finally:
            link.close()


@needs_arm
@pytest.mark.parametrize("name", ["qemu-mps3-an547", "qemu-netduinoplus2"])
def test_fault_is_reported_on_the_link_and_ends_the_program(name, port_echo_elves):
    """An undefined instruction lands in the port's fault handler: one `EK FAULT` line, exit status 3."""
    with start_emulator(load_board(name), port_echo_elves[name], start_paused=True) as emu:
        link = EchoLink(emu.open_link())
        try:
            link.banner()
            link.port.write(b"F\x00\x00")
            report = link.port.read_until(b"\n", 200) + link.port.read_until(b"\n", 200)
            assert re.search(rb"EK FAULT exc=[0-9a-f]{8} cfsr=[0-9a-f]{8} hfsr=[0-9a-f]{8}", report), report
            assert emu.wait(LINK_TIMEOUT_S) == 3
        finally:
            link.close()


@needs_arm
def test_generated_config_and_linker_script_are_honoured(tmp_path):
    """The generator's contract: ek_config.h macros and a rendered linker script replace the port defaults."""
    board = load_board("qemu-mps3-an547")
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    (config_dir / "ek_config.h").write_text(
        '#define EK_BOARD_NAME "planned-an547"\n'
        "#define EK_IMAGE_COUNT 2\n"
        "#define EK_IMAGE_ADDRS {0x28000000u, 0x60800000u}\n"
        "#define EK_IMAGE_SIZES {0x00010000u, 0x00020000u}\n"
        "#define EK_ARENA_SIZE 0x00100000u\n")
    script = write_linker_script(tmp_path / "fw.ld", board, {"arena": "isram"}, stack_bytes=8192)
    build_dir = tmp_path / "build"
    cmake_build(FIRMWARE / "tests" / "port_echo", build_dir, *board.cmake_args(FIRMWARE),
                f"-DEK_CONFIG_DIR={config_dir}", f"-DEK_LINKER_SCRIPT={script}")
    parts = [_pattern(4096, seed=1), _pattern(4096, seed=2)]
    for i, data in enumerate(parts):
        (tmp_path / f"part{i}.ekm").write_bytes(data)
    images = [(tmp_path / "part0.ekm", 0x28000000), (tmp_path / "part1.ekm", 0x60800000)]
    with start_emulator(board, build_dir / "port_echo.elf", images, start_paused=True) as emu:
        link = EchoLink(emu.open_link())
        try:
            banner = link.banner()
            assert banner["board"] == "planned-an547" and banner["images"] == "2"
            assert banner["image0"] == "0x28000000/65536"
            arena_addr, arena_size = (int(v, 0) for v in banner["arena"].split("/"))
            assert board.region_at(arena_addr).name == "isram" and arena_size == 0x100000
            for part, data in enumerate(parts):
                assert link.request(b"I", struct.pack("<BIH", part, 100, 200)) == data[100:300]
            link.port.write(b"I" + struct.pack("<H", 7) + struct.pack("<BIH", 2, 0, 1))
            assert link.port.read(5) == b"<!\x00\x00>"  # there is no part 2: refused, not read out of bounds
        finally:
            link.close()


needs_aarch64 = pytest.mark.skipif(
    shutil.which("aarch64-linux-gnu-gcc") is None or shutil.which("qemu-aarch64") is None
    or shutil.which("cmake") is None, reason="needs aarch64-linux-gnu-gcc, qemu-aarch64 and cmake (make deps)")


@pytest.fixture(scope="module")
def user_echo_binary(tmp_path_factory) -> Path:
    build_dir = tmp_path_factory.mktemp("build-user-echo")
    cmake_build(FIRMWARE / "tests" / "port_user_echo", build_dir, *load_board("qemu-rpi5").cmake_args(FIRMWARE))
    return build_dir / "port_user_echo"


@needs_aarch64
@pytest.mark.parametrize("name, dotprod", [("qemu-rpi5", 1), ("qemu-rpi4", 0), ("qemu-rpi-zero-2w", 0)])
def test_user_mode_stand_in(name, dotprod, user_echo_binary):
    """The runner starts the static aarch64 binary with the board's -cpu and hands back the URL it printed."""
    with start_user_mode(load_board(name), user_echo_binary) as proc:
        link = serial.serial_for_url(proc.url, timeout=LINK_TIMEOUT_S)
        try:
            link.write(b"h")
            assert link.readline() == f"EKUSER asimd=1 dotprod={dotprod}\n".encode()
            link.write(b"ping")
            assert link.read(4) == b"ping"
            link.write(b"q")
            assert proc.wait(LINK_TIMEOUT_S) == 7
        finally:
            link.close()
