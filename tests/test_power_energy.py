"""PowerTrace and per-token energy attribution on synthetic arrays (no meter, no hardware)."""
import json

import numpy as np
import pytest

from edgekit.errors import EdgekitError
from edgekit.power import PowerTrace, attribute_tokens, read_csv

RATE = 1000.0  # 1 kHz keeps the hand sums readable: one sample = 1 ms


def trace_from(logic, current_ma, voltage_v=2.0):
    logic = np.asarray(logic, np.uint8)
    current = np.broadcast_to(np.asarray(current_ma, float) * 1e-3, logic.shape).copy()
    return PowerTrace(meter="test", sample_rate_hz=RATE, current_a=current, logic=logic, voltage_v=voltage_v)


def pulses(pattern):
    """'..##..#' -> logic bytes: '#' = D0 high."""
    return np.array([1 if c == "#" else 0 for c in pattern], np.uint8)


def test_marker_windows_rise_to_fall():
    t = trace_from(pulses("..###..#...##."), 1.0)
    assert t.marker_windows() == [(2, 5), (7, 8), (11, 13)]


def test_window_open_at_end_closes_at_end():
    t = trace_from(pulses("..##...###"), 1.0)
    assert t.marker_windows() == [(2, 4), (7, 10)]


def test_marker_high_at_sample_zero_is_not_a_window():
    # the first pulse started before the capture: its fall at 3 must not pair with anything
    t = trace_from(pulses("###..##..#"), 1.0)
    assert t.marker_windows() == [(5, 7), (9, 10)]
    assert trace_from(pulses("#####"), 1.0).marker_windows() == []


def test_marker_windows_follow_the_requested_bit():
    logic = np.array([0, 2, 2, 3, 1, 0, 2, 0], np.uint8)  # D1 pulses at 1..3 and 6; D0 at 3..4
    t = trace_from(logic, 1.0)
    assert t.marker_windows(bit=1) == [(1, 4), (6, 7)]
    assert t.marker_windows(bit=0) == [(3, 5)]
    with pytest.raises(EdgekitError, match="0..7"):
        t.marker_windows(bit=8)


def test_energy_is_the_plain_sum_of_samples():
    current_ma = np.array([1, 2, 3, 4, 5, 6], float)
    t = trace_from(np.zeros(6), current_ma, voltage_v=3.0)
    # samples 1..3: (2 + 3 + 4) mA * 3 V * 1 ms = 27 uJ
    assert t.energy_j(1, 4) == pytest.approx(27e-6, rel=1e-12)
    assert t.energy_j(0, 6) == pytest.approx(21e-3 * 3.0 / RATE, rel=1e-12)
    assert t.energy_j(2, 2) == 0.0
    assert t.duration_s == pytest.approx(0.006)
    np.testing.assert_allclose(t.power_w, current_ma * 1e-3 * 3.0)
    with pytest.raises(EdgekitError, match=r"\[4, 9\) outside the trace of 6 samples"):
        t.energy_j(4, 9)


def test_trace_rejects_mismatched_arrays():
    with pytest.raises(EdgekitError, match="same length"):
        PowerTrace(meter="x", sample_rate_hz=RATE, current_a=np.zeros(3), logic=np.zeros(4), voltage_v=1.0)


def _generation_trace():
    # idle 1 mA, busy 10 mA, 2 V. windows: prefill [2, 6), decode [8, 10), [13, 15); gaps 2 and 3 samples.
    logic = pulses("..####..##...##......")
    current = np.where(logic, 10.0, 1.0)
    current[0] = 50.0  # a spike before the first window: counts for peak and capture energy, not for tokens
    return trace_from(logic, current)


