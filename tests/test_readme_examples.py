"""README.md's example blocks are what tools/readme_examples.py makes of real runs (stored in
docs/readme_examples.json), and those runs' numbers agree with each other. QEMU is not rerun here: regenerate with
`.venv/bin/python tools/readme_examples.py --run`."""
from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tools import readme_examples as rx  # noqa: E402


@pytest.fixture(scope="module")
def stored() -> dict:
    return rx.load_store()


def test_every_example_is_stored_and_the_readme_shows_it(stored):
    readme = rx.README.read_text(encoding="utf-8")
    assert set(stored) == set(rx.EXAMPLES)
    for name, entry in stored.items():
        example = rx.EXAMPLES[name]
        # the stored run is of the commands the script defines (not an older command line)
        assert entry["commands"] == [list(c) for c in example.commands]
        assert entry["background"] == (list(example.background) if example.background else None)
        assert rx.readme_block(readme, name) == rx.format_block(entry), f"README block {name} is stale"
    assert rx.main(["--check"]) == 0


def test_format_block_shows_commands_then_their_output():
    entry = {"commands": [["edgekit", "x", "--prompt", "a b"]], "background": ["python", "tools/t.py"],
             "stdout": ["line 1\nline 2\n"], "files": {}}
    assert rx.format_block(entry) == "```\n$ python tools/t.py &\n$ edgekit x --prompt 'a b'\nline 1\nline 2\n```"
    readme = "intro\n<!-- example:x -->\n```\nold\n```\n<!-- /example:x -->\nend\n"
    new = rx.rewrite(readme, {"x": entry})
    assert new.startswith("intro\n<!-- example:x -->\n```\n$ python") and new.endswith("<!-- /example:x -->\nend\n")
    assert rx.readme_block(new, "x") == rx.format_block(entry)


def test_the_stored_profile_run_keeps_one_time_base(stored):
    entry = stored["profile-energy"]
    summary = json.loads(entry["files"]["profile/summary.json"])
    e = summary["energy"]
    # ms/token x mean power = J/token, on the meter's clock, in the run the README shows
    assert e["decode_s_per_token"] * e["decode_power_w"] == pytest.approx(e["decode_j_per_token"], rel=1e-9)
    assert e["time_base"]["kind"] == "meter" and e["time_base"]["estimate"] is True
    assert summary["clock"]["kind"] == "instruction-count" and summary["estimate"] is True
    out = entry["stdout"][0]
    # the printed numbers are the run's numbers
    m = re.search(r"decode ([\d.]+) ms/token x ([\d.]+) mW = ([\d.]+) mJ/token", out)
    assert m, out
    ms, mw, mj = map(float, m.groups())
    assert ms == pytest.approx(e["decode_s_per_token"] * 1e3, abs=0.005)
    assert mw == pytest.approx(e["decode_power_w"] * 1e3, abs=0.005)
    assert mj == pytest.approx(e["decode_j_per_token"] * 1e3, abs=5e-5)
    assert ms * mw / 1e3 == pytest.approx(mj, rel=1e-3)  # the printed product, within its rounding
    assert f"{summary['decode_tokens_per_s']:.2f} tokens/s" in out
    assert f"per token mean {summary['token_ms']['mean']:.2f} ms" in out
    assert "instruction-count clock at 32 MHz, an estimate" in out and "meter clock" in out


def test_the_generate_example_is_the_reference_engines_greedy_text(stored):
    """Greedy reference generation is deterministic: the stored text is what the engine says now."""
    from click.testing import CliRunner

    from edgekit.cli import cli

    argv = stored["generate"]["commands"][0]
    assert argv[0] == "edgekit"
    res = CliRunner().invoke(cli, argv[1:])
    assert res.exit_code == 0, res.output
    assert res.stdout == stored["generate"]["stdout"][0], shlex.join(argv)
