"""The PPK2 meter path end to end: tools/fake_ppk2.py on a real pty, driven through the real ppk2-api.

No timing is asserted: the marker pattern is produced with sleeps, but every check compares the host's decoded
trace with what the fake says it applied (sample indices, noise-free energy), whatever the actual timing was.
"""
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import serial
from hypothesis import given, settings
from hypothesis import strategies as st

from edgekit.errors import EdgekitError
from edgekit.power import PPK2Meter, attribute_tokens
from tools.fake_ppk2 import (
    ADC_MAX,
    COMMAND_ARG_BYTES,
    RANGE_SHUNT_OHM,
    FakePPK2,
    decode_range_lsb_a,
    encode_samples,
)

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("ppk2_api.ppk2_api")


@pytest.fixture
def fake():
    with FakePPK2(seed=1) as f:
        yield f
    assert not f.errors


@pytest.fixture(scope="module")
def decoder():
    """One meter on one fake for the decoder round-trip examples (opening costs a metadata exchange)."""
    with FakePPK2() as f, PPK2Meter(f.port) as m:
        yield m


def settled(condition, timeout_s=5.0):
    """Wait until the fake has processed what the host sent (commands travel asynchronously through the pty)."""
    end = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < end:
        time.sleep(0.005)
    return condition()


def marker_wire(fake):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(fake.logic_socket)
    return s


def test_metadata_is_parsed_into_ppk2_api_modifiers(fake):
    with PPK2Meter(fake.port, mode="ampere", voltage_mv=3300) as m:
        mods = m.modifiers
        assert [mods["R"][str(i)] for i in range(5)] == list(RANGE_SHUNT_OHM)
        assert all(mods["GS"][str(i)] == 0 and mods["GI"][str(i)] == 1 and mods["UG"][str(i)] == 1
                   and mods["O"][str(i)] == 0 for i in range(5))
        assert m.estimate  # the fake says "HW: emulated": its numbers are labelled estimates
    # what the host told the device, as the fake's firmware model understood it
    assert settled(lambda: fake.dut_power_on)  # the last command the meter sends when it opens
    assert fake.power_mode == 1 and fake.vdd_mv == 3300
    assert fake.ignored_bytes == 0


def _capture_pattern(fake, meter, windows, high_s=0.02, low_s=0.01):
    meter.start()
    with marker_wire(fake) as wire:
        time.sleep(low_s)
        for _ in range(windows):
            wire.sendall(b"\x01")
            time.sleep(high_s)
            wire.sendall(b"\x00")
            time.sleep(low_s)
        time.sleep(low_s)
    return meter.stop()


def test_marker_windows_and_energy_match_the_fake(fake):
    with PPK2Meter(fake.port, voltage_mv=3300) as meter:
        trace = _capture_pattern(fake, meter, 5)
    assert fake.dropped_samples == 0 and trace.dropped_samples == 0
    assert trace.estimate and trace.meter == "ppk2" and trace.voltage_v == 3.3
    windows = trace.marker_windows(0)
    assert len(windows) == 5
    # no samples lost, so host sample i is fake sample i: the edges land exactly where the fake put them
    applied = [i for i, state in fake.transitions[1:]]
    assert [edge for w in windows for edge in w] == applied

    report = attribute_tokens(trace, steps=5)
    ends = [w[0] for w in windows[1:]] + [None]
    for k, (rise, fall) in enumerate(windows):
        busy = trace.current_a[rise + 4:fall]  # past the ppk2-api spike filter's 3 samples after a range switch
        assert np.all(np.abs(busy - fake.active_ma * 1e-3) < 50e-6)
        assert report.busy_energy_j[k] == pytest.approx(fake.expected_energy_j(rise, fall, 3.3), rel=0.02)
        stop = ends[k] if ends[k] is not None else round(report.generation_s * 1e5) + windows[0][0]
        assert report.energy_j[k] == pytest.approx(fake.expected_energy_j(rise, stop, 3.3), rel=0.02)
    idle = trace.current_a[(trace.logic & 1) == 0]
    assert np.median(idle) == pytest.approx(fake.idle_ma * 1e-3, abs=20e-6)
    assert report.idle_power_w == pytest.approx(fake.idle_ma * 1e-3 * 3.3, rel=0.02)
    assert report.peak_power_w > fake.active_ma * 1e-3 * 3.3 * 0.98


def test_source_mode_powers_the_dut_at_the_set_voltage(fake):
    with PPK2Meter(fake.port, mode="source", voltage_mv=1800) as meter:
        assert settled(lambda: fake.dut_power_on)
        assert fake.power_mode == 2 and fake.vdd_mv == 1800
        trace = _capture_pattern(fake, meter, 1)
    assert trace.voltage_v == 1.8
    assert np.median(trace.current_a) == pytest.approx(fake.idle_ma * 1e-3, abs=20e-6)


