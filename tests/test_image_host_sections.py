"""Self-contained .ekm images: the tokenizer (and chat template) travel in host-only sections, so an image
works alone on the host, while devices never receive them and the firmware's reader checks and skips them."""
from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest

import edgekit
from edgekit.errors import EdgekitError
from edgekit.pack.image import (ENTRY_FIELDS, ENTRY_SIZE, HEADER_FIELDS, HEADER_SIZE, HOST_KIND_MIN, read_image)
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler
from synthetic import random_model, tiny_config
from test_image_host_device_verdict import with_entry  # the same CRC-resealing mutation

ROOT = Path(__file__).resolve().parents[1]
PROMPT = "In the beginning"
HEADER = {name: (code, off) for name, code, off in HEADER_FIELDS}
ENTRY = {name: (code, off) for name, code, off in ENTRY_FIELDS}
EDGEKIT = [sys.executable, "-c", "from edgekit.cli import main; main()"]  # the installed CLI, any cwd
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}"


@pytest.fixture(scope="module")
def bundled():
    from edgekit.models import DEFAULT_MODEL

    return edgekit.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def alone(bundled, tmp_path_factory) -> Path:
    """The bundled model packed, then moved alone into an empty folder (no tokenizer.json anywhere near)."""
    packed = tmp_path_factory.mktemp("packed") / "m.ekm"
    pack_model(bundled, packed, PackChoice("i2"))
    dest = tmp_path_factory.mktemp("alone") / "m.ekm"
    shutil.move(packed, dest)
    assert sorted(p.name for p in dest.parent.iterdir()) == ["m.ekm"]
    return dest


def _greedy(model, n=8):
    return list(generate_tokens(model, model.encode(PROMPT), n, Sampler(temperature=0)))


def test_image_alone_carries_the_tokenizer(bundled, alone):
    image = read_image(alone)
    assert image.host_data("tokenizer").decode() == bundled.tokenizer_json
    back = edgekit.load(alone)
    assert back.tokenizer_hash() == bundled.tokenizer_hash() == image.header.tokenizer_hash
    assert back.encode(PROMPT) == bundled.encode(PROMPT)
    assert _greedy(back) == _greedy(bundled)


