"""Write the seed inputs of the libFuzzer harnesses in firmware/tests/fuzz/ (see its README.md).

    .venv/bin/python tools/make_fuzz_seeds.py            # rewrites firmware/tests/fuzz/corpus/*/seed-* and
                                                          # firmware/tests/fuzz/server_model.ekm

Seeds are small valid inputs the fuzzers mutate: link frames and damaged streams from
tests/vectors/link_vectors.json (fuzz_frame), request records for the device loop (fuzz_message: the
record layout is documented in fuzz_message.c), and tiny .ekm images in each ternary format, the integer heads, untied, with host-only
sections and split into two parts (fuzz_image). Everything is deterministic, so tests/test_fuzz_coverage.py checks that
the committed files are what this script writes. Inputs the fuzzers found later (files named by their
SHA-1) sit beside the seeds and are not touched.
"""
from __future__ import annotations

import json
import struct
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from edgekit.link import messages as M  # noqa: E402
from edgekit.link.framing import encode_frame  # noqa: E402

FUZZ_DIR = ROOT / "firmware" / "tests" / "fuzz"
VECTORS = ROOT / "tests" / "vectors" / "link_vectors.json"
MAX_SEED_BYTES = 64 * 1024  # libFuzzer's -max_len follows the largest seed: keep mutations cheap

# fuzz_message record flags (fuzz_message.c)
RAW, DAMAGED, NO_MODEL, CHUNKED_PREFILL = 1, 2, 4, 8


def _server_config(**overrides):
    """The model fuzz_message's device serves: small enough that a forward step costs microseconds."""
    from synthetic import tiny_config

    return tiny_config(**{**dict(vocab_size=32, hidden_size=32, intermediate_size=32, num_layers=1, num_heads=2,
                                 num_kv_heads=1, head_dim=16, max_seq_len=16), **overrides})


def _images() -> dict[str, bytes]:
    """Valid tiny images: every ternary format, float embeddings, untied lm_head, a two-part split."""
    from synthetic import random_model

    from edgekit.pack.packer import PackChoice, pack_model

    cfg = _server_config()
    out: dict[str, bytes] = {}
    with tempfile.TemporaryDirectory() as tmp:
        def pack(name: str, model, choice: PackChoice, parts: int = 1, placement=None) -> bytes:
            paths = [Path(tmp) / f"{name}.{i}.ekm" for i in range(parts)]
            pack_model(model, paths if parts > 1 else paths[0], choice, placement=placement)
            # parts back to back, each padded to 4 bytes: fuzz_image.c splits at each header's image_size
            return b"".join(p.read_bytes() + bytes(-p.stat().st_size % 4) for p in paths)

        tied = random_model(cfg, seed=1)
        out["server_model"] = pack("server", tied, PackChoice("i2", "f32", "f32"))
        out["seed-i2-tied-f16"] = pack("i2", tied, PackChoice("i2", "f16", "f16"))
        out["seed-t158-tied-q8row"] = pack("t158", tied, PackChoice("t158", "q8row", "q8row"))
        # the integer heads: q4i's block scales and nibbles, tied (its embedding rows decode too), and q8i
        out["seed-i2-tied-q4i"] = pack("q4i", tied, PackChoice("i2", "q4i", "q4i"))
        out["seed-t158-tied-q8i"] = pack("q8i", tied, PackChoice("t158", "q8i", "q8i"))
        untied = random_model(_server_config(tie_word_embeddings=False), seed=2)
        out["seed-tl-untied-f16"] = pack("tl", untied, PackChoice("tl", "f16", "f16"))
        # host-only sections (tokenizer, chat template) after the tensors: the reader checks and skips them
        from tokenizers import Tokenizer
        from tokenizers.models import WordLevel

        hosted = random_model(cfg, seed=3)
        hosted.tokenizer_json = Tokenizer(WordLevel({"a": 0, "b": 1}, unk_token="a")).to_str()
        hosted.chat_template = "{% for m in messages %}{{ m.content }}{% endfor %}"
        out["seed-i2-tied-host-sections"] = pack("hosted", hosted, PackChoice("i2", "f16", "f16"))
        layer_names = [n for n in untied.tensors if n.startswith("L0.")]
        out["seed-i2-untied-two-parts"] = pack("split", untied, PackChoice("i2", "f16", "f16"), parts=2,
                                              placement={n: (1, 0) for n in layer_names})
    return out


def _record(msg_type: int, body: bytes, flags: int = 0) -> bytes:
    return struct.pack("<BBH", flags, msg_type, len(body)) + body


