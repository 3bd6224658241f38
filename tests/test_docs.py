"""Docs that quote bytes stay true: the hexdump in docs/image-format.md is what the writer produces."""
import re
from pathlib import Path

from edgekit.pack.packer import PackChoice, pack_model
from synthetic import random_model, tiny_config

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_image_format_hexdump_matches_writer(tmp_path):
    cfg = tiny_config(vocab_size=8, hidden_size=16, intermediate_size=16, num_layers=1, num_heads=2,
                      num_kv_heads=1, head_dim=8, max_seq_len=16)
    path = tmp_path / "doc.ekm"
    pack_model(random_model(cfg, seed=0), path, PackChoice("i2"))
    data = path.read_bytes()
    lines = re.findall(r"^([0-9a-f]{8})  ((?:[0-9a-f]{2} ){15}[0-9a-f]{2})", (DOCS / "image-format.md").read_text(),
                       re.M)
    assert len(lines) >= 20
    for offset, hexbytes in lines:
        o = int(offset, 16)
        assert data[o:o + 16] == bytes.fromhex(hexbytes), f"docs/image-format.md line {offset} is stale"
