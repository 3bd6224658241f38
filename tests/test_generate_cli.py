"""`edgekit generate`: the native device (--board host, over a real pty) gives exactly the reference's tokens,
on the bundled model and at real scale (a synthetic bitnet-b1.58-2B-4T-shaped checkpoint)."""
import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.models import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = ["And God said", "In the beginning", "The LORD is my shepherd"]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("edgekit-cache")


def _generate(model, prompt, cache, *extra, max_new=64):
    runner = CliRunner()
    res = runner.invoke(cli, ["generate", str(model), "--prompt", prompt, "--max-new", str(max_new),
                              "--temperature", "0", "--json", *extra], env={"EDGEKIT_CACHE": str(cache)})
    assert res.exit_code == 0, res.output
    return json.loads(res.stdout[res.stdout.index("{"):])


@pytest.mark.parametrize("prompt", PROMPTS)
def test_host_device_tokens_equal_reference(prompt, cache):
    ref = _generate(DEFAULT_MODEL, prompt, cache, "--engine", "reference")
    dev = _generate(DEFAULT_MODEL, prompt, cache, "--board", "host")
    assert dev["engine"] == "device" and ref["engine"] == "reference"
    assert dev["tokens"] == ref["tokens"]
    assert dev["text"] == ref["text"]


def test_real_scale_2b_shape_on_the_host_device(tmp_path, cache):
    """The runtime at real scale: 30 layers, hidden 2560, 20/5 heads, vocab 128256 (random ternary weights)."""
    sys.path.insert(0, str(ROOT))
    from tools.synth_checkpoint import synth_checkpoint

    ckpt = synth_checkpoint("bitnet-b1.58-2B-4T", tmp_path / "2b")
    ref = _generate(ckpt, "Hello world", cache, "--engine", "reference", max_new=3)
    dev = _generate(ckpt, "Hello world", cache, "--board", "host", max_new=3)
    assert len(ref["tokens"]) == 3
    assert dev["tokens"] == ref["tokens"]


def test_user_mistakes_are_one_line_errors(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["generate", str(tmp_path / "nope"), "--prompt", "x"])
    assert res.exit_code == 2
    assert res.output.startswith("edgekit: error:") and "Traceback" not in res.output
    res = runner.invoke(cli, ["generate", DEFAULT_MODEL, "--prompt", "x", "--engine", "reference", "--board", "host"])
    assert res.exit_code == 2 and "--engine reference" in res.output
