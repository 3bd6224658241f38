"""Energy from the machine's own counters (edgekit.power.os_meter), against fakes of their real interfaces: a
sysfs tree with powercap/hwmon files (EDGEKIT_SYSFS) and a `vcgencmd` on PATH that prints a Pi 5's format."""
import json
import os
import stat
import threading
import time

import numpy as np
import pytest
from click.testing import CliRunner

from edgekit.cli import cli
from edgekit.errors import EdgekitError
from edgekit.power import OSPowerMeter, attribute_token_times, find_os_sources
from edgekit.power.os_meter import EnergyCounter, OSEnergyTrace, PmicRails, PowerGauge, parse_pmic_read_adc

# abridged `vcgencmd pmic_read_adc` of a Raspberry Pi 5 (format as its firmware prints it)
PMIC_OUTPUT = """\
     3V7_WL_SW_A current(0)=0.00390372A
       3V3_SYS_A current(1)=0.05562960A
      VDD_CORE_A current(7)=0.75000000A
     3V7_WL_SW_V volt(8)=3.70000000V
       3V3_SYS_V volt(9)=3.30000000V
      VDD_CORE_V volt(15)=0.80000000V
         EXT5V_V volt(24)=5.10000000V
"""


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _zone(root, name, label, energy_uj, wrap_uj=None):
    zone = root / "class" / "powercap" / name
    _write(zone / "name", label + "\n")
    _write(zone / "energy_uj", f"{energy_uj}\n")
    if wrap_uj is not None:
        _write(zone / "max_energy_range_uj", f"{wrap_uj}\n")
    return zone / "energy_uj"


def test_pmic_output_is_summed_over_rails_with_both_readings():
    watts = parse_pmic_read_adc(PMIC_OUTPUT)
    assert watts == pytest.approx(0.00390372 * 3.7 + 0.0556296 * 3.3 + 0.75 * 0.8)  # EXT5V has no current
    with pytest.raises(EdgekitError, match="no rail with both"):
        parse_pmic_read_adc("VDD_CORE_V volt(15)=0.8V\n")


def test_sources_are_found_without_double_counting(tmp_path):
    _zone(tmp_path, "intel-rapl:0", "package-0", 10, wrap_uj=262143328850)
    _zone(tmp_path, "intel-rapl:0:0", "core", 5)  # inside package-0: not counted again
    _zone(tmp_path, "intel-rapl:1", "package-1", 20)
    _write(tmp_path / "class/hwmon/hwmon0/name", "ina3221\n")
    _write(tmp_path / "class/hwmon/hwmon0/power1_input", "1500000\n")
    _write(tmp_path / "class/hwmon/hwmon1/name", "acpi_power\n")
    _write(tmp_path / "class/hwmon/hwmon1/energy1_input", "7\n")
    _write(tmp_path / "class/hwmon/hwmon1/power1_input", "9\n")  # the same meter's energy is there: skipped
    sources = find_os_sources(tmp_path, use_vcgencmd=False)
    names = [s.name for s in sources]
    assert names == ["intel-rapl:0 package-0", "intel-rapl:1 package-1", "hwmon0 ina3221 power1",
                     "hwmon1 acpi_power energy1"]
    assert sources[0].wrap_uj == 262143328851 and isinstance(sources[2], PowerGauge)
    _zone(tmp_path, "intel-rapl:2", "psys", 30)  # the platform zone contains the packages: it alone
    assert [s.name for s in find_os_sources(tmp_path, use_vcgencmd=False)
            if isinstance(s, EnergyCounter) and "rapl" in s.name] == ["intel-rapl:2 psys"]


def test_counter_deltas_wraps_and_power_integration(tmp_path):
    counter = _zone(tmp_path, "intel-rapl:0", "package-0", 999_000, wrap_uj=999_999)
    gauge = tmp_path / "class/hwmon/hwmon0/power1_input"
    _write(gauge, "2000000\n")  # 2 W
    meter = OSPowerMeter(find_os_sources(tmp_path, use_vcgencmd=False), period_s=3600)  # samples only at start/stop
    meter.start()
    counter.write_text("500\n")  # rolled over: 999_999 - 999_000 + 1 + 500 = 1_500 µJ
    gauge.write_text("4000000\n")
    time.sleep(0.05)
    trace = meter.stop()
    assert len(trace.times_s) == 2
    dt = trace.times_s[1] - trace.times_s[0]
    assert trace.energy_j[1] == pytest.approx(1500e-6 + 0.5 * (2.0 + 4.0) * dt)
    assert trace.power_w[0] == pytest.approx(trace.energy_j[1] / dt)


