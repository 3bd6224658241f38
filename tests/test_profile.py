"""`edgekit profile`: per-token device times as CSV, JSON and PNG, from a real device over the link."""
import csv
import json

from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.profile.token_profile import TokenProfile


def test_profile_on_the_host_device(tmp_path):
    out = tmp_path / "prof"
    res = CliRunner().invoke(cli, ["profile", "--board", "host", "--tokens", "12", "-o", str(out)],
                             env={"EDGEKIT_CACHE": str(tmp_path / "cache")})
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out / "tokens.csv").open()))
    assert len(rows) == 12 and all(int(r["time_us"]) >= 0 for r in rows)
    assert sum(int(r["cycles"]) for r in rows[1:]) > 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["generated_tokens"] == 12 and summary["decode_tokens_per_s"] > 0
    assert summary["estimate"] is False and summary["energy"] is None and "meter" in summary["energy_note"]
    assert (out / "tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_skips_the_prefill_token():
    p = TokenProfile("b", "k", 1_000_000, True, 4, 4000, 4000, [1, 2, 3], [5, 1000, 3000], [5, 1000, 3000])
    s = p.summary()
    assert s["token_ms"]["mean"] == 2.0  # tokens 1 and 2; token 0's cost is the prefill
    assert s["decode_tokens_per_s"] == 2 / 0.004 and s["prefill_tokens_per_s"] == 1000.0
