"""docs/benchmarks.md and the README quote only results that are committed, with the machine they ran on."""
from __future__ import annotations

import json
import re
from pathlib import Path

from edgekit.bench.suites import SUITES

ROOT = Path(__file__).resolve().parents[1]
RESULT = re.compile(r"bench/results/[A-Za-z0-9_.+-]+\.json")


def test_every_named_result_file_is_committed_with_its_machine():
    named = set()
    for doc in (ROOT / "README.md", ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "reliability.md"):
        named |= set(RESULT.findall(doc.read_text()))
    assert named, "the docs name no result file"
    for rel in sorted(named):
        path = ROOT / rel
        assert path.is_file(), f"{rel} is named in the docs but not committed"
        data = json.loads(path.read_text())
        assert data["machine"]["cpu"] and data["rows"], rel


def test_every_documented_command_names_a_real_suite():
    text = (ROOT / "docs" / "benchmarks.md").read_text()
    suites = set(re.findall(r"edgekit bench --suite (\w+)", text))
    assert suites and suites <= set(SUITES)
    assert set(SUITES) - {"reliability"} <= suites  # every suite has its command here (reliability: its own doc)


def test_qemu_rows_convert_device_cycles_to_instructions():
    """Under -icount shift 5 each instruction is 32 ns of virtual time: a 31.25 MHz clock counts one cycle per
    instruction, a 25 MHz one (the M4 boards) 0.8, a 32 MHz one (the M55) 1.024; and the committed rows agree."""
    from edgekit.bench.suites import icount_instructions
    assert icount_instructions(1_000_000, 31_250_000, 5) == 1_000_000
    assert icount_instructions(800_000, 25_000_000, 5) == 1_000_000
    assert icount_instructions(1_024_000, 32_000_000, 5) == 1_000_000
    rows = json.loads((ROOT / "bench" / "results" / "qemu.json").read_text())["rows"]
    for r in rows:
        mhz = int(re.search(r"at (\d+) MHz", r["clock"]["label"]).group(1))
        assert r["decode_instructions_per_token"] == icount_instructions(r["decode_cycles_per_token"], mhz * 10**6,
                                                                         r["icount_shift"]), r
