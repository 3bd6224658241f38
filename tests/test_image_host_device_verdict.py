"""Host and device accept exactly the same images (issue: hardening).

The same mutated images go to the Python reader (`pack`/`inspect` use it) and to the firmware's image check
(`ek_eval info`: ek_image_open_part + ek_image_check_parts, the code the device runs at boot). Mutations keep
the CRCs right so they reach the config and section checks: the limits both apply come from one table
(edgekit/model.py, generated into ek_spec.h). A disagreement either way is a bug: an image `inspect` calls
valid that the board refuses, or the reverse.
"""
import math
import random
import struct
import zlib

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.model import CONFIG_MAX_DIM, CONFIG_MAX_LAYERS, NO_TOKEN
from edgekit.pack.image import (ENTRY_FIELDS, ENTRY_SIZE, HEADER_FIELDS, HEADER_SIZE, read_image)
from edgekit.pack.packer import PackChoice, pack_model
from synthetic import random_model, tiny_config
from helpers import build_firmware, run_eval

HEADER = {name: (code, off) for name, code, off in HEADER_FIELDS}
ENTRY = {name: (code, off) for name, code, off in ENTRY_FIELDS}
RANDOM_CASES = 300


@pytest.fixture(scope="module")
def build(tmp_path_factory):
    return build_firmware(tmp_path_factory)


@pytest.fixture(scope="module")
def image(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("verdict") / "m.ekm"
    pack_model(random_model(tiny_config(max_seq_len=64)), path, PackChoice("i2", "f32", "f32"))
    return path.read_bytes()


def _crc(data) -> int:
    return zlib.crc32(bytes(data)) & 0xFFFFFFFF


def _reseal(buf: bytearray) -> bytes:
    """Recompute the table CRC and the header CRC, so a mutation reaches the checks behind them."""
    n = struct.unpack_from("<I", buf, HEADER["section_count"][1])[0]
    struct.pack_into("<I", buf, HEADER["table_crc"][1], _crc(buf[HEADER_SIZE:HEADER_SIZE + n * ENTRY_SIZE]))
    struct.pack_into("<I", buf, HEADER["header_crc"][1], 0)
    struct.pack_into("<I", buf, HEADER["header_crc"][1], _crc(buf[:HEADER_SIZE]))
    return bytes(buf)


def with_header(image: bytes, **fields) -> bytes:
    buf = bytearray(image)
    for name, value in fields.items():
        code, off = HEADER[name]
        struct.pack_into("<" + code, buf, off, value)
    return _reseal(buf)


def with_entry(image: bytes, index: int, **fields) -> bytes:
    buf = bytearray(image)
    for name, value in fields.items():
        code, off = ENTRY[name]
        struct.pack_into("<" + code, buf, HEADER_SIZE + index * ENTRY_SIZE + off, value)
    return _reseal(buf)


def first_ternary_entry(image: bytes) -> int:
    n = struct.unpack_from("<I", image, HEADER["section_count"][1])[0]
    for i in range(n):
        if struct.unpack_from("<B", image, HEADER_SIZE + i * ENTRY_SIZE + ENTRY["format"][1])[0] in (1, 2, 3):
            return i
    raise AssertionError("no ternary section")


def verdicts(build, tmp_path, data: bytes, name: str = "m.ekm") -> tuple[bool, bool, str, str]:
    path = tmp_path / name
    path.write_bytes(data)
    try:
        read_image(path)
        host_ok, host_msg = True, ""
    except EdgekitError as exc:
        host_ok, host_msg = False, str(exc)
    r = run_eval(build, "info", path, check=False)
    return host_ok, r.returncode == 0, host_msg, r.stderr.strip()


F32_MAX = float(np.finfo(np.float32).max)
CASES = {
    # accepted by both: values that do not change any section's shape
    "context 32": dict(max_seq_len=32),
    "context at the limit": dict(max_seq_len=CONFIG_MAX_DIM),
    "eps 1e-6": dict(rms_norm_eps=1e-6),
    "theta 1e6": dict(rope_theta=1e6),
    "eos within vocab": dict(eos_token_id=50),
    "no bos": dict(bos_token_id=NO_TOKEN),
    # refused by both
    "context above the limit": dict(max_seq_len=CONFIG_MAX_DIM + 1),
    "context 2^31": dict(max_seq_len=1 << 31),
    "context 0": dict(max_seq_len=0),
    "eps NaN": dict(rms_norm_eps=math.nan),
    "eps inf": dict(rms_norm_eps=math.inf),
    "eps 0": dict(rms_norm_eps=0.0),
    "eps negative": dict(rms_norm_eps=-1e-5),
    "theta inf": dict(rope_theta=math.inf),
    "bos = vocab": dict(bos_token_id=96),
    "eos 2^31": dict(eos_token_id=1 << 31),
    "layers 0": dict(num_layers=0),
    "layers above the limit": dict(num_layers=CONFIG_MAX_LAYERS + 1),
    "vocab 2^32-1": dict(vocab_size=0xFFFFFFFF),
    "heads not a multiple of kv heads": dict(num_kv_heads=3),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_mutations_get_one_verdict(build, image, tmp_path, case):
    host, device, hmsg, dmsg = verdicts(build, tmp_path, with_header(image, **CASES[case]))
    assert host == device, f"{case}: host {'accepts' if host else 'refuses: ' + hmsg}, " \
                           f"device {'accepts' if device else 'refuses: ' + dmsg}"
    assert host == (list(CASES).index(case) < 6), case


@pytest.mark.parametrize("scale", [math.nan, 0.0, -2.0, math.inf, F32_MAX, 1e-30])
def test_ternary_scale_mutations_get_one_verdict(build, image, tmp_path, scale):
    data = with_entry(image, first_ternary_entry(image), scale=scale)
    host, device, hmsg, dmsg = verdicts(build, tmp_path, data)
    assert host == device, f"scale {scale}: host {hmsg or 'accepts'}, device {dmsg or 'accepts'}"
    assert host == (0 < scale <= F32_MAX)


def test_random_header_and_table_mutations_get_one_verdict(build, image, tmp_path):
    rng = random.Random(1234)
    n = struct.unpack_from("<I", image, HEADER["section_count"][1])[0]
    disagreements = []
    accepted = 0
    for case in range(RANDOM_CASES):
        buf = bytearray(image)
        for _ in range(rng.randint(1, 3)):
            # bytes of the config block (48..96) or of a section-table entry, CRCs resealed afterwards
            if rng.random() < 0.5:
                pos = rng.randrange(48, 96)
            else:
                pos = HEADER_SIZE + rng.randrange(n * ENTRY_SIZE)
            buf[pos] = rng.randrange(256) if rng.random() < 0.7 else buf[pos] ^ (1 << rng.randrange(8))
        host, device, hmsg, dmsg = verdicts(build, tmp_path, _reseal(buf), f"r{case}.ekm")
        accepted += host and device
        if host != device:
            disagreements.append((case, hmsg or "host accepts", dmsg or "device accepts"))
    assert disagreements == [], "\n".join(map(str, disagreements))
    print(f"{RANDOM_CASES} random mutations: {accepted} accepted by both, the rest refused by both")
