"""`pip install` gives a working toolkit: the wheel carries every package, the firmware, the boards and the
bundled models."""
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                           "-w", str(out), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob("edgekit-*.whl")
    with zipfile.ZipFile(path) as z:
        return set(z.namelist())


def test_every_python_package_is_in_the_wheel(wheel):
    for init in ROOT.glob("edgekit/**/__init__.py"):
        assert str(init.relative_to(ROOT)) in wheel


def test_firmware_and_boards_are_package_data(wheel):
    for src in list((ROOT / "firmware").rglob("*.[ch]")) + list((ROOT / "boards").glob("*.toml")):
        rel = src.relative_to(ROOT)
        if "build" in rel.parts:
            continue
        assert f"edgekit/data/{rel}" in wheel, rel
    assert "edgekit/data/firmware/CMakeLists.txt" in wheel
    assert "edgekit/data/firmware/ports/common/cortex-m.ld.in" in wheel


def test_bundled_models_are_package_data(wheel):
    from edgekit.models import bundled_models

    for m in bundled_models():
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            assert f"edgekit/models/{m.name}/{f}" in wheel