def test_attribute_tokens_matches_hand_sums():
    r = attribute_tokens(_generation_trace(), steps=3)
    uj = 1e-3 * 2.0 / RATE  # energy of one 1 mA sample at 2 V, in J (2 uJ)
    # prefill: rise 2 -> next rise 8: 4 busy samples + 2 idle ones
    assert r.energy_j[0] == pytest.approx((4 * 10 + 2 * 1) * uj)
    # decode 1: rise 8 -> next rise 13: 2 busy + 3 idle
    assert r.energy_j[1] == pytest.approx((2 * 10 + 3 * 1) * uj)
    # last: rise 13 -> fall 15 + mean gap round((2 + 3) / 2) = 2 (half to even) -> 17
    assert r.energy_j[2] == pytest.approx((2 * 10 + 2 * 1) * uj)
    assert r.busy_energy_j == pytest.approx([40 * uj, 20 * uj, 20 * uj])
    assert r.start_s == pytest.approx([0.002, 0.008, 0.013])
    assert r.busy_s == pytest.approx([0.004, 0.002, 0.002])
    assert r.prefill_j == r.energy_j[0]
    assert r.decode_j_per_token == pytest.approx((23 + 22) / 2 * uj)
    assert r.total_j == pytest.approx((42 + 23 + 22) * uj)
    assert r.generation_s == pytest.approx(0.015)  # sample 2 to 17
    assert r.mean_power_w == pytest.approx(r.total_j / 0.015)
    assert r.peak_power_w == pytest.approx(0.1)  # the 50 mA spike at 2 V
    # idle samples: 21 - 8 busy = 13, one of them the 50 mA spike
    assert r.idle_power_w == pytest.approx((50 + 12 * 1) / 13 * 1e-3 * 2.0)
    assert r.capture_j == pytest.approx((50 + 12 + 80) * uj)
    assert r.capture_s == pytest.approx(0.021)
    assert r.marker_bit == 0 and r.estimate is False and r.dropped_samples == 0


def test_decode_figures_share_one_time_base():
    r = attribute_tokens(_generation_trace(), steps=3)
    uj = 1e-3 * 2.0 / RATE
    # decode windows: rise 8 -> 13 and 13 -> 17 (meter samples), energies 23 and 22 sample-units
    assert r.decode_s_per_token == pytest.approx((5 + 4) / 2 / RATE)
    assert r.decode_power_w == pytest.approx((23 + 22) * uj / ((5 + 4) / RATE))
    # the identity the report exists for: ms/token x mean power = J/token, on the same (meter) clock
    assert r.decode_s_per_token * r.decode_power_w == pytest.approx(r.decode_j_per_token, rel=1e-12)
    assert r.time_base["kind"] == "meter" and r.time_base["estimate"] is False
    assert "meter clock" in r.time_base["label"] and "1 kHz" in r.time_base["label"]
    fake = attribute_tokens(trace_from(pulses("..##..##..##.."), np.ones(14)), steps=3)
    assert fake.time_base["kind"] == "meter"  # the trace helper's traces are real-hardware ones
    emulated = PowerTrace(meter="ppk2", sample_rate_hz=RATE, current_a=np.ones(14),
                          logic=pulses("..##..##..##.."), voltage_v=2.0, estimate=True)
    label = attribute_tokens(emulated, steps=3).time_base
    assert label["estimate"] is True and "an estimate" in label["label"] and "host's clock" in label["label"]


def test_prefill_only_has_no_decode_time_base():
    r = attribute_tokens(trace_from(pulses("..###...."), np.ones(9)), steps=1)
    assert r.decode_s_per_token is None and r.decode_power_w is None


def test_last_window_is_clipped_at_the_end_of_the_capture():
    logic = pulses("..##.....####.")  # gap 5, the last pulse falls at 13 with 1 sample left
    r = attribute_tokens(trace_from(logic, np.where(logic, 10.0, 1.0)), steps=2)
    uj = 2e-6
    assert r.energy_j[1] == pytest.approx((4 * 10 + 1) * uj)  # 13 + 5 clipped to 14


