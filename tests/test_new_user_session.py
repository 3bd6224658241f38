"""A new user's chat, typed into a real terminal: `edgekit chat` in a tmux pane against the POSIX device.

Keys go in with `tmux send-keys`, what the user would see comes back with `capture-pane`. Covers line editing (an
arrow-key edit reaches the model as the edited text), /help answered locally, Ctrl-C at the prompt (clears the
line), Ctrl-C during an answer (cancelled on the device and in the transcript), /stats, /save, Ctrl-D (ends the
session, exit 0) and the history file in $XDG_STATE_HOME. Waits are for text to appear, bounded so a broken chat
fails instead of hanging; nothing is asserted about time.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import edgekit
from edgekit.link import DeviceProcess
from edgekit.pack.packer import PackChoice, pack_model

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux (the Makefile installs it)")

ROOT = Path(__file__).resolve().parents[1]
WAIT_S = 60.0  # upper bound for text to appear; only there so a regression fails instead of hanging
PROMPT = "you> "
PROMPT_SHOWN = "you>"  # capture-pane drops trailing spaces: an empty prompt reads "you>"
EXIT_MARK = "[chat exited with status "


class Pane:
    """One tmux pane on a private server (its own socket: the user's tmux sessions are never touched)."""

    def __init__(self, socket: Path, command: str, env: dict[str, str]):
        self.socket = socket
        env_args = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # the shell prints the exit status into the pane (tmux's own #{pane_dead_status} can lag behind while
        # the dead process waits to be reaped)
        self._tmux("new-session", "-d", "-s", "chat", "-x", "160", "-y", "60",
                   f"env {env_args} {command}; echo \"{EXIT_MARK}$?]\"")
        self._tmux("set-option", "-t", "chat", "remain-on-exit", "on")

    def _tmux(self, *args: str) -> str:
        return subprocess.run(["tmux", "-S", str(self.socket), *args], check=True, capture_output=True,
                              text=True).stdout

    def keys(self, *keys: str, literal: bool = False) -> None:
        self._tmux("send-keys", "-t", "chat", *(["-l"] if literal else []), *keys)

    def text(self) -> str:
        return self._tmux("capture-pane", "-p", "-J", "-S", "-1000", "-t", "chat")

    def wait_for(self, needle: str, count: int = 1) -> str:
        deadline = time.monotonic() + WAIT_S
        while True:
            screen = self.text()
            if screen.count(needle) >= count:
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"{needle!r} (x{count}) never appeared in the pane:\n{screen}")
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run(["tmux", "-S", str(self.socket), "kill-server"], capture_output=True)


@pytest.fixture(scope="module")
def bundled_image(tmp_path_factory) -> Path:
    from edgekit.models import DEFAULT_MODEL

    path = tmp_path_factory.mktemp("img") / "kjv.ekm"
    pack_model(edgekit.load(DEFAULT_MODEL), path, PackChoice("i2"))
    return path


