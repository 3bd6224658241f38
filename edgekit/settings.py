"""The environment variables edgekit reads: one table, shown by `edgekit --help` and checked by a test
(tests/test_cli_global_options.py fails when code reads an EDGEKIT_* variable that is not listed here)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    default: str        # what applies when it is unset
    meaning: str        # one line for --help and the README


ENVIRONMENT: tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable("EDGEKIT_CACHE", "~/.cache/edgekit",
                        "where --board runs keep built firmware (builds/<board>-<key>; `edgekit cache`)"),
    EnvironmentVariable("EDGEKIT_BOARDS_DIR", "the shipped boards/",
                        "folder of <board>.toml profiles used instead of the shipped ones"),
    EnvironmentVariable("EDGEKIT_SSH_CONFIG", "~/.ssh/config",
                        "ssh_config file every ssh/scp to a Linux board reads (ssh -F FILE)"),
    EnvironmentVariable("EDGEKIT_MACOS_SDK", "unset",
                        "MacOSX.sdk folder for building apple-m firmware on a machine that is not a Mac"),
    EnvironmentVariable("EDGEKIT_SYSFS", "/sys",
                        "sysfs root `--meter os` reads RAPL/hwmon counters from (containers, tests)"),
)

BY_NAME = {v.name: v for v in ENVIRONMENT}


def environment_help() -> str:
    """The table as plain text lines for `edgekit --help` (click keeps lines after a \\b marker unwrapped)."""
    width = max(len(v.name) for v in ENVIRONMENT)
    lines = ["Environment variables:", "", "\b"]
    for v in ENVIRONMENT:
        lines.append(f"  {v.name:<{width}}  {v.meaning} [default: {v.default}]")
    return "\n".join(lines)