def test_cli_generate_with_the_image_alone(bundled, alone):
    proc = subprocess.run([*EDGEKIT, "generate", alone.name, "--prompt", PROMPT,
                           "--max-new", "8", "--temperature", "0", "--json"], cwd=alone.parent,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tokens"] == _greedy(bundled)


def test_host_sections_are_not_the_model(bundled, tmp_path):
    """Same model hash with and without them; they sit after every tensor; the model's tensors are unchanged."""
    with_tok, without = tmp_path / "with.ekm", tmp_path / "without.ekm"
    pack_model(bundled, with_tok, PackChoice("i2"))
    pack_model(bundled, without, PackChoice("i2"), host_sections=False)
    a, b = read_image(with_tok), read_image(without)
    assert a.header.model_hash == b.header.model_hash
    assert a.header.tokenizer_hash == b.header.tokenizer_hash
    assert [s.name for s in a.tensor_sections] == [s.name for s in b.sections]
    assert [s.name for s in a.sections if s.host_only] == ["tokenizer"]
    assert a.sections[-1].host_only and a.sections[-1].offset > a.tensor_sections[-1].offset
    assert b.host_data("tokenizer") is None


def test_chat_template_travels_too(tmp_path):
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    model = random_model(tiny_config(), seed=5)
    model.tokenizer_json = Tokenizer(WordLevel({"a": 0, "b": 1}, unk_token="a")).to_str()
    model.chat_template = TEMPLATE
    path = tmp_path / "m.ekm"
    pack_model(model, path)
    back = edgekit.load(path)
    assert back.chat_template == TEMPLATE and back.tokenizer_hash() == model.tokenizer_hash()
    assert [s.role for s in read_image(path).sections if s.host_only] == ["tokenizer", "chat_template"]


def test_image_without_the_section_still_uses_tokenizer_json_beside_it(bundled, tmp_path):
    path = tmp_path / "m.ekm"
    pack_model(bundled, path, host_sections=False)
    assert edgekit.load(path).tokenizer is None
    (tmp_path / "tokenizer.json").write_text(bundled.tokenizer_json, encoding="utf-8")
    assert edgekit.load(path).encode(PROMPT) == bundled.encode(PROMPT)
    (tmp_path / "tokenizer.json").write_text(bundled.tokenizer_json + " ", encoding="utf-8")
    with pytest.raises(EdgekitError, match="not the one the image was packed with"):
        edgekit.load(path)


def _tokenizer_entry(data: bytes) -> int:
    n = struct.unpack_from("<I", data, HEADER["section_count"][1])[0]
    for i in range(n):
        if struct.unpack_from("<H", data, HEADER_SIZE + i * ENTRY_SIZE + ENTRY["kind"][1])[0] == HOST_KIND_MIN:
            return i
    raise AssertionError("no tokenizer section")


def test_a_tampered_tokenizer_is_refused(alone, tmp_path):
    """CRCs all made right again: only the tokenizer hash in the header catches the change."""
    data = bytearray(alone.read_bytes())
    i = _tokenizer_entry(data)
    off = struct.unpack_from("<Q", data, HEADER_SIZE + i * ENTRY_SIZE + ENTRY["offset"][1])[0]
    size = struct.unpack_from("<Q", data, HEADER_SIZE + i * ENTRY_SIZE + ENTRY["size"][1])[0]
    text = bytes(data[off:off + size])
    j = text.index(b'"model"')
    data[off + j + 1] = ord("M")  # "model" -> "Model": still UTF-8 and the same length
    data = with_entry(bytes(data), i, crc=zlib.crc32(bytes(data[off:off + size])))
    path = tmp_path / "t.ekm"
    path.write_bytes(data)
    read_image(path)  # a valid image...
    with pytest.raises(EdgekitError, match="tokenizer hash differs"):
        edgekit.load(path)  # ...whose tokenizer is not the one it was packed with


# --- the firmware's reader: accepts them, skips them, and refuses what the host reader refuses ------------

@pytest.fixture(scope="module")
def eval_build(tmp_path_factory):
    from test_c_runtime import build_firmware

    return build_firmware(tmp_path_factory)


def test_firmware_runs_an_image_with_host_sections_like_one_without(eval_build, bundled, alone, tmp_path):
    from test_c_runtime import c_logits

    plain = tmp_path / "plain.ekm"
    pack_model(bundled, plain, PackChoice("i2"), host_sections=False)
    ids = bundled.encode(PROMPT)
    assert np.array_equal(c_logits(eval_build, [alone], ids, tmp_path), c_logits(eval_build, [plain], ids, tmp_path))


MUTATIONS = {
    "as packed": {},
    "format i2": dict(format=1),
    "layer 0": dict(layer=0),
    "renamed": dict(name=b"tokenizers"),
    "unknown host kind": dict(kind=HOST_KIND_MIN + 7),
    "chat template kind": dict(kind=HOST_KIND_MIN + 1),  # then the name is wrong for the kind
    "two columns": dict(cols=2),
    "one byte short": "size-1",
    "bad crc": "crc^1",
    "misaligned": "offset+4",
}


@pytest.mark.parametrize("case", list(MUTATIONS))
def test_host_section_mutations_get_one_verdict(eval_build, alone, tmp_path, case):
    from test_c_runtime import run_eval

    data = alone.read_bytes()
    i = _tokenizer_entry(data)
    change = MUTATIONS[case]
    if isinstance(change, str):
        field, op = change[:-2], change[-2:]
        code, off = ENTRY[field]
        value = struct.unpack_from("<" + code, data, HEADER_SIZE + i * ENTRY_SIZE + off)[0]
        change = {field: value - 1 if op == "-1" else value ^ 1 if op == "^1" else value + 4}
    path = tmp_path / "m.ekm"
    path.write_bytes(with_entry(data, i, **change))
    try:
        read_image(path)
        host = True
    except EdgekitError:
        host = False
    device = run_eval(eval_build, "info", path, check=False).returncode == 0
    assert host == device, case
    assert host == (case == "as packed"), case


def test_two_tokenizer_sections_are_refused_by_both(eval_build, alone, tmp_path):
    """The chat_template slot relabelled as a second tokenizer: host and device both refuse a duplicate."""
    from test_c_runtime import run_eval
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    model = random_model(tiny_config(), seed=5)
    model.tokenizer_json = Tokenizer(WordLevel({"a": 0}, unk_token="a")).to_str()
    model.chat_template = "x" * len(model.tokenizer_json)
    path = tmp_path / "m.ekm"
    pack_model(model, path)
    data = path.read_bytes()
    i = _tokenizer_entry(data)
    path.write_bytes(with_entry(data, i + 1, kind=HOST_KIND_MIN, name=b"tokenizer"))
    with pytest.raises(EdgekitError, match="appear once"):
        read_image(path)
    assert run_eval(eval_build, "info", path, check=False).returncode != 0


# --- a device that runs the model, reached with --port: the .ekm alone on the host side ------------------

def test_generate_and_validate_over_port_with_the_image_alone(device_binary, bundled, alone):
    from edgekit.link import DeviceProcess

    device_image = alone.parent.parent / "device.ekm"
    pack_model(bundled, device_image, PackChoice("i2"), host_sections=False)  # what `gen` gives a device
    with DeviceProcess(device_binary, [device_image]) as dev:
        gen = subprocess.run([*EDGEKIT, "generate", alone.name, "--port", dev.url,
                              "--prompt", PROMPT, "--max-new", "8", "--temperature", "0", "--json"],
                             cwd=alone.parent, capture_output=True, text=True, timeout=300)
        assert gen.returncode == 0, gen.stderr
        assert json.loads(gen.stdout)["tokens"] == _greedy(bundled)
        val = subprocess.run([*EDGEKIT, "validate", alone.name, "--port", dev.url,
                              "--json"], cwd=alone.parent, capture_output=True, text=True, timeout=300)
        assert val.returncode == 0, val.stderr + val.stdout


def test_split_image_keeps_host_sections_in_part_zero(eval_build, bundled, tmp_path):
    from edgekit.model import tensor_layout
    from test_c_runtime import c_logits

    placement = {name: (0 if layer < 0 else 1, 0) for name, _, layer, _, _ in tensor_layout(bundled.config)}
    parts = pack_model(bundled, [tmp_path / "a.ekm", tmp_path / "b.ekm"], PackChoice("i2"), placement=placement,
                       host_sections=True)
    first, second = read_image(parts[0]), read_image(parts[1])
    assert [s.role for s in first.sections if s.host_only] == ["tokenizer"]
    assert not [s for s in second.sections if s.host_only]
    from edgekit.pack.packer import model_from_images

    back = model_from_images(parts)
    assert back.encode(PROMPT) == bundled.encode(PROMPT)
    plain = pack_model(bundled, [tmp_path / "c.ekm", tmp_path / "d.ekm"], PackChoice("i2"), placement=placement)
    assert all(not s.host_only for p in plain for s in read_image(p).sections)  # placed: device images
    ids = bundled.encode(PROMPT)
    assert np.array_equal(c_logits(eval_build, parts, ids, tmp_path), c_logits(eval_build, plain, ids, tmp_path))


def test_generate_without_any_tokenizer_says_how_to_get_one(bundled, tmp_path):
    from click.testing import CliRunner

    from edgekit.cli import cli

    path = tmp_path / "bare.ekm"
    pack_model(bundled, path, host_sections=False)  # a device image, alone: no section, no tokenizer.json
    res = CliRunner().invoke(cli, ["generate", str(path), "--prompt", PROMPT])
    assert res.exit_code == 2
    (line,) = res.output.strip().splitlines()
    assert "has no tokenizer" in line and "edgekit pack" in line and "token ids" not in line


def test_inspect_says_what_the_image_carries_for_the_host(bundled, alone, tmp_path):
    from click.testing import CliRunner

    from edgekit.cli import cli

    res = CliRunner().invoke(cli, ["inspect", str(alone)])
    assert res.exit_code == 0 and "carries for the host (never sent to a device): tokenizer (" in res.output
    bare = tmp_path / "bare.ekm"
    pack_model(bundled, bare, host_sections=False)
    res = CliRunner().invoke(cli, ["inspect", str(bare)])
    assert res.exit_code == 0 and "tokenizer comes from a tokenizer.json beside it" in res.output
    info = json.loads(CliRunner().invoke(cli, ["inspect", str(alone), "--json"]).output)
    assert [s["name"] for s in info["image"]["host_sections"]] == ["tokenizer"]
    assert len(info["image"]["sections"]) == len(info["tensors"])  # "sections": the tensors, as before


def test_cli_pack_with_its_progress_bar_writes_the_tokenizer(bundled, tmp_path):
    """The progress callback also sees the host-only section (not a tensor) and must not trip on it."""
    from click.testing import CliRunner

    from edgekit.cli import cli

    out = tmp_path / "m.ekm"
    res = CliRunner().invoke(cli, ["pack", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert read_image(out).host_data("tokenizer").decode() == bundled.tokenizer_json
