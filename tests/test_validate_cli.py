"""`edgekit validate` as a user runs it: per-position agreement, the worst position and `--ppl` (held-out
perplexity on the device and on the reference), against the POSIX host device (--port) and the emulated
Cortex-M55 board (--board qemu-mps3-an547: gen, build, QEMU, UART link)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from edgekit.link import DeviceProcess
from edgekit.models import DEFAULT_MODEL
from edgekit.pack.packer import PackChoice, pack_model

ROOT = Path(__file__).resolve().parents[1]
EDGEKIT = [sys.executable, "-c", "from edgekit.cli import main; main()"]
PROMPT = "And God said, Let there be light: and there was"
NOISE_BOUND = 2e-5  # C runtime vs numpy on the bundled model, lossless formats (tests/test_c_vs_reference.py)


def run_validate(*args, timeout=900) -> subprocess.CompletedProcess:
    return subprocess.run([*EDGEKIT, "validate", *args], capture_output=True, text=True, timeout=timeout)


def check_report(report: dict, ppl_tokens: int) -> None:
    assert report["passed"] and report["summary"]["greedy_match"]
    p = report["prompts"][0]
    assert len(p["position_max_abs_diff"]) == len(p["position_top1"]) == p["positions"]
    assert p["worst"]["position"] == p["worst_position"]
    q = report["perplexity"]
    assert q["tokens_scored"] == ppl_tokens
    assert q["ppl_device"] == pytest.approx(q["ppl_reference"], rel=1e-3)


def test_validate_over_port_reports_positions_and_perplexity(device_binary, tmp_path):
    import edgekit

    image = tmp_path / "m.ekm"
    pack_model(edgekit.load(DEFAULT_MODEL), image, PackChoice("i2"))
    with DeviceProcess(device_binary, [image]) as dev:
        r = run_validate(DEFAULT_MODEL, "--port", dev.url, "--prompt", PROMPT, "--tokens", "4", "--ppl",
                         "--ppl-tokens", "120", "--json")
        assert r.returncode == 0, r.stderr + r.stdout
        report = json.loads(r.stdout)
        check_report(report, 120)
        assert report["summary"]["max_abs_diff"] <= NOISE_BOUND and report["summary"]["top1_agreement"] == 1.0
        text = run_validate(DEFAULT_MODEL, "--port", dev.url, "--prompt", PROMPT, "--tokens", "2",
                            "--ppl-text", str(ROOT / "edgekit" / "models" / DEFAULT_MODEL / "held_out.txt"),
                            "--ppl-tokens", "40")
    assert text.returncode == 0, text.stderr
    assert "worst position" in text.stdout and "held-out perplexity over 40 tokens: device" in text.stdout


def test_ppl_without_a_held_out_text_is_a_user_error_before_any_build(tmp_path):
    fixture = ROOT / "tests" / "fixtures" / "bitlinear-tied-gqa1"
    r = run_validate(str(fixture), "--board", "qemu-mps3-an547", "--ppl", timeout=120)
    assert r.returncode == 2
    assert r.stderr.startswith("edgekit: error:") and "no held-out text" in r.stderr and "--ppl-text" in r.stderr
    assert "Traceback" not in r.stderr and "building" not in r.stderr


def test_validate_on_the_emulated_cortex_m55_with_perplexity():
    r = run_validate(DEFAULT_MODEL, "--board", "qemu-mps3-an547", "--prompt", PROMPT, "--tokens", "4", "--ppl",
                     "--ppl-tokens", "100", "--json")
    assert r.returncode == 0, r.stderr[-3000:] + r.stdout[-3000:]
    report = json.loads(r.stdout)
    assert report["device"]["board"] == "qemu-mps3-an547"
    check_report(report, 100)
