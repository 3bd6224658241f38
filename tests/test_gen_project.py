"""`edgekit gen`: deterministic, self-contained, version-stamped projects; atomic replacement; clear refusals."""
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from edgekit import __version__
from edgekit.boards import load_board
from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.gen.project import generate_project, read_manifest

FIXTURE = Path(__file__).parent / "fixtures" / "bitlinear-tied-gqa1"


@pytest.fixture(scope="module")
def model():
    return edgekit.load(FIXTURE)


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".pio-local" not in p.parts}


def test_generation_is_deterministic(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    a = generate_project(model, board, tmp_path / "a")
    b = generate_project(model, board, tmp_path / "b")
    fa, fb = _files(a.path), _files(b.path)
    assert fa.keys() == fb.keys()
    differing = [name for name in fa if fa[name] != fb[name]]
    assert differing == []
    assert set(read_manifest(a.path)["files"]) == set(fa) - {"manifest.json"}


def test_config_header_and_linker_script_follow_the_plan(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    project = generate_project(model, board, tmp_path / "p", ctx=128)
    header = (project.path / "ek_config.h").read_text()
    assert f"edgekit {__version__}" in header
    assert "#define EK_MAX_CTX 128u" in header
    assert f"#define EK_ARENA_SIZE {project.plan.arena_bytes}u" in header
    part = project.plan.parts[0]
    assert f"0x{part.address:08X}u" in header
    assert f"#define EK_MODEL_HASH_HEX \"{project.model_hash}\"" in header
    # the linker may use each image region only below the image parts
    ld = (project.path / "firmware.ld").read_text()
    region = board.region(part.region)
    m = re.search(rf"{region.name.upper()}\s+\(\w+\)\s*:\s*ORIGIN = (0x[0-9a-f]+), LENGTH = (0x[0-9a-f]+)", ld)
    assert m, ld
    origin, length = int(m.group(1), 16), int(m.group(2), 16)
    assert origin + length <= part.address
    # the image files on disk are what the manifest lists at the planned addresses
    manifest = read_manifest(project.path)
    assert manifest["images"][0]["address"] == part.address
    assert (project.path / part.file_name).stat().st_size == part.size_bytes


def test_regenerating_replaces_and_refusals_leave_no_trace(model, tmp_path):
    board = load_board("qemu-mps3-an547")
    out = tmp_path / "p"
    generate_project(model, board, out, ctx=256)
    generate_project(model, board, out, ctx=64)
    assert "#define EK_MAX_CTX 64u" in (out / "ek_config.h").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p"]  # no staging or old copies left behind
    with pytest.raises(EdgekitError, match="short by"):
        generate_project(model, load_board("qemu-netduinoplus2"), tmp_path / "small", ctx=256)
    assert not (tmp_path / "small").exists()
    other = tmp_path / "not-a-project"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(EdgekitError, match="not an edgekit project"):
        generate_project(model, board, other)
    assert (other / "notes.txt").read_text() == "mine"


def test_linux_board_project_has_no_linker_script(model, tmp_path):
    project = generate_project(model, load_board("qemu-rpi4"), tmp_path / "p")
    assert not (project.path / "firmware.ld").exists()
    assert not (project.path / "platformio.ini").exists()
    cmake = (project.path / "CMakeLists.txt").read_text()
    assert 'EK_PORT "posix"' in cmake and "aarch64-linux-gnu.cmake" in cmake
    assert "EK_KERNELS \"c;neon\"" in cmake  # cortex-a72: NEON, no dot product


def test_cli_gen_and_build_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["build", str(tmp_path)])
    assert res.exit_code == 2 and "not a generated project" in res.output
    res = runner.invoke(cli, ["gen", str(FIXTURE), "--board", "qemu-netduinoplus2", "-o", str(tmp_path / "x")])
    assert res.exit_code == 2 and "short by" in res.output and "--ctx" in res.output


# --- gen needs no toolchain; build names the missing one -----------------------------------------------------

def _path_with(tmp_path: Path, *programs: str) -> str:
    """A PATH holding only these programs (links to the real ones): no compiler, CMake or Ninja otherwise."""
    import shutil

    d = tmp_path / ("bin-" + "-".join(programs))
    d.mkdir()
    for name in programs:
        real = shutil.which(name)
        if real is None:
            pytest.skip(f"{name} is not installed")
        (d / name).symlink_to(real)
    return str(d)


@pytest.mark.parametrize("board_name", ["qemu-mps3-an547", "qemu-rpi4", "host"])
def test_gen_writes_the_project_without_any_toolchain(model, tmp_path, monkeypatch, board_name):
    monkeypatch.setenv("PATH", _path_with(tmp_path))
    res = CliRunner().invoke(cli, ["gen", str(FIXTURE), "--board", board_name, "-o", str(tmp_path / "p")])
    assert res.exit_code == 0, res.output
    manifest = read_manifest(tmp_path / "p")
    assert (tmp_path / "p" / "CMakeLists.txt").is_file() and (tmp_path / "p" / "ek_config.h").is_file()
    # the PlatformIO build is derived from CMake when it is asked for (`build --system platformio`), not here
    assert not (tmp_path / "p" / "platformio.ini").exists()
    assert manifest["platformio"] == (board_name == "qemu-mps3-an547")


def test_build_names_the_missing_tool_and_its_install_command(model, tmp_path, monkeypatch):
    project = generate_project(model, load_board("qemu-mps3-an547"), tmp_path / "p").path
    runner = CliRunner()
    nothing, cmake_only = _path_with(tmp_path), _path_with(tmp_path, "cmake")
    monkeypatch.setenv("PATH", nothing)
    res = runner.invoke(cli, ["build", str(project)])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "edgekit: error: cmake is not on PATH; edgekit builds firmware with CMake (install it with "
        "`sudo apt-get install cmake` or run `make deps`)"]
    monkeypatch.setenv("PATH", cmake_only)
    for system in ("cmake", "platformio"):
        res = runner.invoke(cli, ["build", str(project), "--system", system])
        assert res.exit_code == 2
        (line,) = res.output.strip().splitlines()
        assert "arm-none-eabi-gcc is not on PATH" in line and "sudo apt-get install gcc-arm-none-eabi" in line
    assert not (project / "build").exists() and not (project / "platformio.ini").exists()
    res = runner.invoke(cli, ["build", str(generate_project(model, load_board("host"), tmp_path / "h").path),
                              "--system", "platformio"])
    assert res.exit_code == 2 and "has no PlatformIO build" in res.output


def test_build_reports_its_steps(model, tmp_path):
    from edgekit.build import build_project

    project = generate_project(model, load_board("host"), tmp_path / "p").path
    steps: list[str] = []
    result = build_project(project, progress=steps.append)
    assert result.binary.is_file()
    assert steps[:3] == ["checking the build tools", "configuring", "compiling"]
    counts = [tuple(map(int, m.groups())) for m in map(re.compile(r"compiling (\d+)/(\d+)$").match, steps) if m]
    assert counts, steps
    assert [c[0] for c in counts] == sorted(c[0] for c in counts) and counts[-1][0] == counts[-1][1]
    assert steps[-1] == "writing the flash file"
