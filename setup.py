"""Ships firmware/ and boards/ inside the installed package (edgekit/data/), so `pip install` gives a working
toolkit and not only a checkout. Everything else is declared in pyproject.toml."""
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

DATA_TREES = ("firmware", "boards")
SKIP = shutil.ignore_patterns("build", "build-*", "__pycache__", "*.o", "*.elf", ".pio*")


class BuildPyWithData(build_py):
    def run(self):
        super().run()
        root = Path(__file__).resolve().parent
        for name in DATA_TREES:
            dest = Path(self.build_lib) / "edgekit" / "data" / name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(root / name, dest, ignore=SKIP, symlinks=False)


setup(cmdclass={"build_py": BuildPyWithData})
