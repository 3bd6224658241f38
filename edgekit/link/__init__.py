"""The host side of the edgekit link: talk to a device running the edgekit firmware (docs/protocol.md).

Layers, bottom up (each module one job):
  framing         COBS + CRC32 frames, incremental decoder (twin of firmware/runtime/ek_link.c)
  messages        the message table (source of firmware/runtime/ek_proto.h) and the generic body codec
  transport       pyserial URLs and device paths with deadline-bounded reads
  client          DeviceClient: hello / generate / cancel / logits / stats / ping / reset, named timeouts
  device_process  run the POSIX device binary on a pty or TCP port (tests, `edgekit run` on a host)
  session         stream_generate (text pieces), ChatSession (chat templates, KV reuse, transcripts)
  validate        device logits and greedy tokens against the reference engine

Library entry points for the CLI: DeviceClient, DeviceProcess, stream_generate, ChatSession, validate.
"""
from edgekit.link.client import DeviceClient, DeviceError, DoneEvent, Identity, LogitsReply, TokenEvent
from edgekit.link.device_process import DeviceProcess
from edgekit.link.session import ChatSession, IncrementalDecoder, stream_generate
from edgekit.link.validate import compare_logits, compare_top_k, validate

__all__ = [
    "ChatSession", "DeviceClient", "DeviceError", "DeviceProcess", "DoneEvent", "Identity", "IncrementalDecoder",
    "LogitsReply", "TokenEvent", "compare_logits", "compare_top_k", "stream_generate", "validate",
]
