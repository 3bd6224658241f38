"""Devices for the host <-> device link tests (test_link_session.py, test_link_numerics.py, test_link_text.py):
the real POSIX device binary (firmware/ports/posix, conftest.py's device_binary) serving real images on a pty,
driven by edgekit.link's DeviceClient. Test modules import these fixtures by name."""
from __future__ import annotations

from pathlib import Path

import pytest

import edgekit
from edgekit.link import DeviceClient, DeviceProcess
from edgekit.pack.packer import PackChoice, pack_model
from synthetic import random_model, tiny_config

# Upper bound for "the host gave up": far above every timeout used here, only there so a regression fails
# instead of hanging the suite. Not a speed assertion.
NEVER_HANGS_S = 60.0


@pytest.fixture(scope="module")
def bundled():
    from edgekit.models import DEFAULT_MODEL

    return edgekit.load(DEFAULT_MODEL)  # a real model with a tokenizer (edgekit/models/)


@pytest.fixture(scope="module")
def bundled_image(bundled, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "kjv.ekm"
    pack_model(bundled, path, PackChoice("i2"))
    return path


@pytest.fixture(scope="module")
def long_image(tmp_path_factory) -> Path:
    """A tiny random model with a long context: fast steps, room for thousands of tokens."""
    path = tmp_path_factory.mktemp("img") / "long.ekm"
    pack_model(random_model(tiny_config(max_seq_len=4096), seed=11), path, PackChoice("i2"))
    return path


def _serving(device_binary, image):
    """The POSIX device serving `image`, and a client that has said HELLO."""
    with DeviceProcess(device_binary, [image]) as dev:
        with DeviceClient(dev.url) as client:
            client.hello()
            yield dev, client


@pytest.fixture
def bundled_device(device_binary, bundled_image):
    yield from _serving(device_binary, bundled_image)


@pytest.fixture
def long_device(device_binary, long_image):
    yield from _serving(device_binary, long_image)
