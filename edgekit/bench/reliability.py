"""Reliability of the link under faults: `edgekit bench --suite reliability` (docs/reliability.md).

Each scenario runs greedy generations of the bundled model through edgekit.link.fault_proxy between the real
DeviceClient and a real device (the POSIX device on this machine, and firmware on QEMU's Cortex-M55), and sorts
every run into one outcome:

    correct   the answer completed and equals the reference engine's tokens
    clean     the run ended with an EdgekitError (one line, named), and what arrived is a prefix of the answer
    wrong     tokens arrived that are not the answer (lost, duplicated or corrupted text): must never happen
    hung      the run did not end within HANG_LIMIT_S: must never happen

A frozen device, a dead one and a hostile one are expected to end `clean`; noise, bursts and resets `correct`.
"""
from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass
from typing import Callable

from edgekit.errors import EdgekitError
from edgekit.link import messages as M
from edgekit.link.fault_proxy import FaultProxy, Faults
from edgekit.link.framing import FrameDecoder, encode_frame

HANG_LIMIT_S = 300.0  # far beyond every bounded wait of the client at the timeout scales used here
PROMPT = "And God said, Let there be"
NEW_TOKENS = 16
OUTCOMES = ("correct", "clean", "wrong", "hung")


@dataclass(frozen=True)
class Scenario:
    name: str
    to_host: Faults
    to_device: Faults
    event: str | None = None  # "reset" or "freeze", after the first token of each run
    expect: str = "correct"  # what a working client achieves: correct, or clean (nothing can be done)


def _noise(**kw) -> tuple[Faults, Faults]:
    return Faults(**kw), Faults(**kw)


SCENARIOS = (
    Scenario("corrupt 1% of bytes", *_noise(corrupt=0.01)),
    Scenario("drop 1% of bytes", *_noise(drop=0.01)),
    Scenario("duplicate 1% of bytes", *_noise(duplicate=0.01)),
    Scenario("garbage burst", Faults(burst_bytes=512, burst_after=300), Faults(burst_bytes=128, burst_after=40)),
    Scenario("device reset mid-answer", Faults(), Faults(), event="reset"),
    Scenario("frozen device", Faults(), Faults(), event="freeze", expect="clean"),
)


def classify(tokens: list[int], expected: list[int], error: Exception | None) -> str:
    if error is None:
        return "correct" if tokens == expected else "wrong"
    return "clean" if tokens == expected[:len(tokens)] else "wrong"


