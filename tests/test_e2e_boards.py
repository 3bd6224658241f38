"""End to end on every emulated board: gen -> build -> flash (QEMU) -> generate over the real link.

The firmware's greedy tokens must equal the reference engine's, token for token (issue: boards, planner and
generated firmware). Cortex-M boards run under qemu-system-arm with the image parts at their planned addresses;
the Raspberry Pi stand-ins run the aarch64 POSIX device under qemu-aarch64 with the board's core.
"""
import shutil

import pytest

import edgekit
from edgekit.boards import load_board
from edgekit.build import build_project
from edgekit.flash.device import open_device
from edgekit.gen.project import generate_project
from edgekit.link.client import DeviceClient, TokenEvent
from edgekit.models import DEFAULT_MODEL
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler

NEW_TOKENS = 32
PROMPT = "And God said, Let there be"
BUNDLED_BOARDS = ["qemu-mps3-an547", "qemu-mps2-an386", "qemu-mps2-an500", "qemu-rpi5", "qemu-rpi4",
                  "qemu-rpi-zero-2w"]
TOOLS = {"qemu-system-arm": "qemu-system-arm", "qemu-aarch64": "qemu-user", "arm-none-eabi-gcc": "gcc-arm-none-eabi",
         "aarch64-linux-gnu-gcc": "gcc-aarch64-linux-gnu", "cmake": "cmake"}


def _need_tools(board):
    needed = ["cmake"]
    if board.qemu is not None:
        needed.append(board.qemu.binary)
    needed.append("arm-none-eabi-gcc" if board.os == "none" else "aarch64-linux-gnu-gcc")
    missing = [t for t in needed if shutil.which(t) is None]
    if missing:
        pytest.fail(f"missing {', '.join(missing)}: run `make deps` (apt: {', '.join(TOOLS[t] for t in missing)})")


@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(DEFAULT_MODEL)


def _device_greedy(project, prompt_ids, n):
    with open_device(project) as session, DeviceClient(session.url) as client:
        ident = client.hello()
        assert ident.model_ok, ident.model_error
        stream = client.generate(prompt_ids, max_new_tokens=n, temperature=0.0, stop_at_eos=False)
        tokens = [e.token_id for e in stream if isinstance(e, TokenEvent)]
        return tokens, ident, stream.done


@pytest.mark.parametrize("board_name", BUNDLED_BOARDS)
def test_bundled_model_greedy_matches_reference(board_name, bundled, tmp_path):
    board = load_board(board_name)
    _need_tools(board)
    project = generate_project(bundled, board, tmp_path / "project", ctx=128)
    build_project(project.path)
    ids = bundled.encode(PROMPT)
    expected = list(generate_tokens(bundled, ids, NEW_TOKENS, Sampler(temperature=0.0), stop_at_eos=False))
    tokens, ident, done = _device_greedy(project.path, ids, NEW_TOKENS)
    assert ident.board == board_name
    assert ident.model_hash.hex() == project.model_hash
    assert done.reason == "max_tokens" and done.generated_tokens == NEW_TOKENS
    print(f"{board_name}: {bundled.decode(tokens)!r}")
    assert tokens == expected


def test_fixture_on_the_smallest_board(tmp_path):
    """netduinoplus2 (STM32F405: 1 MB flash, 192 KB RAM) holds a fixture model with a short context."""
    board = load_board("qemu-netduinoplus2")
    _need_tools(board)
    from pathlib import Path

    model = edgekit.load(Path(__file__).parent / "fixtures" / "bitlinear-tied-gqa1")
    project = generate_project(model, board, tmp_path / "project", ctx=64)
    assert project.plan.fits
    build_project(project.path)
    ids = model.encode("The small robot")
    expected = list(generate_tokens(model, ids, NEW_TOKENS, Sampler(temperature=0.0), stop_at_eos=False))
    tokens, ident, _ = _device_greedy(project.path, ids, NEW_TOKENS)
    assert ident.context_len == 64
    assert tokens == expected


def test_platformio_build_of_generated_project_runs(bundled, tmp_path):
    """The same generated project built with PlatformIO (offline, system compiler) runs the same tokens."""
    pytest.importorskip("platformio", reason="PlatformIO is an optional extra: pip install edgekit[platformio]")
    board = load_board("qemu-mps3-an547")
    _need_tools(board)
    project = generate_project(bundled, board, tmp_path / "project", ctx=128)
    result = build_project(project.path, system="platformio")
    assert result.binary.name == "firmware.elf"
    ids = bundled.encode(PROMPT)
    expected = list(generate_tokens(bundled, ids, 8, Sampler(temperature=0.0), stop_at_eos=False))
    from edgekit.flash.qemu import start_emulator

    parts = [(project.path / p.file_name, p.address) for p in project.plan.parts]
    with start_emulator(board, result.binary, parts) as emu, DeviceClient(emu.url) as client:
        client.hello()
        stream = client.generate(ids, max_new_tokens=8, temperature=0.0, stop_at_eos=False)
        assert [e.token_id for e in stream if isinstance(e, TokenEvent)] == expected
