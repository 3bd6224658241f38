import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/synthetic.py helpers

import pytest  # noqa: E402

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
