"""Device status codes: one table for the C runtime, the link protocol's error message and the host.

The C enum `ek_status` in firmware/runtime/ek_spec.h is generated from this table, and the host turns a code it
receives back into the message and fix below. Codes are stable: append, never renumber.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Status:
    code: int
    name: str
    message: str
    fix: str = ""


STATUSES = (
    Status(0, "OK", "ok"),
    # image validation (the device re-checks everything; nothing is trusted because it is in flash)
    Status(1, "IMAGE_TRUNCATED", "image is shorter than its header or table says", "re-flash the image"),
    Status(2, "IMAGE_MAGIC", "image magic is wrong: no edgekit image at the planned address",
           "flash the image at the address the plan gives"),
    Status(3, "IMAGE_VERSION", "image format version is not supported by this firmware",
           "rebuild firmware and image with the same edgekit"),
    Status(4, "IMAGE_HEADER_CRC", "image header CRC mismatch", "re-flash the image"),
    Status(5, "IMAGE_TABLE_CRC", "image section table CRC mismatch", "re-flash the image"),
    Status(6, "IMAGE_SECTION_CRC", "an image section's payload CRC mismatch", "re-flash the image"),
    Status(7, "IMAGE_BOUNDS", "an image section lies outside the image or is misaligned", "re-pack the model"),
    Status(8, "IMAGE_CONFIG", "image config is invalid or disagrees with its sections", "re-pack the model"),
    Status(9, "IMAGE_MISSING_SECTION", "a tensor the model needs is in no image part",
           "flash every image part of the plan"),
    Status(10, "IMAGE_FORMAT", "a section uses a format this firmware has no kernel for",
           "rebuild the firmware for this image"),
    Status(11, "IMAGE_PARTS", "image parts disagree (model hash or part numbering)",
           "flash all parts from one `edgekit gen` run"),
    # runtime
    Status(20, "ARENA_TOO_SMALL", "the working arena is smaller than this model and context need",
           "re-plan with a shorter --ctx or use a board with more RAM"),
    Status(21, "CONTEXT_FULL", "the sequence reached the context length", "shorten the prompt or max tokens"),
    Status(22, "BAD_TOKEN", "a token id is outside the vocabulary", "check the tokenizer matches the model"),
    Status(23, "BAD_ARGUMENT", "a request parameter is out of range", "see docs/protocol.md"),
    Status(24, "BUSY", "the device is already generating", "cancel first or wait for done"),
    # link protocol
    Status(40, "FRAME_CRC", "a frame failed its CRC check", "check the link (baud rate, cable)"),
    Status(41, "FRAME_TOO_LONG", "a frame is longer than the device accepts", "see docs/protocol.md"),
    Status(42, "UNKNOWN_MESSAGE", "unknown message type", "update the host or the firmware"),
    Status(43, "BAD_MESSAGE", "a message body is malformed for its type", "update the host or the firmware"),
    Status(44, "PROTOCOL_VERSION", "protocol version mismatch", "rebuild the firmware with this edgekit"),
)

BY_CODE = {s.code: s for s in STATUSES}
BY_NAME = {s.name: s for s in STATUSES}


def describe(code: int) -> str:
    s = BY_CODE.get(code)
    if s is None:
        return f"device error {code} (unknown to this edgekit)"
    return f"{s.message} ({s.fix})" if s.fix else s.message
