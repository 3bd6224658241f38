"""Outputs are whole or absent, with the user's file mode (issue: hardening).

Temp files beside the destination carry the writer's pid; a writer killed outright (SIGKILL) leaves one, which
the next write to the same destination removes. Finished files get 0o666 & ~umask like any new file.
SIGTERM unwinds like Ctrl-C, so a `pack` stopped by `kill` leaves nothing behind either.
"""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgekit.atomic_file import temp_beside, user_file_mode, write_text_atomic
from edgekit.pack.packer import PackChoice, pack_model
from synthetic import random_model, tiny_config

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_outputs_follow_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        assert user_file_mode() == 0o666 & ~umask
        text = write_text_atomic(tmp_path / "a.txt", "x")
        image = pack_model(random_model(tiny_config()), tmp_path / "m.ekm", PackChoice("i2", "f32", "f32"))[0]
    finally:
        os.umask(old)
    for path in (text, image):
        assert path.stat().st_mode & 0o777 == 0o666 & ~umask, path


def test_a_killed_writers_temp_file_is_removed_by_the_next_write(tmp_path):
    dest = tmp_path / "m.ekm"
    # a writer that died: its pid is not running any more (a child we reaped)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    stale = tmp_path / f".m.ekm.{child.pid}.abc123.tmp"
    stale.write_bytes(b"half an image")
    live = tmp_path / f".m.ekm.{os.getppid()}.xyz789.tmp"  # a writer still running: never touched
    live.write_bytes(b"in progress")
    fd, tmp = temp_beside(dest)
    os.close(fd)
    tmp.unlink()
    assert not stale.exists() and live.exists()


def test_sigterm_during_pack_leaves_no_temp_file(tmp_path):
    """`kill` a pack of the bundled model mid-write: SIGTERM unwinds, the temp file goes, no image appears."""
    out = tmp_path / "m.ekm"
    proc = subprocess.Popen([str(Path(sys.executable).parent / "edgekit"), "pack", "-o", str(out), "--format", "i2",
                             "--embedding", "f32"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not list(tmp_path.glob(".m.ekm.*.tmp")) and proc.poll() is None:
        time.sleep(0.005)
    if proc.poll() is not None:
        pytest.fail(f"pack ended before it could be interrupted: {proc.stderr.read().decode()[-500:]}")
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    assert proc.returncode != 0
    assert list(tmp_path.iterdir()) == [], list(tmp_path.iterdir())


def test_a_full_disk_is_one_line_and_leaves_nothing(tmp_path):
    """A 256 KB tmpfs (the suite runs as root, as CI does) cannot hold the bundled model's image."""
    small = tmp_path / "small"
    small.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(small)], capture_output=True,
                       text=True)
    if r.returncode:
        pytest.fail(f"cannot mount a small tmpfs to fill (the suite needs root, as CI has): {r.stderr.strip()}")
    try:
        res = subprocess.run([str(Path(sys.executable).parent / "edgekit"), "pack", "-o", str(small / "m.ekm")],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert res.returncode == 2, res.stderr
        assert "Traceback" not in res.stderr and "No space left on device" in res.stderr
        assert str(small / "m.ekm") in res.stderr
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.parametrize("output", ["missing/dir/x.ekm", "file.txt/x.ekm"])
def test_pack_refuses_an_output_folder_that_is_not_there_before_loading(tmp_path, output):
    from click.testing import CliRunner

    from edgekit.cli import cli

    (tmp_path / "file.txt").write_text("x")
    res = CliRunner().invoke(cli, ["pack", "-o", str(tmp_path / output)])
    assert res.exit_code == 2 and "folder" in res.output and "Traceback" not in res.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # nothing created