def test_permission_denied_is_a_clear_error(tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    counter = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    counter.chmod(0)
    with pytest.raises(EdgekitError, match="permission denied"):
        OSPowerMeter(find_os_sources(tmp_path, use_vcgencmd=False)).start()


def test_vcgencmd_on_path_is_the_source_of_last_resort(tmp_path, monkeypatch):
    tool = tmp_path / "bin" / "vcgencmd"
    _write(tool, "#!/bin/sh\n[ \"$1\" = pmic_read_adc ] || exit 2\ncat <<'END'\n" + PMIC_OUTPUT + "END\n")
    tool.chmod(tool.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{tool.parent}:{os.environ['PATH']}")
    (source,) = find_os_sources(tmp_path / "no-sysfs")
    assert isinstance(source, PmicRails) and source.read() == pytest.approx(parse_pmic_read_adc(PMIC_OUTPUT) * 1e6)
    broken = PmicRails(command=[str(tmp_path / "bin" / "absent")])
    with pytest.raises(EdgekitError, match="failed"):
        broken.read()


def test_tokens_are_charged_by_arrival_time():
    # a steady 5 W: cumulative energy is linear in time, interpolated between samples
    trace = OSEnergyTrace("os:test", times_s=np.array([10.0, 10.1, 10.2, 10.4]),
                          energy_j=np.array([0.0, 0.5, 1.0, 2.0]))
    r = attribute_token_times(trace, 10.05, [10.15, 10.3, 10.4])
    assert r.energy_j == pytest.approx([0.5, 0.75, 0.5]) and r.prefill_j == pytest.approx(0.5)
    assert r.decode_j_per_token == pytest.approx(0.625) and r.total_j == pytest.approx(2.0 - 0.25)
    assert r.idle_power_w is None and r.peak_power_w == pytest.approx(5.0) and r.marker_bit is None
    with pytest.raises(EdgekitError, match="outside"):
        attribute_token_times(trace, 9.0, [10.1])


@pytest.fixture
def live_sysfs(tmp_path):
    """A powercap zone whose counter grows like a 7 W package, updated by a thread (the kernel's role)."""
    counter = _zone(tmp_path / "sys", "intel-rapl:0", "package-0", 0, wrap_uj=2**32 - 1)
    stop = threading.Event()

    def run():
        t0 = time.monotonic()
        while not stop.wait(0.001):
            tmp = counter.with_suffix(".tmp")
            tmp.write_text(f"{int((time.monotonic() - t0) * 7e6) % 2**32}\n")
            tmp.replace(counter)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield tmp_path / "sys"
    stop.set()
    thread.join()


def test_profile_with_the_machines_counters(tmp_path, live_sysfs):
    out = tmp_path / "prof"
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache"), "EDGEKIT_SYSFS": str(live_sysfs)}
    res = CliRunner().invoke(cli, ["profile", "--board", "host", "--tokens", "8", "--meter", "os", "-o", str(out),
                                   "--json"], env=env)
    assert res.exit_code == 0, res.output
    e = json.loads(res.stdout)["energy"]
    assert e["meter"] == "os:intel-rapl:0 package-0" and e["estimate"] is False and len(e["energy_j"]) == 8
    assert all(j >= 0 for j in e["energy_j"]) and e["total_j"] == pytest.approx(sum(e["energy_j"]))
    assert e["total_j"] <= e["capture_j"] + 1e-9 and e["idle_power_w"] is not None
    assert (out / "power.csv").read_text().startswith("time_s,energy_j,power_w\n")


def test_os_meter_refuses_boards_that_do_not_run_here(tmp_path, live_sysfs):
    env = {"EDGEKIT_CACHE": str(tmp_path / "cache"), "EDGEKIT_SYSFS": str(live_sysfs)}
    res = CliRunner().invoke(cli, ["profile", "--board", "qemu-mps3-an547", "--meter", "os"], env=env)
    assert res.exit_code == 2 and "lists no os-counters meter" in res.output  # the board table says so
    res = CliRunner().invoke(cli, ["profile", "--board", "qemu-rpi5", "--meter", "os"], env=env)
    assert res.exit_code == 2 and "does not run here" in res.output  # a Pi has counters; its stand-in is QEMU
    res = CliRunner().invoke(cli, ["profile", "--board", "host", "--meter", "os"],
                             env={**env, "EDGEKIT_SYSFS": str(tmp_path / "empty"), "PATH": "/usr/bin:/bin"})
    assert res.exit_code == 2 and "exposes no energy counters" in res.output


def test_unreadable_counter_names_the_file(tmp_path):
    counter = _zone(tmp_path, "intel-rapl:0", "package-0", 1)
    counter.write_text("not a number\n")
    with pytest.raises(EdgekitError, match="cannot read an energy counter") as info:
        OSPowerMeter(find_os_sources(tmp_path, use_vcgencmd=False)).start()
    assert str(counter) in str(info.value)