def test_single_window_is_prefill_only():
    logic = pulses("..###....")
    r = attribute_tokens(trace_from(logic, np.where(logic, 10.0, 1.0)), steps=1)
    assert r.energy_j == pytest.approx([30 * 2e-6])  # no gaps to average: rise to fall
    assert r.decode_j_per_token is None


def test_report_is_json_serialisable():
    d = attribute_tokens(_generation_trace(), steps=3).to_dict()
    back = json.loads(json.dumps(d))
    assert back["prefill_j"] == d["prefill_j"] and len(back["energy_j"]) == 3
    assert set(back) >= {"prefill_j", "decode_j_per_token", "total_j", "mean_power_w", "peak_power_w",
                         "idle_power_w", "start_s", "busy_s", "energy_j", "busy_energy_j", "estimate"}


def test_window_count_mismatch_says_seen_expected_and_fix():
    t = _generation_trace()
    with pytest.raises(EdgekitError) as e:
        attribute_tokens(t, steps=5)
    msg = str(e.value)
    assert "saw 3 marker window(s) on D0, expected 5 (1 prefill + 4 decode steps)" in msg
    assert "started late" in msg and "--marker-bit" in msg
    with pytest.raises(EdgekitError, match="extra pulses"):
        attribute_tokens(t, steps=2)


def test_no_marker_at_all_names_the_wiring_and_bits_seen():
    logic = np.where(pulses("..##..##.."), 4, 0).astype(np.uint8)  # the marker is on D2, not D0
    with pytest.raises(EdgekitError) as e:
        attribute_tokens(trace_from(logic, 1.0), steps=2, bit=0)
    msg = str(e.value)
    assert "never rose" in msg and "wired to D0" in msg and "inputs seen high: D2" in msg
    assert attribute_tokens(trace_from(logic, 1.0), steps=2, bit=2).marker_bit == 2


def test_marker_high_for_the_whole_capture_says_start_the_meter_first():
    with pytest.raises(EdgekitError, match="already high when the capture began"):
        attribute_tokens(trace_from(pulses("######"), 1.0), steps=1)


def test_csv_round_trip_is_exact(tmp_path):
    t = _generation_trace()
    t.current_a += np.linspace(0, 1e-7, len(t))  # values that do not print short
    path = tmp_path / "power.csv"
    t.write_csv(path)
    back = read_csv(path, meter="test", sample_rate_hz=RATE, voltage_v=t.voltage_v)
    np.testing.assert_array_equal(back.current_a, t.current_a)
    np.testing.assert_array_equal(back.logic, t.logic)
    assert attribute_tokens(back, steps=3).energy_j == attribute_tokens(t, steps=3).energy_j
    assert not list(tmp_path.glob(".*.tmp"))  # the atomic write left no temp file behind


def test_decimated_csv_averages_current_and_ors_logic(tmp_path):
    logic = np.array([0, 0, 1, 0, 0, 0, 2], np.uint8)
    t = trace_from(logic, np.array([1, 2, 3, 4, 5, 6, 7], float))
    path = tmp_path / "d.csv"
    t.write_csv(path, every=3)
    lines = path.read_text().splitlines()
    assert lines[0] == "time_s,current_a,power_w,logic"
    rows = np.loadtxt(path, delimiter=",", skiprows=1)
    np.testing.assert_allclose(rows[:, 0], [0.0, 0.003, 0.006])
    np.testing.assert_allclose(rows[:, 1], [2e-3, 5e-3, 7e-3])  # the last row averages the 1 sample left
    np.testing.assert_allclose(rows[:, 2], rows[:, 1] * 2.0)
    np.testing.assert_array_equal(rows[:, 3], [1, 0, 2])
    # a decimated CSV read back at rows-per-second keeps the energy (whole rows only)
    back = read_csv(path, meter="test", sample_rate_hz=RATE / 3, voltage_v=2.0)
    assert back.energy_j(0, 2) == pytest.approx(t.energy_j(0, 6))
    with pytest.raises(EdgekitError, match="decimation"):
        t.write_csv(path, every=0)
