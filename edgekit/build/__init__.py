"""Build a generated firmware project: CMake (every board) or PlatformIO (bare-metal boards, offline)."""
from edgekit.build.project import BuildResult, build_project, firmware_binary

__all__ = ["BuildResult", "build_project", "firmware_binary"]
