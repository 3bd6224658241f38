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


# --- clocks and plots ---------------------------------------------------------------------------------------
def _profile(estimate: bool, clock=None) -> TokenProfile:
    return TokenProfile("b", "k", 1_000_000, estimate, 4, 4000, 4000, [1, 2, 3, 4], [5, 1000, 3000, 2000],
                        [5, 1000, 3000, 2000], clock=clock)


def test_plot_starts_at_zero_with_a_mean_line_and_the_prefill_marked():
    import matplotlib.pyplot as plt

    from edgekit.profile.token_profile import ESTIMATE_LABEL, plot_profile

    fig = plot_profile(_profile(False, {"kind": "device-timer", "label": "device timer: x", "estimate": False}))
    try:
        ax = fig.axes[0]
        assert ax.get_ylim()[0] == 0 and ax.get_ylim()[1] >= 3.0
        labels = [line.get_label() for line in ax.get_lines()]
        assert labels == ["decode step", "mean 2.00 ms", "prefill 4.0 ms (4 tokens)"]
        mean_line = ax.get_lines()[1]
        assert list(mean_line.get_ydata()) == [2.0, 2.0]
        assert list(ax.get_lines()[0].get_xdata()) == [1, 2, 3]  # token 0 is the prefill's
        assert "device timer: x" in ax.get_title()
        assert ESTIMATE_LABEL not in [t.get_text() for t in ax.texts]
    finally:
        plt.close(fig)
    fig = plot_profile(_profile(True))
    try:
        assert ESTIMATE_LABEL in [t.get_text() for t in fig.axes[0].texts]
    finally:
        plt.close(fig)


def test_energy_plot_and_lines_keep_one_time_base():
    import matplotlib.pyplot as plt
    import numpy as np

    from edgekit.power import PowerTrace
    from edgekit.profile import profile_lines
    from edgekit.profile.token_profile import ESTIMATE_LABEL, plot_profile

    logic = np.array([0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0], dtype=np.uint8)
    trace = PowerTrace("ppk2", 1000.0, np.where(logic, 0.02, 0.002), logic, 3.3, estimate=True)
    p = _profile(True, {"kind": "instruction-count", "label": "emulated: instruction-count clock at 1 MHz, an "
                        "estimate", "estimate": True})
    p.attach_energy(trace)
    e = p.energy
    lines = profile_lines(p)
    # the printed product is the printed result: ms/token x mW = mJ/token, all on the meter's clock
    assert f"decode {e.decode_s_per_token * 1e3:.2f} ms/token x {e.decode_power_w * 1e3:.2f} mW = " \
           f"{e.decode_j_per_token * 1e3:.4f} mJ/token" in lines[1]
    assert "meter clock" in lines[1] and "an estimate" in lines[1]
    assert "instruction-count clock" in lines[0]
    assert lines[2].startswith("note: the energy is on the meter's time base")  # two clocks: said, not mixed
    fig = plot_profile(p)
    try:
        power_ax = fig.axes[1]
        assert power_ax.get_ylim()[0] == 0
        assert [line.get_label() for line in power_ax.get_lines()][-1].startswith("decode mean ")
        assert ESTIMATE_LABEL in [t.get_text() for t in power_ax.texts]
        assert "meter clock" in power_ax.get_title()
    finally:
        plt.close(fig)


def test_device_clocks_are_named_from_the_board_the_device_reports():
    from edgekit.profile.clocks import device_clock, host_clock

    icount = device_clock("qemu-mps3-an547", 32_000_000, icount_shift=1)
    assert icount.kind == "instruction-count" and icount.estimate
    assert icount.label == "emulated: instruction-count clock at 32 MHz, an estimate"
    by_port = device_clock("qemu-mps3-an547", 32_000_000)  # reached with --port: the shift is not known
    assert by_port.kind == "emulated" and by_port.estimate and "an estimate" in by_port.label
    assert device_clock("qemu-rpi5", 2_400_000_000).label.startswith("emulated (QEMU user mode)")
    posix = device_clock("posix-Linux-x86_64", 1_000_000_000)
    assert posix.kind == "device-timer" and not posix.estimate and "monotonic" in posix.label
    mcu = device_clock("stm32h747-disco", 480_000_000)
    assert mcu.kind == "device-timer" and not mcu.estimate and "480 MHz" in mcu.label
    assert host_clock().kind == "host-wall"


def test_an_emulated_board_reached_with_port_is_labelled_an_estimate(device_binary, tmp_path):
    """A device whose HELLO names an emulated board (here the POSIX device told it is qemu-mps3-an547) is
    profiled through --port, where edgekit started nothing: the label comes from the HELLO alone."""
    import edgekit
    from edgekit.link import DeviceProcess
    from edgekit.models import DEFAULT_MODEL
    from edgekit.pack.packer import PackChoice, pack_model

    image = tmp_path / "m.ekm"
    pack_model(edgekit.load(DEFAULT_MODEL), image, PackChoice("i2"))
    out = tmp_path / "prof"
    with DeviceProcess(device_binary, [image], args=["--board", "qemu-mps3-an547"]) as dev:
        res = CliRunner().invoke(cli, ["profile", "--port", dev.url, "--tokens", "4", "-o", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["estimate"] is True and summary["clock"]["kind"] == "emulated"
    assert "an estimate" in res.output
