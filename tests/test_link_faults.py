"""Chat and generate survive a noisy link (issue: hardening).

The real DeviceClient talks to the real POSIX device through edgekit.link.fault_proxy, which drops, corrupts and
duplicates bytes, injects garbage bursts, restarts the device mid-answer or freezes it. Every run must end with
the reference's exact tokens, or with a named error after a prefix of them (a frozen device); never with wrong,
missing or repeated tokens, and never hang. Seeded sampling resumes on the same random stream, so a recovered
sampled answer equals the uninterrupted one too. `edgekit bench --suite reliability` runs the same scenarios 20
times each on this device and on QEMU's Cortex-M55 (docs/reliability.md).
"""
from pathlib import Path

import pytest

import edgekit
from edgekit.bench.reliability import (NEW_TOKENS, PROMPT, SCENARIOS, classify, host_device_starter, run_hostile,
                                       run_scenario)
from edgekit.link import DeviceClient, DeviceProcess
from edgekit.link.client import TokenEvent, advance_seed
from edgekit.link.fault_proxy import FaultProxy, Faults
from edgekit.models import DEFAULT_MODEL
from edgekit.pack.packer import PackChoice, pack_model
from edgekit.reference.generate import generate_tokens
from edgekit.reference.sampler import Rng, Sampler

RUNS = 1  # each scenario once here; `edgekit bench --suite reliability` runs 20 each
HOST_TIMEOUT_SCALE = 0.1  # the host device answers in milliseconds; short waits keep recoveries quick, and this
# leaves room for a loaded CI machine


@pytest.fixture(scope="module")
def bundled():
    return edgekit.load(DEFAULT_MODEL)


@pytest.fixture(scope="module")
def image(bundled, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("img") / "kjv.ekm"
    pack_model(bundled, path, PackChoice("i2", "f32", "f32"))
    return path


@pytest.fixture(scope="module")
def prompt_and_expected(bundled):
    ids = bundled.encode(PROMPT)
    return ids, list(generate_tokens(bundled, ids, NEW_TOKENS, Sampler(temperature=0.0), stop_at_eos=False))


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_never_loses_or_repeats_a_token_and_never_hangs(device_binary, image, prompt_and_expected,
                                                                 scenario):
    ids, expected = prompt_and_expected
    row = run_scenario(scenario, host_device_starter(device_binary, [image]), ids, expected, RUNS,
                       timeout_scale=HOST_TIMEOUT_SCALE, seed=7)
    print(row)
    assert row["wrong"] == 0 and row["hung"] == 0, row
    if scenario.expect == "clean":
        assert row["clean"] == RUNS, row
    else:
        assert row["correct"] >= 1, row  # the noise was survived, not only failed cleanly
    if scenario.to_host.corrupt or scenario.to_host.drop or scenario.to_host.duplicate or scenario.event == "reset":
        assert row["recoveries"] > 0, "the scenario should have forced at least one recovery"


def test_a_recovered_sampled_answer_equals_the_uninterrupted_one(device_binary, image, bundled):
    """Temperature 0.9, seed 1234, through corrupted and dropped bytes: the seed is advanced past the draws
    already made at every resume, so the tokens are those of the reference sampler run straight through."""
    ids = bundled.encode(PROMPT)
    n = 16
    expected = list(generate_tokens(bundled, ids, n, Sampler(temperature=0.9, top_k=40, seed=1234),
                                    stop_at_eos=False))
    noisy = Faults(corrupt=0.004, drop=0.002)
    with DeviceProcess(device_binary, [image]) as dev, \
            FaultProxy(dev.url, to_host=noisy, to_device=noisy, seed=99) as proxy, \
            DeviceClient(proxy.url, timeout_scale=HOST_TIMEOUT_SCALE) as client:
        for _ in range(3):  # even the handshake may need retries on this link
            try:
                client.hello()
                break
            except edgekit.EdgekitError:
                continue
        recoveries, tokens = 0, []
        for _ in range(3):
            tokens = []
            try:
                stream = client.generate(ids, max_new_tokens=n, temperature=0.9, top_k=40, seed=1234,
                                         stop_at_eos=False)
                tokens = [e.token_id for e in stream if isinstance(e, TokenEvent)]
                recoveries = stream.done.recoveries
                break
            except edgekit.EdgekitError:
                assert classify(tokens, expected, RuntimeError()) == "clean"
    assert tokens == expected
    assert recoveries > 0


def test_seed_advance_matches_the_sampler_stream():
    rng = Rng(5)
    for _ in range(7):
        rng.next_u32()
    resumed = Rng(advance_seed(5, 7))
    assert [resumed.next_u32() for _ in range(5)] == [rng.next_u32() for _ in range(5)]
    assert advance_seed(0, 0) != 0  # seed 0 is the generator's fixed non-zero state, never 0


def test_a_hostile_device_always_ends_in_a_named_error(bundled):
    row = run_hostile(3, bundled.config.vocab_size, bundled.config.eos_token_id or 0)
    assert row["clean"] == 3 and row["wrong"] == 0 and row["hung"] == 0, row


def test_bench_suite_runs_only_the_devices_asked_for(tmp_path):
    from edgekit.bench.suites import run

    result = run(["reliability"], tmp_path, lambda m: None, devices=("scripted",))
    assert [r["device"] for r in result["rows"]] == ["scripted"]
    assert result["rows"][0]["clean"] == result["rows"][0]["runs"] == 20
    assert result["machine"]["cpu"]
