"""`edgekit profile --meter`: energy per token, end to end through every real interface we have.

The firmware on QEMU's Cortex-M55 raises its marker around each model step on its marker UART; QEMU carries it to
the fake PPK2's logic socket; the fake streams 100 kS/s samples over a pty; ppk2-api decodes them; edgekit lines
the marker windows up with the generated tokens. Checks compare with what the fake says it applied, never time.
"""
import csv
import json
import shutil

import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from tools.fake_ppk2 import SAMPLE_RATE_HZ, FakePPK2

pytest.importorskip("ppk2_api.ppk2_api")
needs_qemu = pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                reason="needs qemu-system-arm and arm-none-eabi-gcc")

TOKENS = 6
VDD_MV = 3300


@needs_qemu
def test_energy_per_token_on_the_emulated_cortex_m55(tmp_path):
    out = tmp_path / "prof"
    with FakePPK2(idle_ma=3.0, active_ma=21.0, noise_ua=5.0, seed=7) as fake:
        res = CliRunner().invoke(cli, ["profile", "--board", "qemu-mps3-an547", "--tokens", str(TOKENS),
                                       "--meter", f"ppk2:{fake.port}", "--vdd", str(VDD_MV),
                                       "--marker", f"unix:{fake.logic_socket}", "-o", str(out), "--json"],
                                 env={"EDGEKIT_CACHE": str(tmp_path / "cache")})
        assert res.exit_code == 0, res.output
        assert not fake.errors
        summary = json.loads(res.stdout)
        e = summary["energy"]
        # one marker window per generated token: the prefill (token 0), then a decode step per later token
        assert summary["generated_tokens"] == TOKENS and len(e["energy_j"]) == TOKENS
        assert e["meter"] == "ppk2" and e["estimate"] is True and summary["energy_note"] is None
        assert e["dropped_samples"] == 0 and e["voltage_v"] == pytest.approx(VDD_MV / 1000)

        # The host's windows are the fake's own marker transitions: rising edges at the samples where it applied
        # D0 = 1 (the fake's sample 0 is the capture's sample 0).
        rises = [index for index, state in fake.transitions[1:] if state & 1]
        assert [round(s * SAMPLE_RATE_HZ) for s in e["start_s"]] == rises
        # Energies equal the fake's noise-free load model over the same samples, to within noise and the
        # PPK2 decoder's range-switch spike filter (a few samples per edge).
        starts = rises + [None]
        for k in range(TOKENS - 1):
            want = fake.expected_energy_j(rises[k], starts[k + 1], VDD_MV / 1000)
            assert e["energy_j"][k] == pytest.approx(want, rel=0.02)
        assert e["idle_power_w"] == pytest.approx(3.0e-3 * VDD_MV / 1000, rel=0.02)
        assert e["peak_power_w"] == pytest.approx(21.0e-3 * VDD_MV / 1000, rel=0.02)
        assert e["decode_j_per_token"] == pytest.approx(sum(e["energy_j"][1:]) / (TOKENS - 1))
        # one time base: ms/token x mean power = J/token on the meter's clock; the device's ms/token is on the
        # instruction-count clock and labelled so, never mixed into the energy
        assert e["decode_s_per_token"] * e["decode_power_w"] == pytest.approx(e["decode_j_per_token"], rel=1e-9)
        # decode windows run rise to next rise: all but the last span start_s[1] .. start_s[-1]
        assert e["decode_s_per_token"] * (TOKENS - 1) > e["start_s"][-1] - e["start_s"][1]
        assert e["time_base"]["kind"] == "meter" and e["time_base"]["estimate"] is True
        assert summary["clock"]["kind"] == "instruction-count" and summary["estimate"] is True
        assert "instruction-count clock at 32 MHz" in summary["clock"]["label"]

    rows = list(csv.DictReader((out / "tokens.csv").open()))
    assert len(rows) == TOKENS and rows[0]["energy_uj"] == ""  # token 0's energy is the prefill's
    assert [float(r["energy_uj"]) for r in rows[1:]] == pytest.approx([j * 1e6 for j in e["energy_j"][1:]],
                                                                       abs=1e-3)
    power = list(csv.DictReader((out / "power.csv").open()))
    assert power and {"time_s", "current_a", "power_w", "logic"} <= set(power[0])
    assert (out / "tokens.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_meter_errors_are_clear(tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["profile", "--port", "/dev/null", "--meter", "joulescope"])
    assert res.exit_code == 2 and "unknown meter 'joulescope'" in res.output and "ppk2:PORT" in res.output
    res = runner.invoke(cli, ["profile", "--board", "qemu-mps3-an547", "--meter", "ppk2:/dev/null"])
    assert res.exit_code == 2 and "--marker unix:PATH" in res.output
    res = runner.invoke(cli, ["profile", "--port", "/dev/null", "--marker", "unix:/tmp/x.sock"])
    assert res.exit_code == 2 and "--marker is for a board edgekit starts" in res.output
    res = runner.invoke(cli, ["profile", "--board", "host", "--marker", f"unix:{tmp_path / 'none.sock'}"],
                        env={"EDGEKIT_CACHE": str(tmp_path / "cache")})
    assert res.exit_code == 2 and "nothing listens at the marker socket" in res.output
    assert "Traceback" not in res.output
