import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/synthetic.py helpers

import pytest  # noqa: E402

# EDGEKIT_REQUIRE_ALL=1 (make test): a skip not on the allowlist fails the run. Imported hooks are registered.
from skip_policy import pytest_make_collect_report, pytest_runtest_makereport  # noqa: E402,F401

REAL_MCU_BOARDS = ("stm32h747-disco", "rp2350-psram", "teensy41")


@pytest.fixture(scope="session")
def built_board_project(tmp_path_factory):
    """built_board_project(name) -> GeneratedProject of the bundled model for that board, generated and built
    once per test session (several test files check the same build: ELF layout, boot structures, flash files)."""
    import edgekit
    from edgekit.boards import load_board
    from edgekit.build import build_project
    from edgekit.gen.project import generate_project
    from edgekit.models import DEFAULT_MODEL

    cache: dict = {}

    def get(name: str):
        if name not in cache:
            board = load_board(name)
            project = generate_project(edgekit.load(DEFAULT_MODEL), board,
                                       tmp_path_factory.mktemp(f"project-{name}") / "project")
            build_project(project.path)
            cache[name] = project
        return cache[name]

    return get


@pytest.fixture(scope="session")
def device_binary(tmp_path_factory) -> Path:
    """The POSIX device (firmware/ports/posix), built once per session: the real device the link tests talk to."""
    from helpers import cmake_build

    build = cmake_build(ROOT / "firmware", tmp_path_factory.mktemp("posix-device"), "-DEK_PORT=posix",
                        "-DEK_BUILD_EVAL=OFF", "-DCMAKE_BUILD_TYPE=Release")
    return build / "edgekit-device"


@pytest.fixture(scope="module")
def project(request, built_board_project):
    """tests/test_board_*.py: the bundled model generated and built for the module's BOARD (once per session)."""
    from board_elf import need_arm_tools

    need_arm_tools()
    return built_board_project(request.module.BOARD)


@pytest.fixture(scope="module")
def elf(project):
    path = project.path / "build" / "firmware" / "edgekit_fw.elf"
    assert path.is_file(), f"no ELF at {path}"
    return path
