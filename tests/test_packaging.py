"""`pip install` gives a working toolkit: the wheel carries every package, the firmware, the boards and the
bundled models."""
import json
import os
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


# --- the source distribution: sdist -> wheel -> a fresh venv outside the tree ------------------------------

def _run(cmd, **kw):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=900, **kw)
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def sdist(tmp_path_factory):
    """`python -m build --sdist` (without isolation: the build needs no network, only setuptools here)."""
    out = tmp_path_factory.mktemp("sdist")
    _run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "--outdir", out, ROOT], cwd=ROOT)
    (path,) = out.glob("edgekit-*.tar.gz")
    return path


def test_sdist_carries_firmware_boards_and_models(sdist):
    import tarfile

    with tarfile.open(sdist) as t:
        names = {n.split("/", 1)[1] for n in t.getnames() if "/" in n}
    tracked = subprocess.run(["git", "ls-files", "firmware", "boards"], cwd=ROOT, capture_output=True,
                             text=True).stdout.split()
    if not tracked:  # not a git checkout (e.g. an unpacked sdist): the files on disk are the reference
        tracked = [str(p.relative_to(ROOT)) for d in ("firmware", "boards") for p in (ROOT / d).rglob("*")
                   if p.is_file() and "build" not in p.relative_to(ROOT).parts]
    missing = sorted(set(tracked) - names)
    assert not missing, missing[:10]
    from edgekit.models import bundled_models

    for m in bundled_models():
        for f in ("config.json", "model.safetensors", "tokenizer.json"):
            assert f"edgekit/models/{m.name}/{f}" in names
    assert not [n for n in names if n.endswith((".o", ".elf", ".pyc"))]


@pytest.fixture(scope="module")
def installed(sdist, tmp_path_factory):
    """A wheel built from the sdist alone, installed in a new venv outside the checkout. The venv sees the
    test venv's site-packages through a .pth line (numpy, click, ... without a network), after its own."""
    root = tmp_path_factory.mktemp("from-sdist")
    wheels = root / "wheels"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, sdist],
         cwd=root)
    (wheel_path,) = wheels.glob("edgekit-*.whl")
    venv = root / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=root)
    py = venv / "bin" / "python"
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    import numpy

    deps_site = Path(numpy.__file__).resolve().parents[1]
    (site / "zz_edgekit_test_deps.pth").write_text(f"{deps_site}\n")
    _run([py, "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel_path], cwd=root)
    work = root / "work"
    work.mkdir()
    return venv, work


def _edgekit(installed, *args):
    venv, work = installed
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "EDGEKIT_BOARDS_DIR")}
    env["EDGEKIT_CACHE"] = str(work / "cache")
    return _run([venv / "bin" / "edgekit", *args], cwd=work, env=env)


def test_installed_from_sdist_runs_its_own_copy(installed):
    venv, work = installed
    out = _run([venv / "bin" / "python", "-c", "import edgekit; print(edgekit.__file__)"], cwd=work).stdout
    assert Path(out.strip()).is_relative_to(venv)


def test_installed_from_sdist_generates_gens_and_builds(installed):
    _, work = installed
    out = _edgekit(installed, "generate", "--prompt", "In the beginning", "--max-new", "4", "--temperature", "0",
                   "--json").stdout
    assert len(json.loads(out)["tokens"]) == 4
    _edgekit(installed, "gen", "--board", "host", "-o", "proj")
    assert (work / "proj" / "manifest.json").is_file() and (work / "proj" / "firmware" / "runtime").is_dir()
    _edgekit(installed, "build", "proj")
    assert os.access(work / "proj" / "build" / "firmware" / "edgekit-device", os.X_OK)
