"""bf16 embedding and head on the Cortex-M55 (qemu-mps3-an547): for a bf16 checkpoint, an image that stores them in
bf16 gives the device the very same logits, bit for bit, and the same greedy tokens as one that stores them in f32,
with a smaller image.

The checkpoint is the bundled model with its float tensors rounded to bfloat16 (what a bf16 release ships; the
bundled model itself is stored in f16). Both images run through the same generated firmware path: plan, pack, build,
QEMU, the link protocol. The tokens also equal the reference engine's.
"""
import dataclasses

import numpy as np
import pytest

import edgekit
from cpu_features import require_tool
from edgekit.boards import load_board
from edgekit.build import build_project
from edgekit.flash.device import open_device
from edgekit.gen.project import generate_project
from edgekit.link.client import DeviceClient, TokenEvent
from edgekit.model import FloatTensor
from edgekit.models import DEFAULT_MODEL
from edgekit.pack.formats import FLOAT_FORMATS, bf16_exact
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler

BOARD = "qemu-mps3-an547"
PROMPT = "And God said, Let there be"
NEW_TOKENS = 16


def bf16_checkpoint(model):
    """`model` with every float tensor rounded to bfloat16, as a bf16 checkpoint holds them."""
    bf16 = FLOAT_FORMATS["bf16"]
    tensors = {}
    for name, t in model.tensors.items():
        if isinstance(t, FloatTensor):
            arr = bf16.unpack(bf16.pack(t.array()), t.shape)
            t = FloatTensor(t.name, t.role, t.layer, t.shape, "bf16", arr.size * 2, lambda a=arr: a)
        tensors[name] = t
    return dataclasses.replace(model, tensors=tensors, _engine=None)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """{embedding format: (image bytes, greedy tokens, logits at every prompt position)} on the M55."""
    require_tool("cmake", "arm-none-eabi-gcc", "qemu-system-arm")
    model = bf16_checkpoint(edgekit.load(DEFAULT_MODEL))
    assert bf16_exact(model.embedding.array())
    ids = model.encode(PROMPT)
    out = {"model": model, "ids": ids}
    for fmt in ("f32", "bf16"):
        project = generate_project(model, load_board(BOARD), tmp_path_factory.mktemp(f"bf16-{fmt}") / "p", ctx=64,
                                   embedding=fmt)
        assert project.plan.choice.embedding == fmt
        build_project(project.path)
        with open_device(project.path) as session, DeviceClient(session.url) as client:
            assert client.hello().model_ok
            stream = client.generate(ids, max_new_tokens=NEW_TOKENS, temperature=0.0, stop_at_eos=False)
            tokens = [e.token_id for e in stream if isinstance(e, TokenEvent)]
            logits = client.logits_all(ids)
        out[fmt] = (project.plan.image_bytes, tokens, logits)
    return out


def test_bf16_head_gives_the_f32_logits_bit_for_bit(runs):
    _, _, f32_logits = runs["f32"]
    _, _, bf16_logits = runs["bf16"]
    assert f32_logits.shape == (len(runs["ids"]), runs["model"].config.vocab_size)
    np.testing.assert_array_equal(bf16_logits.view(np.uint32), f32_logits.view(np.uint32))


def test_bf16_head_gives_the_f32_tokens_and_the_reference_tokens(runs):
    expected = list(generate_tokens(runs["model"], runs["ids"], NEW_TOKENS, Sampler(temperature=0.0),
                                    stop_at_eos=False))
    assert runs["bf16"][1] == runs["f32"][1] == expected


def test_bf16_image_is_smaller(runs):
    f32_bytes, bf16_bytes = runs["f32"][0], runs["bf16"][0]
    config = runs["model"].config
    saved = config.vocab_size * config.hidden_size * 2  # tied: one table, 2 bytes a value fewer
    assert f32_bytes - bf16_bytes >= saved - 64 * 4096  # section and part alignment aside
