"""`edgekit chat` against the real POSIX device: local commands never reach the model, stop reasons (text and
--json), cancelled turns in the transcript, the device limit, chat template vs plain continuation, the history
file's place. The terminal side (line editing, Ctrl-C, Ctrl-D in a real pty) is tests/test_new_user_session.py."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import edgekit
from edgekit.cli import cli
from edgekit.cli.chat import ChatLoop, history_path
from edgekit.link import ChatSession, DeviceClient, DeviceProcess
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.profile.clocks import device_clock

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from synthetic import random_model, tiny_config  # noqa: E402

# microsoft/bitnet-b1.58-2B-4T's tokenizer_config.json chat_template (the Llama-3-style role: text<|eot_id|> form)
BITNET_2B_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = message['role'] | "
    "capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = "
    "bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}"
    "{% endif %}")


@pytest.fixture(scope="module")
def bundled_image(tmp_path_factory) -> Path:
    from edgekit.models import DEFAULT_MODEL

    path = tmp_path_factory.mktemp("img") / "kjv.ekm"
    pack_model(edgekit.load(DEFAULT_MODEL), path, PackChoice("i2"))
    return path


@pytest.fixture
def device_url(device_binary, bundled_image):
    with DeviceProcess(device_binary, [bundled_image]) as dev:
        yield dev.url


@pytest.fixture(scope="module")
def template_model(tmp_path_factory) -> tuple[Path, Path]:
    """A tiny checkpoint whose tokenizer_config.json carries the 2B-4T chat template, and its image."""
    from tools.synth_checkpoint import synth_checkpoint

    d = tmp_path_factory.mktemp("tiny-chat") / "ckpt"
    synth_checkpoint("tiny", d, seed=3)
    cfg_path = d / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text()) if cfg_path.exists() else {}
    cfg.update({"chat_template": BITNET_2B_TEMPLATE, "bos_token": "<|begin_of_text|>"})
    cfg_path.write_text(json.dumps(cfg))
    image = d.parent / "tiny.ekm"
    pack_model(edgekit.load(d), image, PackChoice("i2"))
    return d, image


def _run(args, stdin="", env=None):
    return CliRunner().invoke(cli, ["chat", *args], input=stdin, env=env)


def test_local_commands_never_reach_the_model(device_url, tmp_path):
    saved = tmp_path / "chat.json"
    res = _run(["--port", device_url, "--max-new", "8", "--temperature", "0"],
               stdin=f"And God said\n/help\n/stats\n/bogus\n/save /no/such/x.json\n/save {saved}\n/quit\nnever read\n")
    assert res.exit_code == 0, res.output
    err = res.stderr
    assert "/reset" in err and "/save FILE" in err and "Ctrl-D ends the session" in err  # /help
    assert "stop: max tokens · 8 tokens" in err
    assert "last answer: 8 tokens (stop: max tokens)" in err and "session: 1 answers (0 cancelled)" in err
    assert "clock: device timer: the monotonic clock of the machine running the device" in err
    assert "unknown command /bogus" in err and "folder does not exist" in err  # /save /no/such/x.json
    data = json.loads(saved.read_text())
    assert [t["role"] for t in data["turns"]] == ["user", "assistant"]  # one user turn: no command was sent
    assert data["turns"][0]["content"] == "And God said" and data["turns"][1]["stop_reason"] == "max_tokens"
    assert data["device_limit"] == data["device"]["context_len"] - 1


def test_json_mode_prints_one_object_per_turn(device_url):
    res = _run(["--port", device_url, "--max-new", "5", "--json", "--temperature", "0"],
               stdin="In the beginning\n/stats\n//slash is text\n")
    assert res.exit_code == 0, res.output
    objs = [json.loads(line) for line in res.stdout.splitlines()]
    assert [o["type"] for o in objs] == ["turn", "stats", "turn"]
    first, stats, second = objs
    assert first["user"] == "In the beginning" and first["stop_reason"] in ("max_tokens", "eos")
    assert first["generated_tokens"] <= 5 and first["device"]["clock"]["kind"] == "device-timer"
    assert first["device"]["decode_tokens_per_s"] > 0
    assert second["user"] == "/slash is text"  # "//" escapes a leading slash
    assert stats["session"]["answers"] == 1 and stats["last"]["stop_reason"] == first["stop_reason"]


def test_bad_transcript_path_is_one_line_before_connecting(tmp_path):
    res = _run(["--port", "/dev/null", "--transcript", str(tmp_path / "no" / "such" / "chat.json")])
    assert res.exit_code == 2 and "folder does not exist" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "no").exists()


def test_max_new_above_the_context_is_said_up_front(device_url):
    res = _run(["--port", device_url, "--max-new", "5000", "--prompt", "And"])
    assert res.exit_code == 0, res.output
    assert "--max-new 5000 is more than the device's context holds (256 tokens" in res.stderr
    assert '"device limit"' in res.stderr


class _Chars:
    """A tokenizer for random models: one id per character, ids 3..92."""

    def encode(self, text, add_special_tokens=False):
        return [3 + (ord(c) % 90) for c in text]

    def decode(self, ids, skip_special_tokens=True):
        return "".join(chr(ord("a") + i % 26) for i in ids)


@pytest.fixture(scope="module")
def no_eos_image(tmp_path_factory) -> Path:
    """A random model whose eos id is outside its vocabulary: its answers end only by length or context."""
    path = tmp_path_factory.mktemp("img") / "noeos.ekm"
    pack_model(random_model(tiny_config(max_seq_len=64, eos_token_id=95), seed=5), path, PackChoice("i2"))
    return path


@pytest.fixture(scope="module")
def long_image(tmp_path_factory) -> Path:
    """The same without eos and with a long context: an answer that is still running when it is cancelled."""
    path = tmp_path_factory.mktemp("img") / "long.ekm"
    pack_model(random_model(tiny_config(max_seq_len=4096, eos_token_id=95), seed=5), path, PackChoice("i2"))
    return path


def test_an_answer_cut_by_the_context_says_device_limit(device_binary, no_eos_image, tmp_path):
    with DeviceProcess(device_binary, [no_eos_image]) as dev, DeviceClient(dev.url) as client:
        client.hello()
        ctx = client.identity.context_len
        chat = ChatSession(client, _Chars(), max_new_tokens=1000, temperature=0.0, transcript=tmp_path / "t.json")
        assert chat.clamped and chat.device_limit == ctx - 1
        "".join(chat.send("hello"))
        turn = chat.turns[-1]
        # the whole context was used: prompt (5) + every generated token but the last, which is never run
        assert turn.stop_reason == "device_limit" and turn.stats["generated_tokens"] == ctx - 5 + 1
        # within the limit, the device's own reasons come through
        chat.reset()
        chat.sampling["max_new_tokens"] = 4
        "".join(chat.send("hi"))
        assert chat.turns[-1].stop_reason == "max_tokens"


def test_a_cancelled_answer_is_marked_in_the_transcript(device_binary, long_image, tmp_path):
    class InterruptingOut:
        """Stdout whose third write is a Ctrl-C: the interrupt lands in the chat loop, not the link code."""

        def __init__(self):
            self.writes = []

        def write(self, text):
            self.writes.append(text)
            if len(self.writes) == 3:
                raise KeyboardInterrupt

        def flush(self):
            pass

    transcript = tmp_path / "t.json"
    with DeviceProcess(device_binary, [long_image]) as dev, DeviceClient(dev.url) as client:
        client.hello()
        chat = ChatSession(client, _Chars(), max_new_tokens=4000, transcript=transcript)
        out = InterruptingOut()
        loop = ChatLoop(chat, device_clock(client.identity.board, client.identity.clock_hz), out=out)
        loop.answer("hello")
        assert out.writes[-2:] == [" [cancelled]", "\n"]
        turn = chat.turns[-1]
        assert turn.stop_reason == "cancelled" and turn.stats["reason"] == "cancelled"
        assert turn.stats["generated_tokens"] < 4000  # the device was told to stop
        saved = json.loads(transcript.read_text())["turns"][-1]
        assert saved["cancelled"] is True and saved["stop_reason"] == "cancelled"
        # the device is idle and usable: the next turn is a fresh, complete answer
        chat.sampling["max_new_tokens"] = 3
        "".join(chat.send("again"))
        assert chat.turns[-1].stop_reason == "max_tokens" and chat.totals()["cancelled"] == 1


def test_chat_template_model_talks_in_turns(device_binary, template_model, tmp_path):
    ckpt, image = template_model
    transcript = tmp_path / "t.json"
    with DeviceProcess(device_binary, [image]) as dev:
        res = _run([str(ckpt), "--port", dev.url, "--max-new", "6", "--json", "--transcript", str(transcript),
                    "--system", "Be brief."], stdin="Who made the light?\nAnd then?\n")
    assert res.exit_code == 0, res.output
    assert "chat mode" in res.stderr
    turns = [json.loads(line) for line in res.stdout.splitlines()]
    assert len(turns) == 2 and all(t["stop_reason"] in ("eos", "max_tokens") for t in turns)
    saved = json.loads(transcript.read_text())
    assert saved["mode"] == "chat" and saved["system"] == "Be brief."


def test_plain_continuation_without_a_template(device_url):
    res = _run(["--port", device_url, "--max-new", "3", "--prompt", "And God said"])
    assert res.exit_code == 0, res.output
    assert "continuation mode" in res.stderr and res.stdout.strip()


def test_history_lives_in_the_users_state_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert history_path() == tmp_path / "state" / "edgekit" / "chat_history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert history_path() == tmp_path / "home" / ".local" / "state" / "edgekit" / "chat_history"


def test_a_message_too_long_for_the_context_is_refused_and_the_chat_goes_on(device_binary, no_eos_image):
    import io

    with DeviceProcess(device_binary, [no_eos_image]) as dev, DeviceClient(dev.url) as client:
        client.hello()
        chat = ChatSession(client, _Chars(), max_new_tokens=8, temperature=0.0)
        out = io.StringIO()
        loop = ChatLoop(chat, device_clock(client.identity.board, client.identity.clock_hz), out=out,
                        json_out=True)
        loop.answer("x" * 200)  # 200 tokens in a 64-token context
        loop.answer("hi")
        first, second = (json.loads(line) for line in out.getvalue().splitlines())
        assert first["type"] == "error" and "device context holds 64" in first["error"]
        assert second["type"] == "turn" and second["stop_reason"] == "max_tokens"
        assert [t.content for t in chat.turns if t.role == "user"] == ["hi"]  # the refused message is not kept