def run_bounded(fn: Callable[[], object], limit_s: float = HANG_LIMIT_S) -> tuple[str, Exception | None]:
    """('done'|'hung', the EdgekitError raised or None). Anything else raised is a bug and propagates."""
    box: dict = {}

    def target():
        try:
            fn()
        except EdgekitError as exc:
            box["error"] = exc
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread below
            box["crash"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(limit_s)
    if t.is_alive():
        return "hung", None
    if "crash" in box:
        raise box["crash"]
    return "done", box.get("error")


class DeviceUnderTest:
    """A device behind a fault proxy, with the two events scenarios need."""

    def __init__(self, url: str, reset: Callable[[], str | None], stop: Callable[[], None]):
        self.url = url
        self._reset = reset  # restarts the device; returns its new link url (None: same url)
        self._stop = stop

    def reset(self) -> str | None:
        return self._reset()

    def stop(self) -> None:
        self._stop()


def run_scenario(scenario: Scenario, start_device: Callable[[], DeviceUnderTest], prompt_ids: list[int],
                 expected: list[int], runs: int, *, timeout_scale: float, seed: int = 0, log=None) -> dict:
    """`runs` generations through a fresh proxy (and device) for this scenario; counts per outcome."""
    from edgekit.link.client import DeviceClient, TokenEvent

    counts = dict.fromkeys(OUTCOMES, 0)
    recoveries = 0
    started = time.monotonic()
    dut = start_device()
    proxy = FaultProxy(dut.url, to_host=scenario.to_host, to_device=scenario.to_device, seed=seed)
    client = DeviceClient(proxy.url, timeout_scale=timeout_scale)
    try:
        for run in range(runs):
            tokens: list[int] = []

            def one_run():
                nonlocal recoveries
                if client.identity is None:
                    client.hello()
                stream = client.generate(prompt_ids, max_new_tokens=len(expected), stop_at_eos=False)
                for event in stream:
                    if isinstance(event, TokenEvent):
                        tokens.append(event.token_id)
                        if len(tokens) == 1 and scenario.event == "reset":
                            new_url = dut.reset()
                            if new_url:
                                proxy.reconnect(new_url)
                        elif len(tokens) == 1 and scenario.event == "freeze":
                            proxy.freeze()
                recoveries += stream.done.recoveries if stream.done else 0

            state, error = run_bounded(one_run)
            outcome = "hung" if state == "hung" else classify(tokens, expected, error)
            counts[outcome] += 1
            if log:
                log(f"{scenario.name} run {run + 1}/{runs}: {outcome}"
                    + (f" ({str(error)[:140]})" if error is not None else ""))
            if scenario.event == "freeze":
                proxy.thaw()
            if state == "hung":
                break
    finally:
        client.close()
        proxy.close()
        dut.stop()
    return {"scenario": scenario.name, "runs": runs, **counts, "expected": scenario.expect,
            "recoveries": recoveries, "fault_counters": proxy.counters(),
            "seconds": round(time.monotonic() - started, 1)}


# --- scripted devices: speak the protocol, and lie ------------------------------------------------------------

class ScriptedDevice:
    """A device on a loopback TCP port whose answers a script writes: `script(name, seq, values, send)` is called
    for every request frame decoded. Used for hostile devices (here and tests/test_link_hostile_device.py)."""

    def __init__(self, script: Callable[[str, int, dict, Callable[[bytes], None]], object]):
        self.script = script
        self.server = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.server.getsockname()[1]}"
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn: socket.socket) -> None:
        decoder = FrameDecoder()
        with conn:
            while not self._stop.is_set():
                try:
                    data = conn.recv(4096)
                except OSError:
                    return
                if not data:
                    return
                for f in decoder.feed(data):
                    m = M.BY_CODE.get(f.msg_type)
                    if m is None:
                        continue
                    try:
                        self.script(m.name, f.seq, M.decode_body(f.msg_type, f.body), conn.sendall)
                    except OSError:  # the host hung up
                        return

    def stop(self) -> None:
        self._stop.set()
        self.server.close()


def frame(name: str, seq: int, **values) -> bytes:
    return encode_frame(M.BY_NAME[name].code, seq, M.encode_body(name, **values))


def identity_values(**overrides) -> dict:
    """A plausible IDENTITY for scripted devices."""
    values = dict(protocol_version=M.PROTOCOL_VERSION, max_body=1024, model_status=0, vocab_size=100,
                  context_len=64, num_layers=2, hidden_size=32, bos_id=1, eos_id=2, clock_hz=1000, threads=1,
                  arena_bytes=1 << 16, image_bytes=1 << 16, model_hash=b"\x11" * 32, tokenizer_hash=b"\x22" * 32,
                  firmware_version="scripted", board="scripted", kernel="none")
    values.update(overrides)
    return values


def hostile_script(vocab: int, eos: int):
    """Honest handshake, then every GENERATE answered with far more tokens than asked for."""
    def script(name, seq, values, send):
        if name == "HELLO":
            send(frame("IDENTITY", seq, **identity_values(vocab_size=vocab, eos_id=eos)))
        elif name == "GENERATE":
            for i in range(values["max_new_tokens"] + 1000):
                send(frame("TOKEN", seq, token_id=3, index=i, time_us=0, cycles=0))
        elif name == "CANCEL":
            send(frame("ACK", seq, request_type=M.BY_NAME["CANCEL"].code))
    return script