def test_a_port_that_never_answers_is_not_a_ppk2():
    master, slave = os.openpty()
    try:
        name = os.ttyname(slave)
        with pytest.raises(EdgekitError) as e:
            PPK2Meter(name, timeout_s=0.2).open()
        assert name in str(e.value) and "not a PPK2? no metadata within 0.2 s" in str(e.value)
    finally:
        os.close(master)
        os.close(slave)


def test_missing_port_and_bad_arguments_are_user_errors(tmp_path):
    with pytest.raises(EdgekitError, match="cannot open the PPK2 port"):
        PPK2Meter(str(tmp_path / "ttyACM9")).open()
    with pytest.raises(EdgekitError, match="'ampere' or 'source'"):
        PPK2Meter("x", mode="volts")
    with pytest.raises(EdgekitError, match="800..5000 mV"):
        PPK2Meter("x", voltage_mv=12000)


def test_port_vanishing_mid_capture_is_a_clear_error():
    fake = FakePPK2()
    with PPK2Meter(fake.port) as meter:
        meter.start()
        time.sleep(0.05)
        fake.close()  # the USB device goes away
        with pytest.raises(EdgekitError, match="disappeared mid-capture"):
            meter.stop()


def test_unknown_opcodes_are_ignored_and_the_fake_keeps_serving(fake):
    garbage = bytes(b for b in range(256) if b not in COMMAND_ARG_BYTES) * 2
    with serial.Serial(fake.port, timeout=0.1) as ser:
        ser.write(garbage)
        ser.flush()
    with PPK2Meter(fake.port) as meter:  # metadata still answers after the garbage
        trace = _capture_pattern(fake, meter, 2)
    assert settled(lambda: fake.ignored_bytes == len(garbage))
    assert len(trace.marker_windows()) == 2


def test_a_host_that_stops_reading_makes_the_fake_drop_oldest_and_the_counter_shows_it():
    with FakePPK2(max_backlog_s=0.02) as fake, PPK2Meter(fake.port) as meter:
        with serial.Serial(fake.port, timeout=0.1) as ser:
            ser.write(bytes([0x06]))  # AVERAGE_START, then read nothing while ~0.3 s of samples pile up
            time.sleep(0.3)
            ser.write(bytes([0x07]))
            time.sleep(0.05)
            raw = b""
            while chunk := ser.read(65536):
                raw += chunk
        assert fake.dropped_samples > 0  # the pty filled, writes did not block, the oldest went
        assert settled(lambda: fake.measuring is False)
        current, _logic, lost = meter.decode(raw)
        assert len(current) == len(raw) // 4 and lost > 0


def _range_bounds(r):
    top = ADC_MAX * decode_range_lsb_a(r)
    bottom = 0.0 if r == 0 else ADC_MAX * decode_range_lsb_a(r - 1) * 1.001
    return bottom, top * 0.999


@settings(max_examples=60, deadline=None)
@given(r=st.integers(0, 4), fractions=st.lists(st.floats(0, 1), min_size=1, max_size=20), logic=st.integers(0, 255))
def test_sample_encoding_round_trips_through_ppk2_api(decoder, r, fractions, logic):
    lo, hi = _range_bounds(r)
    current = np.array([lo + f * (hi - lo) for f in fractions])
    raw = encode_samples(current, np.full(len(current), logic, np.uint8))
    words = np.frombuffer(raw, "<u4")
    assert np.all((words >> 14) & 7 == r)  # the most sensitive range that does not saturate
    decoded, bits, lost = decoder.decode(raw)
    # one range throughout, so ppk2-api's spike filter never engages: plain quantisation error only
    assert np.all(np.abs(decoded - current) <= decode_range_lsb_a(r) / 2 * (1 + 1e-9))
    assert list(bits) == [logic] * len(current) and lost == 0


def test_fake_cli_help_and_standalone_run(tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "tools" / "fake_ppk2.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    assert "--logic-socket" in out and "--idle-ma" in out
    sock, link = tmp_path / "logic.sock", tmp_path / "ttyPPK2"
    proc = subprocess.Popen([sys.executable, str(ROOT / "tools" / "fake_ppk2.py"), "--logic-socket", str(sock),
                             "--symlink", str(link), "--idle-ma", "3"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().startswith("port /dev/")
        assert proc.stdout.readline().strip() == f"logic-socket {sock}"
        with PPK2Meter(str(link)) as meter:
            meter.start()
            time.sleep(0.05)
            trace = meter.stop()
        assert np.median(trace.current_a) == pytest.approx(3e-3, abs=20e-6)
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert not link.exists() and not sock.exists()


def test_missing_ppk2_api_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ppk2_api", None)  # import ppk2_api now raises ImportError
    monkeypatch.setitem(sys.modules, "ppk2_api.ppk2_api", None)
    with pytest.raises(EdgekitError, match=r"pip install 'edgekit\[power\]'"):
        PPK2Meter("/dev/ttyACM0").open()


def test_list_ppk2_ports_returns_port_names():
    from edgekit.power import list_ppk2_ports

    ports = list_ppk2_ports()  # a pty is not a USB PPK2, so the fakes are not listed
    assert isinstance(ports, list) and all(isinstance(p, str) for p in ports)