def test_a_new_user_chats_in_a_terminal(device_binary, bundled_image, tmp_path):
    state = tmp_path / "state"
    saved = tmp_path / "saved.json"
    transcript = tmp_path / "transcript.json"
    edgekit_bin = Path(sys.executable).parent / "edgekit"
    with DeviceProcess(device_binary, [bundled_image]) as dev:
        command = " ".join(shlex.quote(a) for a in (
            str(edgekit_bin), "chat", "--port", dev.url, "--max-new", "24", "--temperature", "0",
            "--transcript", str(transcript)))
        env = {"XDG_STATE_HOME": str(state), "HOME": str(tmp_path), "TERM": "xterm-256color",
               "PATH": os.environ.get("PATH", ""), "EDGEKIT_CACHE": str(tmp_path / "cache")}
        pane = Pane(tmp_path / "tmux.sock", command, env)
        try:
            pane.wait_for(PROMPT_SHOWN)
            # line editing: type with a missing letter, go back with the arrow keys, insert it
            pane.keys("And od said", literal=True)
            pane.keys(*["Left"] * len("od said"))
            pane.keys("G", literal=True)
            pane.keys("Enter")
            pane.wait_for("stop: ")
            pane.wait_for(PROMPT_SHOWN, count=2)

            pane.keys("/help", literal=True)
            pane.keys("Enter")
            screen = pane.wait_for("/save FILE")
            assert "/reset" in screen and "Ctrl-D ends the session" in screen
            pane.wait_for(PROMPT_SHOWN, count=3)

            # Ctrl-C at the prompt: the half-typed line is dropped, the session goes on
            pane.keys("never sent to the model", literal=True)
            pane.keys("C-c")
            pane.wait_for(PROMPT_SHOWN, count=4)

            # Ctrl-C during an answer: the device is held (SIGSTOP) so the answer is still running when the
            # key arrives; released, it sees the CANCEL the host sent and stops
            os.kill(dev.proc.pid, signal.SIGSTOP)
            try:
                pane.keys("In the beginning", literal=True)
                pane.keys("Enter")
                _wait_for_generate_sent(pane)
                pane.keys("C-c")
            finally:
                os.kill(dev.proc.pid, signal.SIGCONT)
            screen = pane.wait_for("stop: cancelled")
            assert "[cancelled]" in screen
            pane.wait_for(PROMPT_SHOWN, count=5)

            pane.keys("/stats", literal=True)
            pane.keys("Enter")
            screen = pane.wait_for("clock: device timer")
            assert "session: 2 answers (1 cancelled)" in screen
            pane.wait_for(PROMPT_SHOWN, count=6)

            pane.keys(f"/save {saved}", literal=True)
            pane.keys("Enter")
            pane.wait_for("saved the transcript to")
            pane.wait_for(PROMPT_SHOWN, count=7)

            pane.keys("C-d")
            screen = pane.wait_for(EXIT_MARK)
        finally:
            pane.close()
    assert f"{EXIT_MARK}0]" in screen, screen
    assert "Traceback" not in screen and "\x1b[D" not in screen and "^[[D" not in screen

    data = json.loads(saved.read_text())
    users = [t["content"] for t in data["turns"] if t["role"] == "user"]
    assert users == ["And God said", "In the beginning"]  # the edit landed; /help and the cleared line did not
    answers = [t for t in data["turns"] if t["role"] == "assistant"]
    assert answers[0]["stop_reason"] in ("max_tokens", "eos") and answers[0]["content"]
    assert answers[1]["cancelled"] is True and answers[1]["stop_reason"] == "cancelled"
    assert answers[1]["stats"]["reason"] == "cancelled"  # the device itself stopped, told by the host
    assert json.loads(transcript.read_text())["turns"] == data["turns"]  # --transcript kept up turn by turn
    history = (state / "edgekit" / "chat_history").read_text()
    assert "And God said" in history and "/help" in history and "never sent to the model" not in history


def _wait_for_generate_sent(pane: Pane) -> None:
    """Returns once the chat has sent its request and waits for the held device's answer: the chat process sleeps
    in select() on the link (the kernel's wait channel poll_schedule_timeout/do_select), not in the prompt's
    epoll (ep_poll). The request is written before the first wait, so Ctrl-C now interrupts an answer."""
    shell = pane._tmux("display-message", "-p", "-t", "chat", "#{pane_pid}").strip()
    children = subprocess.run(["pgrep", "-P", shell], capture_output=True, text=True).stdout.split()
    assert len(children) == 1, f"expected the chat as the pane shell's only child, got {children}"
    wchan = Path(f"/proc/{children[0]}/wchan")
    deadline = time.monotonic() + WAIT_S
    while True:
        where = wchan.read_text()
        if "select" in where or where.startswith("poll_schedule_timeout"):
            return
        if time.monotonic() > deadline:
            pytest.fail(f"the chat never waited for the device (last wait channel {where!r}):\n{pane.text()}")
        time.sleep(0.02)
