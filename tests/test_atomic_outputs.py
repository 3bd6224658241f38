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


# --- every output path is checked before any work: one line, exit 2, nothing created -----------------------

BAD_OUTPUTS = {
    "missing folder": ("missing/dir/out", "folder does not exist"),
    "inside a file": ("file.txt/out", "is not a folder"),
    "in /proc": ("/proc/edgekit-out", "cannot create files in this folder"),
    "in /sys": ("/sys/edgekit-out", "cannot create files in this folder"),
}
# (command line with OUT for the output, whether the output is a folder); every one would load a model first
WRITING_COMMANDS = {
    "pack": (["pack", "-o", "OUT"], False),
    "gen": (["gen", "--board", "host", "-o", "OUT"], True),
    "build --board": (["build", "--board", "host", "-o", "OUT"], True),
    "profile": (["profile", "--board", "host", "-o", "OUT"], True),
    "chat --transcript": (["chat", "--board", "host", "--transcript", "OUT"], False),
}


def _invoke(args):
    from click.testing import CliRunner

    from edgekit.cli import cli

    return CliRunner().invoke(cli, args)


@pytest.mark.parametrize("command", list(WRITING_COMMANDS))
@pytest.mark.parametrize("bad", list(BAD_OUTPUTS))
def test_a_bad_output_path_is_one_line_before_any_work(tmp_path, monkeypatch, command, bad):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file.txt").write_text("x")
    output, message = BAD_OUTPUTS[bad]
    argv, _ = WRITING_COMMANDS[command]
    res = _invoke([output if a == "OUT" else a for a in argv])
    assert res.exit_code == 2, res.output
    (line,) = res.output.strip().splitlines()
    assert line.startswith("edgekit: error: ") and message in line and "(" in line  # the fix is given
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]  # no folder made, no temp file left


@pytest.mark.parametrize("command", list(WRITING_COMMANDS))
def test_an_output_of_the_wrong_kind_is_refused(tmp_path, monkeypatch, command):
    """A file where a folder is written, or a folder where a file is."""
    monkeypatch.chdir(tmp_path)
    argv, is_folder = WRITING_COMMANDS[command]
    if is_folder:
        (tmp_path / "out").write_text("x")
        expected = "exists and is not a folder"
    else:
        (tmp_path / "out").mkdir()
        expected = "is a folder, not a file"
    res = _invoke(["out" if a == "OUT" else a for a in argv])
    assert res.exit_code == 2 and expected in res.output, res.output


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_a_generated_project_follows_the_umask(tmp_path, umask):
    from edgekit.boards import load_board
    from edgekit.gen.project import generate_project

    old = os.umask(umask)
    try:
        project = generate_project(random_model(tiny_config()), load_board("host"), tmp_path / "p").path
    finally:
        os.umask(old)
    file_mode = 0o666 & ~umask
    dir_mode = 0o777 & ~umask
    modes = {p.relative_to(tmp_path): p.stat().st_mode & 0o777 for p in [project, *project.rglob("*")]}
    wrong = {p: oct(m) for p, m in modes.items() if m != (dir_mode if (tmp_path / p).is_dir() else file_mode)}
    assert not wrong, wrong
