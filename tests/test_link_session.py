"""The host <-> device link over real links: the POSIX device binary on a pty, a TCP socket, stdio or an
existing tty, driven by DeviceClient. Handshake, cancel, errors as messages, garbage and silence on the link,
lost frames, resets and abandoned sessions."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from edgekit.errors import EdgekitError
from edgekit.link import DeviceClient, DeviceError, DeviceProcess, TokenEvent
from edgekit.link import client as C
from edgekit.link import messages as M
from edgekit.link.framing import FrameDecoder, encode_frame
from edgekit.pack.image import read_image
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Sampler
# pytest fixtures (and the fixtures they use), requested by name
from link_devices import NEVER_HANGS_S, bundled, bundled_device, bundled_image, long_device, long_image  # noqa: F401

# --- handshake -------------------------------------------------------------------------------------
def test_identity_describes_the_image(bundled_device, bundled_image, bundled):
    dev, client = bundled_device
    ident = client.identity
    header = read_image(bundled_image).header
    assert dev.url.startswith("/dev/")
    assert ident.protocol_version == M.PROTOCOL_VERSION and ident.model_ok
    assert ident.model_hash == header.model_hash and ident.tokenizer_hash == header.tokenizer_hash
    cfg = bundled.config
    assert (ident.vocab_size, ident.num_layers, ident.hidden_size) == (cfg.vocab_size, cfg.num_layers,
                                                                       cfg.hidden_size)
    assert ident.context_len == cfg.max_seq_len
    assert (ident.bos_id, ident.eos_id) == (cfg.bos_token_id, cfg.eos_token_id)
    assert ident.image_bytes == bundled_image.stat().st_size and ident.arena_bytes > 0
    assert ident.kernel.startswith("i2:") and ident.board.startswith("posix-") and ident.threads == 1


def test_tcp_link_and_clean_exit(device_binary, bundled_image):
    dev = DeviceProcess(device_binary, [bundled_image], link="tcp")
    with dev:
        assert dev.url.startswith("socket://127.0.0.1:")
        with DeviceClient(dev.url) as client:
            assert client.hello().model_ok
            assert client.ping(b"\x00\xffhello") >= 0
    assert dev.returncode == 0  # SIGTERM -> clean exit


def test_stdio_link_exits_on_eof(device_binary, bundled_image):
    hello = b"\x00" + encode_frame(0x01, 5, M.encode_body("HELLO", protocol_version=1))
    r = subprocess.run([str(device_binary), "--stdio", str(bundled_image)], input=hello, capture_output=True,
                       timeout=NEVER_HANGS_S)
    assert r.returncode == 0
    frames = FrameDecoder().feed(r.stdout)
    assert [(M.BY_CODE[f.msg_type].name, f.seq) for f in frames] == [("IDENTITY", 5)]


def test_restart_request_ends_the_device_process(device_binary, bundled_image):
    with DeviceProcess(device_binary, [bundled_image]) as dev:
        with DeviceClient(dev.url) as client:
            client.hello()
            client.reset(restart=True)
        dev.proc.wait(NEVER_HANGS_S)
        assert dev.returncode == 0


def test_long_prompts_are_sent_in_chunks(long_device):
    _, client = long_device
    prompt = [(i * 7) % 90 + 3 for i in range(700)]  # ~3 frames of prompt
    done = client.generate(prompt, max_new_tokens=3, stop_at_eos=False).run()
    assert done.prompt_tokens == 700 and done.generated_tokens == 3 and done.seq_len == 702
    reply = client.logits(prompt, top_k=3)
    assert reply.position == 699


# --- cancel ----------------------------------------------------------------------------------------
def test_cancel_mid_answer(long_device):
    _, client = long_device
    stream = client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    seen = 0
    for event in stream:
        assert isinstance(event, TokenEvent)
        seen += 1
        if seen == 3:
            break  # leaving the loop cancels on the device
    done = stream.done
    assert done is not None and done.reason == "cancelled"
    assert done.generated_tokens < 4000  # the device stopped well before max_new_tokens
    # the link is clean afterwards: a new request gets its own answer
    assert client.ping() >= 0
    assert client.generate([4, 5], max_new_tokens=2, stop_at_eos=False).run().reason == "max_tokens"


def test_explicit_cancel_returns_done(long_device):
    _, client = long_device
    stream = client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    it = iter(stream)
    next(it)
    done = client.cancel()
    assert done.reason == "cancelled" and stream.done is done
    assert client.cancel() is None  # nothing running: the device ACKs


# --- errors are messages ---------------------------------------------------------------------------
def test_unknown_and_malformed_messages_get_error_replies(bundled_device):
    _, client = bundled_device
    name, values = client.request_raw(0x42, b"\x01\x02")
    assert name == "ERROR" and values["status"] == 42 and values["request_type"] == 0x42
    name, values = client.request_raw(0x01, b"\x01")  # HELLO one byte short
    assert name == "ERROR" and values["status"] == 43
    name, values = client.request_raw(0x82, bytes(20))  # a reply type sent as a request
    assert name == "ERROR" and values["status"] == 42
    assert client.hello().model_ok  # and the session goes on
    assert client.stats()["bad_messages"] == 3


def test_request_errors_name_the_problem(bundled_device):
    _, client = bundled_device
    with pytest.raises(DeviceError, match="outside the vocabulary") as exc:
        client.generate([0, client.identity.vocab_size], max_new_tokens=1).run()
    assert exc.value.status_name == "BAD_TOKEN"
    with pytest.raises(DeviceError, match="context length") as exc:
        client.generate([5] * (client.identity.context_len + 1), max_new_tokens=1).run()
    assert exc.value.status_name == "CONTEXT_FULL"
    with pytest.raises(DeviceError) as exc:
        client.logits([1, 2], top_k=500)
    assert exc.value.status_name == "BAD_ARGUMENT"


def test_busy_while_generating(long_device):
    _, client = long_device
    stream = client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    it = iter(stream)
    next(it)
    # the client itself refuses a second request mid-stream, so send the frame by hand
    with pytest.raises(EdgekitError, match="while a generate is streaming"):
        client.logits([1])
    client.send_raw(0x04, 77, M.encode_body("LOGITS", mode=1, top_k=1, ids=[1]))
    name, values = client._wait(77, ("ERROR",), 10.0, "LOGITS", raise_errors=False)
    assert (name, values["status"], values["request_type"]) == ("ERROR", 24, 0x04)  # BUSY
    assert next(it).index == 1  # the stream's tokens that arrived meanwhile were kept for it
    assert client.cancel().reason == "cancelled"


def test_broken_image_is_reported_not_silent(device_binary, bundled_image, tmp_path):
    broken = tmp_path / "broken.ekm"
    data = bytearray(bundled_image.read_bytes())
    data[-100] ^= 0xFF  # inside the last section's payload
    broken.write_bytes(bytes(data))
    with DeviceProcess(device_binary, [broken]) as dev:
        with DeviceClient(dev.url) as client:
            ident = client.hello()
            assert not ident.model_ok and "CRC" in ident.model_error
            with pytest.raises(DeviceError, match="re-flash"):
                client.generate([0, 1], max_new_tokens=1).run()


# --- damaged and silent links --------------------------------------------------------------------------
class _GarbageProxy:
    """A TCP proxy between host and device that injects garbage (including zeros and bogus frames with
    bad CRCs) into both directions, always at frame boundaries so no real frame is destroyed."""

    JUNK = (b"\x13\x37\xca\xfe\x00", b"\x00\x00\x00", bytes(range(1, 200)) + b"\x00",
            encode_frame(0x82, 1, b"\x01\x02")[:-3] + b"\x99\x99\x00")  # a TOKEN-ish frame with a bad CRC

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(1)
        self.port = self.listener.getsockname()[1]
        self.injected = {"h2d": 0, "d2h": 0}
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        host, _ = self.listener.accept()
        dev = socket.create_connection(("127.0.0.1", self.target_port))
        threading.Thread(target=self._pump, args=(host, dev, "h2d"), daemon=True).start()
        self._pump(dev, host, "d2h")

    def _pump(self, src, dst, direction):
        n = 0
        try:
            while True:
                data = src.recv(4096)
                if not data:
                    break
                out = bytearray()
                for b in data:
                    out.append(b)
                    if b == 0:  # a frame just ended: sometimes follow it with junk
                        n += 1
                        if n % 3 == 0:
                            out += self.JUNK[n % len(self.JUNK)]
                            self.injected[direction] += 1
                dst.sendall(bytes(out))
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def test_session_survives_garbage_in_both_directions(device_binary, bundled_image, bundled):
    with DeviceProcess(device_binary, [bundled_image], link="tcp") as dev:
        proxy = _GarbageProxy(int(dev.url.rsplit(":", 1)[1]))
        with DeviceClient(f"socket://127.0.0.1:{proxy.port}") as client:
            client.transport.write(b"garbage before hello \x01\x02")  # no delimiter: HELLO's leading 0x00 resyncs
            assert client.hello().model_ok
            ids = bundled.encode("And God said")
            for _ in range(3):
                done = client.generate(ids, max_new_tokens=20, stop_at_eos=False).run()
                assert done.generated_tokens == 20
                client.ping()
            stats = client.stats()
            tokens = list(client.generate(ids, max_new_tokens=8, stop_at_eos=False))
    assert proxy.injected["d2h"] > 5 and proxy.injected["h2d"] > 2
    assert client.decoder.crc_errors + client.decoder.malformed > 0  # the host dropped the junk it got
    assert stats["crc_errors"] + stats["malformed_frames"] > 0  # and so did the device
    assert [e.token_id for e in tokens[:-1]] == list(generate_tokens(bundled, ids, 8, Sampler(0.0),
                                                                     stop_at_eos=False))


def _silent_pty_with_cat():
    master, slave = os.openpty()
    name = os.ttyname(slave)
    cat = subprocess.Popen(["cat"], stdin=master, stdout=master, stderr=subprocess.DEVNULL)
    return cat, master, slave, name


def test_silent_pty_fails_with_clear_timeout(tmp_path):
    cat, master, slave, name = _silent_pty_with_cat()  # echoes our own frames back, never answers
    try:
        t0 = time.monotonic()
        with DeviceClient(name, timeout_scale=0.2) as client:
            with pytest.raises(EdgekitError) as exc:
                client.hello()
        assert time.monotonic() - t0 < NEVER_HANGS_S
        text = str(exc.value)
        total = C.HELLO_TIMEOUT_S * 0.2 * C.HELLO_ATTEMPTS
        assert f"no reply from {name} within {total:.1f} s after HELLO ({C.HELLO_ATTEMPTS} attempts)" in text
        assert "still running" in text
    finally:
        cat.terminate()
        cat.wait()
        os.close(master)
        os.close(slave)


def test_silent_socket_fails_with_clear_timeout():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        with DeviceClient(f"socket://127.0.0.1:{port}", timeout_scale=0.1) as client:
            with pytest.raises(EdgekitError, match=rf"no reply from socket://127.0.0.1:{port} within 0.6 s after "
                                                   r"HELLO .*listening"):
                client.hello()
    finally:
        listener.close()


def test_device_stalling_mid_answer_times_out(long_device):
    dev, client = long_device
    client.timeout_scale = 0.1  # TOKEN_TIMEOUT_S 15 s -> 1.5 s
    stream = client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    it = iter(stream)
    next(it)
    os.kill(dev.proc.pid, signal.SIGSTOP)  # the device freezes (a hung board)
    try:
        t0 = time.monotonic()
        with pytest.raises(EdgekitError, match=r"no (reply|DONE) from /dev/\S+ within \d+\.\d s after"):
            for _ in it:  # drains what was already sent, then must give up
                pass
        assert time.monotonic() - t0 < NEVER_HANGS_S
    finally:
        os.kill(dev.proc.pid, signal.SIGCONT)


def test_unopenable_port_is_a_clear_error(tmp_path):
    with pytest.raises(EdgekitError, match="cannot open link .*nonexistent.*list_ports"):
        DeviceClient(str(tmp_path / "nonexistent-tty"))


def test_ping_and_stats_while_streaming_keep_every_token(long_device):
    _, client = long_device
    stream = client.generate([1, 2, 3], max_new_tokens=60, stop_at_eos=False)
    indices = []
    for event in stream:
        if isinstance(event, TokenEvent):
            indices.append(event.index)
            if event.index in (2, 10):
                assert client.ping() >= 0
                assert client.stats()["tokens_generated"] >= event.index + 1
    assert indices == list(range(60)) and stream.done.generated_tokens == 60


def test_trace_hex_dumps_frames(device_binary, bundled_image):
    import io

    out = io.StringIO()
    with DeviceProcess(device_binary, [bundled_image]) as dev:
        with DeviceClient(dev.url, trace=True, trace_stream=out) as client:
            client.hello()
            client.ping(b"\xab\xcd")
    text = out.getvalue()
    assert "TX HELLO seq=1" in text and "RX IDENTITY seq=1" in text and "RX PONG" in text
    assert "0000  00 04 01 01 01 05 0f e3 21 81 00" in text  # HELLO's wire bytes, as in docs/protocol.md


class _ScriptedTransport(C.Transport):
    """A transport that replays device bytes from a script, one chunk per read, and records writes."""

    def __init__(self, chunks):
        self.url, self.baud, self._fd = "scripted", 115200, None
        self.chunks = list(chunks)
        self.written = bytearray()

    def write(self, data):
        self.written += data

    def read(self, deadline):
        if self.chunks:
            return self.chunks.pop(0)
        time.sleep(max(0.0, min(0.01, deadline - time.monotonic())))
        return b""

    def close(self):
        pass


def _ident_frame(seq):
    return encode_frame(0x81, seq, M.encode_body("IDENTITY", protocol_version=M.PROTOCOL_VERSION, max_body=1024,
                                                   vocab_size=100, context_len=64, eos_id=1, bos_id=0))


def test_a_lost_token_frame_is_recovered_not_wrong_text():
    """Token 1 is lost: the host stops the device (CANCEL; its DONE says 3 were generated) and asks again for
    prompt + the token it has, 2 more, as a fresh sequence. The answer is complete, exact and not repeated."""
    tok = lambda seq, i, t: encode_frame(0x82, seq, M.encode_body("TOKEN", token_id=t, index=i))  # noqa: E731
    done = lambda seq, n, seq_len: encode_frame(0x83, seq, M.encode_body(  # noqa: E731
        "DONE", reason=2, generated_tokens=n, seq_len=seq_len))
    transport = _ScriptedTransport([_ident_frame(1), tok(2, 0, 10), tok(2, 2, 12), done(2, 3, 4),
                                    tok(4, 0, 11), tok(4, 1, 12), done(4, 2, 4)])
    client = DeviceClient(transport)
    client.hello()
    stream = client.generate([1, 2], max_new_tokens=3, stop_at_eos=False)
    assert [e.token_id for e in stream if isinstance(e, TokenEvent)] == [10, 11, 12]
    assert stream.done.generated_tokens == 3 and stream.done.recoveries == 1 and stream.done.prompt_tokens == 2
    assert client._active is None and client.sequence == (1, 2, 10, 11)
    frames = FrameDecoder().feed(bytes(transport.written))
    sent = [(M.BY_CODE[f.msg_type].name, f.seq, M.decode_body(f.msg_type, f.body)) for f in frames]
    assert [(name, seq) for name, seq, _ in sent] == [("HELLO", 1), ("GENERATE", 2), ("CANCEL", 3), ("GENERATE", 4)]
    resumed = sent[3][2]
    assert resumed["prompt"] == [1, 2, 10] and resumed["max_new_tokens"] == 2
    assert not resumed["flags"] & M.GEN_CONTINUE  # a fresh sequence: the device's own may be ahead of ours


def test_a_device_that_dies_mid_answer_is_named():
    tok = encode_frame(0x82, 2, M.encode_body("TOKEN", token_id=10, index=0))
    client = DeviceClient(_ScriptedTransport([_ident_frame(1), tok]), timeout_scale=0.05)
    client.hello()
    with pytest.raises(EdgekitError, match=r"stopped answering after: no reply .* after token 1 of GENERATE"):
        list(client.generate([1, 2], max_new_tokens=3))
    assert client._active is None


def test_protocol_version_mismatch_is_refused():
    frame = encode_frame(0x81, 1, M.encode_body("IDENTITY", protocol_version=M.PROTOCOL_VERSION + 1))
    with pytest.raises(EdgekitError, match=r"speaks link protocol 2, this edgekit speaks 1 \(rebuild and flash"):
        DeviceClient(_ScriptedTransport([frame])).hello()


class _FdTransport(C.Transport):
    """The master side of a pty pair we own, as a transport (pyserial can only open the slave by path)."""

    def __init__(self, fd, name):
        self.url, self.baud, self._fd_raw = name, 115200, fd

    def write(self, data):
        os.write(self._fd_raw, data)

    def read(self, deadline):
        import select

        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return b""
        ready, _, _ = select.select([self._fd_raw], [], [], min(remaining, 0.05))
        return os.read(self._fd_raw, 65536) if ready else b""

    def close(self):
        pass


def test_tty_mode_serves_an_existing_serial_device(device_binary, bundled_image):
    master, slave = os.openpty()
    path = os.ttyname(slave)
    proc = subprocess.Popen([str(device_binary), "--tty", path, "--baud", "115200", str(bundled_image)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with DeviceClient(_FdTransport(master, path)) as client:
            assert client.hello().model_ok
            assert client.generate([0, 5], max_new_tokens=3, stop_at_eos=False).run().generated_tokens == 3
    finally:
        proc.terminate()
        assert proc.wait(NEVER_HANGS_S) == 0
        os.close(master)
        os.close(slave)


def test_reset_while_generating_cancels_then_acks(long_device):
    _, client = long_device
    stream = client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    it = iter(stream)
    next(it)
    client.send_raw(0x07, 99, M.encode_body("RESET", mode=M.RESET_SEQUENCE))
    for event in it:
        pass
    assert stream.done.reason == "cancelled"
    name, _ = client._wait(99, ("ACK",), 10.0, "RESET")
    assert name == "ACK"
    assert client.stats()["tokens_generated"] == 0 and client.stats()["seq_len"] == 0  # counters were reset


def test_a_new_host_session_ends_an_abandoned_generation(long_device):
    dev, old_client = long_device
    stream = old_client.generate([1, 2, 3], max_new_tokens=4000, stop_at_eos=False)
    next(iter(stream))
    old_client._active = None  # the old host crashes mid-answer: no CANCEL, it just goes away
    old_client.close()
    with DeviceClient(dev.url) as client:
        assert client.hello().model_ok  # HELLO ends the orphaned generation...
        done = client.generate([4, 5], max_new_tokens=2, stop_at_eos=False).run()  # ...so this is not BUSY
        assert done.reason == "max_tokens" and done.generated_tokens == 2
