"""Text over the link: incremental decoding that never splits a character, stream_generate, chat templates and
ChatSession turn by turn on the POSIX device."""
from __future__ import annotations

import json

from edgekit.link import ChatSession, IncrementalDecoder, stream_generate
from edgekit.link.session import RoleColonTemplate, parse_chat_template
# pytest fixtures (and the fixtures they use), requested by name
from link_devices import bundled, bundled_device, bundled_image, long_device, long_image  # noqa: F401

def test_stream_generate_yields_the_decoded_text(bundled_device, bundled):
    _, client = bundled_device
    ids = bundled.encode("The LORD is my shepherd")
    stream = stream_generate(client, bundled.tokenizer, ids, max_new_tokens=20)
    text = "".join(stream)
    assert stream.done is not None and stream.done.generated_tokens == len(stream.token_ids)
    shown = [t for t in stream.token_ids if t != client.identity.eos_id]
    assert text == bundled.tokenizer.decode(shown)


# --- text and chat helpers -------------------------------------------------------------------------------
class _ByteTokenizer:
    """Each id is one byte, decoded as UTF-8 with replacement: how byte-level BPE splits characters."""

    def decode(self, ids, skip_special_tokens=True):
        return bytes(ids).decode("utf-8", errors="replace")


def test_incremental_decoder_never_splits_a_character():
    dec = IncrementalDecoder(_ByteTokenizer())
    text = "añ€😀!"
    pieces = [dec.push(b) for b in text.encode("utf-8")] + [dec.flush()]
    assert "".join(pieces) == text
    assert all("\ufffd" not in p for p in pieces)
    assert pieces[:2] == ["a", ""]  # the first byte of ñ is held back until the second arrives


def test_chat_template_rendering():
    t = parse_chat_template(BITNET_2B_TEMPLATE)
    assert t == RoleColonTemplate("<|eot_id|>", True)
    assert t.render_message("user", "  Hi there \n") == "User: Hi there<|eot_id|>"
    assert parse_chat_template("{{ messages }}") is None and parse_chat_template(None) is None


def test_chat_session_reuses_the_device_sequence_and_saves_a_transcript(bundled_device, bundled, tmp_path):
    _, client = bundled_device
    transcript = tmp_path / "chat.json"
    chat = ChatSession(client, bundled.tokenizer, chat_template=bundled.chat_template, transcript=transcript,
                       max_new_tokens=12)
    assert chat.mode == "continuation"  # the bundled model has no chat template
    first = "".join(chat.send("And God said"))
    held = list(chat.device_tokens)
    assert held and chat.conversation[:len(held)] == held
    second = "".join(chat.send(" And the LORD spake"))
    # the second turn continued the device's sequence: what it holds starts with the first turn's tokens
    assert chat.device_tokens[:len(held)] == held
    assert first and second
    saved = json.loads(transcript.read_text())
    assert [t["role"] for t in saved["turns"]] == ["user", "assistant", "user", "assistant"]
    assert saved["turns"][1]["content"] == first.strip() and "decode_us" in saved["turns"][1]["stats"]
    assert saved["device"]["model_hash"] == client.identity.model_hash.hex()
    # the continued sequence gives the same answer as sending the whole conversation fresh
    whole = bundled.encode("And God said" + first + " And the LORD spake")
    fresh = client.generate(whole, max_new_tokens=12).run()
    assert fresh.generated_tokens > 0


BITNET_2B_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = message['role'] | "
    "capitalize + ': '+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = "
    "bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant: ' }}"
    "{% endif %}")


def test_chat_session_renders_the_template_turn_by_turn(bundled_device, bundled, monkeypatch):
    _, client = bundled_device
    sent = []
    real_generate = client.generate

    def recording_generate(prompt_ids, **kw):
        sent.append((list(prompt_ids), kw["continue_sequence"]))
        return real_generate(prompt_ids, **kw)

    monkeypatch.setattr(client, "generate", recording_generate)
    chat = ChatSession(client, bundled.tokenizer, chat_template=BITNET_2B_TEMPLATE, system="Be brief.",
                       max_new_tokens=6)
    assert chat.mode == "chat"
    answer = "".join(chat.send("Who made the light?"))
    tok = bundled.tokenizer
    first_text = "System: Be brief.<|eot_id|>User: Who made the light?<|eot_id|>Assistant: "
    assert sent[0] == ([client.identity.bos_id] + tok.encode(first_text, add_special_tokens=False).ids, False)
    "".join(chat.send("And then?"))
    # the first answer was cut at max tokens: the next turn closes it, then continues the device's sequence
    second_text = "<|eot_id|>User: And then?<|eot_id|>Assistant: "
    prompt2, cont2 = sent[1]
    assert cont2 is True and prompt2[-len(tok.encode(second_text, add_special_tokens=False).ids):] == \
        tok.encode(second_text, add_special_tokens=False).ids
    assert chat.turns[1].content == answer.strip()


def test_chat_session_recovers_from_an_interrupted_answer(long_device):
    _, client = long_device

    class Digits:  # a tokenizer for the random model: one id per character
        def encode(self, text, add_special_tokens=False):
            return [3 + (ord(c) % 90) for c in text]

        def decode(self, ids, skip_special_tokens=True):
            return "".join(chr(ord("a") + i % 26) for i in ids)

    chat = ChatSession(client, Digits(), max_new_tokens=3000)
    answer = chat.send("hello")
    for i, _ in enumerate(answer):
        if i == 3:
            break
    answer.close()  # what a Ctrl-C in the caller's loop does: the device is cancelled
    assert chat.device_tokens == [] and chat.turns[-1].role == "assistant"
    chat.sampling["max_new_tokens"] = 4
    assert len("".join(chat.send("again"))) > 0  # a fresh start, not a corrupted continuation
    assert chat.turns[-1].stats["reason"] in ("max_tokens", "eos")