def _message_seeds(vectors: dict) -> dict[str, bytes]:
    enc = M.encode_body
    hello = _record(0x01, enc("HELLO", protocol_version=M.PROTOCOL_VERSION))
    prompt = [1, 5, 9, 30]
    generate = enc("GENERATE", max_new_tokens=6, temperature=0.8, top_k=8, top_p=0.9, seed=7, flags=1 | 2,
                   prompt=prompt)
    seeds = {
        # a whole session: the same requests a host sends, in order
        "seed-session": b"".join([
            hello, _record(0x06, enc("PING", data=b"\x00\x01ping")), _record(0x02, generate),
            _record(0x04, enc("LOGITS", mode=0, flags=0, top_k=0, ids=prompt)),
            _record(0x04, enc("LOGITS", mode=1, flags=1, top_k=5, ids=[3])),
            _record(0x05, b""), _record(0x07, enc("RESET", mode=0)), _record(0x03, b"")]),
        # requests that arrive while a generation runs: answered mid-stream, BUSY, cancel, deferred reset
        "seed-during-generate": b"".join([
            hello, _record(0x02, enc("GENERATE", max_new_tokens=100, temperature=0.0, top_k=0, top_p=1.0,
                                     seed=1, flags=0, prompt=prompt * 3)),
            _record(0x06, enc("PING", data=b"x")), _record(0x05, b""), _record(0x04, enc("LOGITS", ids=[1])),
            _record(0x03, b""), _record(0x07, enc("RESET", mode=1)), hello]),
        # the image is damaged (flags bit 2 of the first record): the model does not open, requests get ERROR
        "seed-no-model": b"".join([
            _record(0x01, enc("HELLO", protocol_version=M.PROTOCOL_VERSION), NO_MODEL), _record(0x02, generate),
            _record(0x04, enc("LOGITS", mode=1, flags=0, top_k=3, ids=prompt)), _record(0x05, b""),
            _record(0x07, enc("RESET", mode=0))]),
        # the port gives prefill scratch (flags bit 3 of the first record): prompts run in chunks, polled between
        "seed-chunked-prefill": b"".join([
            _record(0x01, enc("HELLO", protocol_version=M.PROTOCOL_VERSION), CHUNKED_PREFILL),
            _record(0x02, enc("GENERATE", max_new_tokens=3, temperature=0.0, top_p=1.0, prompt=list(range(12)))),
            _record(0x06, enc("PING", data=b"during prefill")),
            _record(0x04, enc("LOGITS", mode=1, flags=0, top_k=4, ids=list(range(5, 15))))]),
        "seed-continue": b"".join([
            _record(0x02, enc("GENERATE", max_new_tokens=2, prompt=[4, 4])),
            _record(0x02, enc("GENERATE", max_new_tokens=3, flags=4, prompt=[])),
            _record(0x04, enc("LOGITS", mode=1, flags=1, top_k=126, ids=[]))]),
        "seed-garbage-and-damage": b"".join([
            _record(0, b"\x00\x11\x22\x00garbage\xff\xfe", RAW), _record(0x01, b"\x01\x00", DAMAGED), hello,
            _record(0x06, bytes.fromhex(vectors["messages"][8]["frame"]), RAW), _record(0x81, b"\x00"),
            _record(0x42, b"")]),
    }
    for i, m in enumerate(vectors["messages"]):  # every message type's vector body, as a request
        seeds[f"seed-vector-{i:02d}-{m['name'].lower()}"] = _record(m["type"], bytes.fromhex(m["body"]))
    return seeds


def seeds() -> dict[str, bytes]:
    """Relative path under firmware/tests/fuzz/ -> bytes, for every file this script writes."""
    vectors = json.loads(VECTORS.read_text())
    out: dict[str, bytes] = {}
    for m in vectors["messages"]:
        out[f"corpus/fuzz_frame/seed-frame-{m['name'].lower()}-{m['seq']}"] = bytes.fromhex(m["frame"])
    for i, s in enumerate(vectors["streams"]):
        out[f"corpus/fuzz_frame/seed-stream-{i:02d}"] = bytes.fromhex(s["stream"])
    # a frame whose COBS blocks end exactly at 254 and 255 bytes
    out["corpus/fuzz_frame/seed-frame-254-run"] = encode_frame(0x06, 9, M.encode_body("PING", data=b"\x7f" * 260))
    for name, data in _message_seeds(vectors).items():
        out[f"corpus/fuzz_message/{name}"] = data
    images = _images()
    out["server_model.ekm"] = images.pop("server_model")
    for name, data in images.items():
        out[f"corpus/fuzz_image/{name}.ekm"] = data
    too_big = [k for k, v in out.items() if len(v) > MAX_SEED_BYTES]
    assert not too_big, f"seeds over {MAX_SEED_BYTES} bytes: {too_big}"
    return out


def main() -> int:
    for rel, data in seeds().items():
        path = FUZZ_DIR / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        print(f"{path.relative_to(ROOT)}  {len(data)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