def run_hostile(runs: int, vocab: int, eos: int) -> dict:
    from edgekit.link.client import DeviceClient

    counts = dict.fromkeys(OUTCOMES, 0)
    dev = ScriptedDevice(hostile_script(vocab, eos))
    try:
        for _ in range(runs):
            with DeviceClient(dev.url, timeout_scale=0.1) as client:
                state, error = run_bounded(lambda: client.generate([1], max_new_tokens=4).run())
            counts["hung" if state == "hung" else ("clean" if error is not None else "wrong")] += 1
    finally:
        dev.stop()
    return {"scenario": "hostile device (tokens past the request)", "runs": runs, **counts, "expected": "clean",
            "recoveries": 0, "fault_counters": {}, "seconds": None}


# --- the suite ----------------------------------------------------------------------------------------------

def host_device_starter(binary, images) -> Callable[[], DeviceUnderTest]:
    """The POSIX device on this machine; a reset kills it and starts a new one (a new pty)."""
    from edgekit.link.device_process import DeviceProcess

    def start() -> DeviceUnderTest:
        box = {"dev": DeviceProcess(binary, images)}
        box["dev"].start()

        def reset():
            box["dev"].stop()
            box["dev"] = DeviceProcess(binary, images)
            return box["dev"].start()

        return DeviceUnderTest(box["dev"].url, reset, lambda: box["dev"].stop())

    return start


def qemu_starter(board, elf, parts) -> Callable[[], DeviceUnderTest]:
    """Firmware on an emulated board; a reset is QEMU's system_reset (same pty)."""
    from edgekit.flash.qemu import start_emulator

    def start() -> DeviceUnderTest:
        emu = start_emulator(board, elf, parts, link="pty")

        def reset():
            emu.reset()
            return None

        return DeviceUnderTest(emu.url, reset, emu.stop)

    return start


# The devices and the timeout scale each runs at: both answer in milliseconds (QEMU at host speed, no -icount),
# and the noisy scenarios spend their time waiting out timeouts after lost frames.
DEVICES = {"host": 0.05, "qemu-mps3-an547": 0.1}


def bench_reliability(work, log, runs: int = 20, devices=tuple(DEVICES), hostile: bool = True) -> list[dict]:
    """Every scenario x `runs` on each device (the host's POSIX device, firmware on QEMU's Cortex-M55), plus the
    hostile device."""
    import edgekit
    from edgekit.boards import load_board
    from edgekit.flash.device import _binary, _project_parts
    from edgekit.gen.project import read_manifest
    from edgekit.link.run import ensure_built
    from edgekit.models import DEFAULT_MODEL
    from edgekit.reference.generate import generate_tokens
    from edgekit.reference.sampler import Sampler

    model = edgekit.load(DEFAULT_MODEL)
    ids = model.encode(PROMPT)
    expected = list(generate_tokens(model, ids, NEW_TOKENS, Sampler(temperature=0.0), stop_at_eos=False))
    rows = []
    for board_name in devices:
        scale = DEVICES[board_name]
        project = ensure_built(model, board_name, ctx=128, ternary="i2", embedding="f32", log=log)
        manifest = read_manifest(project)
        board = load_board(board_name)
        binary, parts = _binary(project, manifest), _project_parts(project, manifest)
        start = host_device_starter(binary, [p for p, _ in parts]) if board.qemu is None else \
            qemu_starter(board, binary, parts)
        for i, scenario in enumerate(SCENARIOS):
            log(f"reliability: {board_name}, {scenario.name}, {runs} runs")
            row = run_scenario(scenario, start, ids, expected, runs, timeout_scale=scale, seed=i, log=log)
            rows.append({"suite": "reliability", "device": board_name, **row})
    if hostile:
        row = run_hostile(runs, model.config.vocab_size, model.config.eos_token_id or 0)
        rows.append({"suite": "reliability", "device": "scripted", **row})
    for r in rows:
        r["fault_counters"] = str(r["fault_counters"])  # one table cell
    return rows
