"""Connecting checks the device runs the model the host means (issue: hardening): the model hash against a
project just built, else the architecture and the tokenizer hash. A mismatch is refused with the fix."""
import dataclasses

import pytest

import edgekit
from edgekit.errors import EdgekitError
from edgekit.link import DeviceClient, DeviceProcess
from edgekit.link.run import check_device_model, connect_device
from edgekit.models import DEFAULT_MODEL
from edgekit.pack.packer import PackChoice, pack_model
from synthetic import random_model, tiny_config



@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(DEFAULT_MODEL)


def test_another_architecture_is_refused(device_binary, bundled, tmp_path):
    image = tmp_path / "tiny.ekm"
    pack_model(random_model(tiny_config()), image, PackChoice("i2"))
    with DeviceProcess(device_binary, [image]) as dev:
        with pytest.raises(EdgekitError, match="vocabulary/layers/hidden") as info:
            connect_device(bundled, port=dev.url)
    assert "flash this model" in str(info.value)


def test_another_tokenizer_is_refused(device_binary, bundled, tmp_path):
    other = dataclasses.replace(bundled, tokenizer_json=bundled.tokenizer_json.replace('"', '"', 1) + " ")
    image = tmp_path / "other-tokenizer.ekm"
    pack_model(other, image, PackChoice("i2"))
    with DeviceProcess(device_binary, [image]) as dev:
        with pytest.raises(EdgekitError, match="another tokenizer"):
            connect_device(bundled, port=dev.url)
        connect_device(other, port=dev.url).close()  # the model it was packed from is accepted


def test_a_device_running_another_image_than_the_project_is_refused(device_binary, bundled, tmp_path):
    from edgekit.boards import load_board
    from edgekit.gen.project import generate_project

    project = generate_project(bundled, load_board("host"), tmp_path / "p", ctx=64, ternary="i2")
    image = tmp_path / "t158.ekm"  # same model, other format: another model hash
    pack_model(bundled, image, PackChoice("t158"))
    with DeviceProcess(device_binary, [image]) as dev, DeviceClient(dev.url) as client:
        ident = client.hello()
        with pytest.raises(EdgekitError, match="not the .* just built"):
            check_device_model(ident, bundled, dev.url, project.path)
        check_device_model(ident, bundled, dev.url)  # without a project: architecture and tokenizer agree
