"""The CLI surface: help lists every command, inspect/pack/models/boards work and errors are one line."""
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import edgekit
from edgekit.cli import COMMANDS, cli

FIXTURE = Path(__file__).parent / "fixtures" / "bitlinear-untied-gqa2-sharded"


def run(*args, code=0):
    res = CliRunner().invoke(cli, [str(a) for a in args])
    assert res.exit_code == code, res.output
    return res


def test_help_lists_every_command_with_a_summary():
    out = run("--help").output
    for _module, name in COMMANDS:
        line = next((ln for ln in out.splitlines() if ln.strip().startswith(name + " ")), None)
        assert line is not None and len(line.split(None, 1)[1]) > 10, name


def test_inspect_checkpoint_json():
    info = json.loads(run("inspect", FIXTURE, "--json").output)
    c = info["config"]
    assert info["parameters"]["ternary"] == sum(t["shape"][0] * t["shape"][1] for t in info["tensors"]
                                                if t["kind"] == "ternary")
    assert info["ternary_bits_per_weight"] == 2.0  # HF packing: 4 codes per byte
    assert c["num_heads"] // c["num_kv_heads"] == 2 and not c["tie_word_embeddings"]
    assert info["tokenizer"]["vocab_size"] == c["vocab_size"]


@pytest.mark.parametrize("fmt", ["i2", "t158", "tl"])
def test_pack_then_inspect_the_image(tmp_path, fmt):
    out = tmp_path / "m.ekm"
    run("pack", FIXTURE, "-o", out, "--format", fmt, "--embedding", "f16", "-q")
    info = json.loads(run("inspect", out, "--json").output)
    assert info["image"]["parts"] == 1 and len(info["image"]["sections"]) == len(info["tensors"])
    # bytes per ternary tensor are the format's size for its shape, row padding included (i2 pads rows to 128)
    from edgekit.pack.formats import TERNARY_FORMATS

    expected = sum(TERNARY_FORMATS[fmt].packed_size(*t["shape"]) for t in info["tensors"] if t["kind"] == "ternary")
    assert info["bytes"]["ternary"] == expected
    ids = [1, 2, 3, 4]
    ref = edgekit.load(FIXTURE).logits(ids)
    got = edgekit.load(out).logits(ids)
    assert np.array_equal(got.argmax(-1), ref.argmax(-1))
    assert np.abs(got - ref).max() < 0.05  # f16 embedding/lm_head: a measured, reported accuracy choice


def test_inspect_refuses_a_corrupt_image(tmp_path):
    out = tmp_path / "m.ekm"
    run("pack", FIXTURE, "-o", out, "-q")
    data = bytearray(out.read_bytes())
    data[-100] ^= 0xFF
    out.write_bytes(bytes(data))
    res = run("inspect", out, code=2)
    assert "payload CRC mismatch" in res.output and "Traceback" not in res.output


def test_models_and_boards_listings():
    models = json.loads(run("models", "--json").output)
    assert any(m["default"] for m in models) and all(m["parameters"] > 0 for m in models)
    boards = {b["name"]: b for b in json.loads(run("boards", "--json").output)}
    assert boards["qemu-mps3-an547"]["verification"] == "emulated-and-tested"
    assert {b["verification"] for b in boards.values()} <= {"emulated-and-tested", "build-tested", "profile-only"}
    details = json.loads(run("boards", "show", "qemu-mps3-an547", "--json").output)
    assert "mve" in details["cpu"]["features"]
    res = run("boards", "show", "no-such-board", code=2)
    assert "edgekit boards" in res.output


def test_reference_generate_is_deterministic_and_streams():
    a = json.loads(run("generate", FIXTURE, "--prompt", "Hello", "--max-new", "8", "--seed", "3", "--json").output)
    b = json.loads(run("generate", FIXTURE, "--prompt", "Hello", "--max-new", "8", "--seed", "3", "--json").output)
    assert a["tokens"] == b["tokens"] and len(a["tokens"]) <= 8
    streamed = run("generate", FIXTURE, "--prompt", "Hello", "--max-new", "8", "--seed", "3").output
    assert streamed.startswith("Hello") and a["text"] in streamed
