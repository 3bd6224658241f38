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


def _numbers(value, out: set) -> None:
    """Every number inside a JSON value (rows nest dicts and lists)."""
    if isinstance(value, bool):
        return
    if isinstance(value, (int, float)):
        out.add(float(value))
    elif isinstance(value, dict):
        for v in value.values():
            _numbers(v, out)
    elif isinstance(value, list):
        for v in value:
            _numbers(v, out)


# the units the README prints results in: as stored, millions, G (bytes), percent, KiB, MiB
README_SCALES = (1.0, 1e-6, 1e-9, 100.0, 1 / 1024, 1 / 1048576)


def test_readme_results_are_the_committed_numbers():
    """Each README result row that names a committed JSON file quotes only numbers that file holds: every decimal
    in its result cell equals a value of the file at the printed precision, in one of the units the README uses
    (e.g. 2.33 M = 2,326,324 instructions, 50.8 KiB = 51,976 bytes, 1.66× = a stored ratio)."""
    checked = 0
    for line in (ROOT / "README.md").read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)]
        if len(cells) < 4 or not RESULT.fullmatch(cells[-2].strip("`")):
            continue
        values: set = set()
        _numbers(json.loads((ROOT / cells[-2].strip("`")).read_text())["rows"], values)
        for text in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", cells[-3]):
            half_step = 0.5 * 10.0 ** -len(text.split(".")[1]) * (1 + 1e-9)  # a rounding of the value, either way
            assert any(abs(float(text) - v * s) <= half_step for v in values for s in README_SCALES), \
                f"README quotes {text} from {cells[-2]}, which holds no such value"
            checked += 1
    assert checked >= 20, checked  # the result rows are there and were read
