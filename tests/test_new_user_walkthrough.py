"""A new user's first session with the installed `edgekit` command, step by step, in a fresh home folder.

Each step runs the real console script in a subprocess (its own HOME, cache and state folders) and checks what the
user sees. Together with the packaging test (item 1: sdist -> wheel -> fresh venv, tests/test_packaging.py) and the
tmux-driven chat (item 8, tests/test_new_user_session.py), it walks through every item of the new-user issue:
output paths checked up front, a self-contained .ekm, `gen` without a compiler, `devices`, `doctor`, -q/-v, the
environment variables in --help, `cache list|prune`, clock-labelled rates, and plan suggestions that fit.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.models import DEFAULT_MODEL

EDGEKIT = Path(sys.executable).parent / "edgekit"  # the console script `pip install` made
PROMPT = "And God said,"


class User:
    """A person at a shell: a home folder of their own, edgekit's cache and state inside it."""

    def __init__(self, home: Path):
        self.home = home
        self.env = {**os.environ, "HOME": str(home), "EDGEKIT_CACHE": str(home / ".cache" / "edgekit"),
                    "XDG_STATE_HOME": str(home / ".local" / "state"), "COLUMNS": "160"}

    def run(self, *args, path: str | None = None, ok: bool = True) -> subprocess.CompletedProcess:
        env = dict(self.env) if path is None else {**self.env, "PATH": path}
        r = subprocess.run([str(EDGEKIT), *map(str, args)], cwd=self.home, env=env, capture_output=True, text=True,
                           timeout=900)
        if ok:
            assert r.returncode == 0, f"edgekit {' '.join(map(str, args))}:\n{r.stdout}\n{r.stderr}"
        return r


@pytest.fixture(scope="module")
def user(tmp_path_factory) -> User:
    return User(tmp_path_factory.mktemp("home"))


def one_error_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    (line,) = r.stderr.strip().splitlines()
    assert line.startswith("edgekit: error: ") and "Traceback" not in r.stderr
    return line


def test_help_names_the_environment_variables(user):
    out = user.run("--help").stdout
    for name in ("EDGEKIT_CACHE", "EDGEKIT_BOARDS_DIR", "EDGEKIT_SSH_CONFIG"):
        assert name in out


def test_doctor_says_the_default_board_is_ready(user):
    report = json.loads(user.run("doctor", "--json").stdout)
    assert report["ok"]
    board = next(b for b in report["boards"] if b["name"] == "qemu-mps3-an547")
    assert board["ready"], board


def test_a_bad_output_path_is_refused_before_any_work(user):
    line = one_error_line(user.run("pack", "-o", "no/such/folder/model.ekm", ok=False))
    assert "no/such/folder: folder does not exist (create it first" in line  # where, what, and the fix
    assert not (user.home / "no").exists()


def test_a_packed_image_works_alone(user):
    user.run("pack", "-o", "model.ekm")
    alone = user.home / "alone"
    alone.mkdir()
    shutil.move(user.home / "model.ekm", alone / "model.ekm")  # no tokenizer.json beside it
    assert sorted(p.name for p in alone.iterdir()) == ["model.ekm"]
    args = ("-p", PROMPT, "--engine", "reference", "--temperature", "0", "--max-new", "8", "--json")
    from_image = json.loads(user.run("generate", alone / "model.ekm", *args).stdout)
    from_model = json.loads(user.run("generate", DEFAULT_MODEL, *args).stdout)
    assert from_image["tokens"] == from_model["tokens"] and from_image["text"] == from_model["text"]


def test_gen_needs_no_compiler_and_build_names_the_missing_tool(user, tmp_path):
    empty = tmp_path / "empty-path"
    empty.mkdir()
    user.run("gen", "--board", "qemu-mps3-an547", "-o", "m55", path=str(empty))
    assert (user.home / "m55" / "CMakeLists.txt").is_file()
    line = one_error_line(user.run("build", "m55", path=str(empty), ok=False))
    assert "cmake" in line and "apt" in line  # the tool and how to install it


def test_quiet_run_prints_only_the_answer_and_the_cache_lists_and_prunes_the_build(user):
    r = user.run("-q", "generate", "-p", PROMPT, "--board", "host", "--temperature", "0", "--max-new", "4", "--json")
    assert json.loads(r.stdout)["engine"] == "device"
    assert r.stderr == ""  # -q: no spinner, no build chatter
    entries = json.loads(user.run("cache", "list", "--json").stdout)["entries"]
    assert [e["board"] for e in entries] == ["host"]
    user.run("cache", "prune", "--all")
    assert json.loads(user.run("cache", "list", "--json").stdout)["entries"] == []


def test_devices_finds_the_running_device(user, device_binary, tmp_path):
    from edgekit.link import DeviceProcess

    user.run("pack", "-o", tmp_path / "dev.ekm")
    with DeviceProcess(device_binary, [tmp_path / "dev.ekm"]) as dev:
        ports = json.loads(user.run("devices", "--port", dev.url, "--timeout", "5", "--json").stdout)["ports"]
    found = next(p for p in ports if p["device"] == dev.url)
    assert found["probe"]["status"] == "edgekit", found


def test_rates_name_their_clock(user):
    r = user.run("generate", "-p", PROMPT, "--engine", "reference", "--temperature", "0", "--max-new", "4")
    assert "host wall clock" in r.stderr
    user.run("profile", "--board", "qemu-mps3-an547", "--tokens", "4", "-o", "m55-profile")
    summary = json.loads((user.home / "m55-profile" / "summary.json").read_text())
    text = json.dumps(summary)
    assert "instruction-count" in text and "estimate" in text  # an emulated board's rates are estimates


def test_plan_suggests_boards_that_fit_best_first(user):
    r = user.run("plan", "--board", "qemu-netduinoplus2", "--json", ok=False)
    assert r.returncode == 2
    alternatives = json.loads(r.stdout)["alternatives"]
    boards = [b["board"] for b in alternatives["boards"]]
    estimates = [b["est_ms_per_token_bandwidth_bound"] for b in alternatives["boards"]]
    assert boards and estimates == sorted(estimates)
    user.run("plan", "--board", boards[0])  # the first suggestion really fits (exit 0)
