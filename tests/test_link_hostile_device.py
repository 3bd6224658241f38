"""The host never trusts the device (issue: hardening).

A scripted device on a real TCP socket speaks the link protocol and lies: a body limit too small to work, a
vocabulary of four billion, a logits reply announcing 2^32 values, tokens past the request, token ids outside
the vocabulary, garbage or other sequences' frames forever. Every time the host must end with a named error
(ProtocolViolation, or the no-reply EdgekitError) — never loop, never allocate what the device announced.
"""
import threading

import pytest

from edgekit.errors import EdgekitError
from edgekit.link import messages as M
from edgekit.link.client import DeviceClient, ProtocolViolation
from edgekit.bench.reliability import ScriptedDevice, frame, identity_values

HANG_LIMIT_S = 60.0  # far above any bounded wait at timeout_scale 0.02; reaching it means the host hung
VOCAB = 100


def run_bounded(fn):
    """Run fn in a thread; return its exception. A host that is still waiting after HANG_LIMIT_S hung."""
    box = {}

    def target():
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001 - the test inspects whatever was raised
            box["exc"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(HANG_LIMIT_S)
    if t.is_alive():
        pytest.fail("the host kept waiting on a hostile device (hung)")
    return box.get("exc")


def honest_hello(name, seq, values, send, **overrides):
    if name == "HELLO":
        send(frame("IDENTITY", seq, **identity_values(**{"vocab_size": VOCAB, **overrides})))
        return True
    return False


@pytest.mark.parametrize("overrides,needle", [
    ({"max_body": 8}, "frame body limit of 8"),
    ({"vocab_size": 0xFFFFFFFF}, "vocabulary of 4294967295"),
])
def test_an_impossible_identity_is_refused(overrides, needle):
    dev = ScriptedDevice(lambda n, s, v, send: honest_hello(n, s, v, send, **overrides))
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        exc = run_bounded(client.hello)
    assert isinstance(exc, ProtocolViolation) and needle in str(exc), exc


def test_a_huge_logits_announcement_allocates_nothing():
    def script(name, seq, values, send):
        if not honest_hello(name, seq, values, send) and name == "LOGITS":
            send(frame("LOGITS_CHUNK", seq, position=0, total=0xFFFFFFFF, offset=0, values=[0.0] * 4))

    dev = ScriptedDevice(script)
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        exc = run_bounded(lambda: client.logits([1, 2, 3]))
    assert isinstance(exc, ProtocolViolation) and "4294967295 logits" in str(exc), exc


def test_tokens_past_the_request_end_the_stream():
    def script(name, seq, values, send):
        if not honest_hello(name, seq, values, send) and name == "GENERATE":
            for i in range(10_000):  # far more than asked; the host must stop reading at 3 + 1
                try:
                    send(frame("TOKEN", seq, token_id=5, index=i, time_us=0, cycles=0))
                except OSError:
                    return

    dev = ScriptedDevice(script)
    seen = []
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        exc = run_bounded(lambda: seen.extend(client.generate([1], max_new_tokens=3)))
    assert isinstance(exc, ProtocolViolation) and "more tokens than the 3" in str(exc), exc
    assert len(seen) == 3


def test_a_token_outside_the_vocabulary_is_refused():
    def script(name, seq, values, send):
        if not honest_hello(name, seq, values, send) and name == "GENERATE":
            send(frame("TOKEN", seq, token_id=VOCAB, index=0, time_us=0, cycles=0))

    dev = ScriptedDevice(script)
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        exc = run_bounded(lambda: list(client.generate([1], max_new_tokens=3)))
    assert isinstance(exc, ProtocolViolation) and f"token id {VOCAB}" in str(exc), exc


@pytest.mark.parametrize("flood", ["garbage", "other_seq"])
def test_a_device_that_floods_without_answering_ends_in_a_named_error(flood):
    def script(name, seq, values, send):
        if honest_hello(name, seq, values, send) or name != "GENERATE":
            return
        other = frame("TOKEN", (seq + 7) % 255 + 1, token_id=5, index=0, time_us=0, cycles=0)
        chunk = bytes(range(1, 256)) * 4 if flood == "garbage" else other * 20
        while True:  # until the host gives up and closes the socket
            try:
                send(chunk)
            except OSError:
                return

    dev = ScriptedDevice(script)
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        exc = run_bounded(lambda: list(client.generate([1], max_new_tokens=3)))
    assert isinstance(exc, EdgekitError) and "no reply" in str(exc), exc


def test_busy_after_a_loss_is_the_device_still_running_our_request():
    """Token 1 never comes; the first probe finds the device idle (ACK), but the re-issued GENERATE is refused BUSY
    (the device was still on our first request after all): the host probes again and goes on. The answer ends
    exact, with both recoveries counted."""
    from edgekit import status

    state = {"generates": 0, "first_seq": None}

    def script(name, seq, values, send):
        if honest_hello(name, seq, values, send):
            return
        if name == "GENERATE":
            state["generates"] += 1
            n = state["generates"]
            if n == 1:
                state["first_seq"] = seq
                send(frame("TOKEN", seq, token_id=7, index=0, time_us=0, cycles=0))  # then silence
            elif n == 2:
                send(frame("ERROR", seq, status=status.BY_NAME["BUSY"].code, request_seq=seq,
                           request_type=M.BY_NAME["GENERATE"].code, detail="busy"))
            else:
                assert values["prompt"] == [1, 7] and values["max_new_tokens"] == 2
                for i, t in enumerate((8, 9)):
                    send(frame("TOKEN", seq, token_id=t, index=i, time_us=0, cycles=0))
                send(frame("DONE", seq, reason=2, generated_tokens=2, seq_len=3))
        elif name == "CANCEL":
            if state["generates"] == 1:
                send(frame("ACK", seq, request_type=M.BY_NAME["CANCEL"].code))
            else:
                send(frame("DONE", state["first_seq"], reason=3, generated_tokens=1, seq_len=1))

    dev = ScriptedDevice(script)
    with DeviceClient(dev.url, timeout_scale=0.02) as client:
        client.hello()
        stream = client.generate([1], max_new_tokens=3, stop_at_eos=False)
        tokens = [e.token_id for e in stream if hasattr(e, "token_id")]
    assert tokens == [7, 8, 9] and stream.done.recoveries == 2
