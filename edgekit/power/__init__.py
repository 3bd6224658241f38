"""Energy measurement for `edgekit profile` (docs/design.md §8): meter captures, and energy per token from them.

    PowerTrace                      samples from a meter: current (A), logic inputs, supply voltage
    attribute_tokens(trace, steps=, bit=) -> EnergyReport   energy per marker window (prefill, decode steps)
    PPK2Meter(port, mode=, voltage_mv=)   Nordic PPK2 through ppk2-api (optional extra: edgekit[power])
    list_ppk2_ports()               serial ports that identify as a PPK2
    OSPowerMeter(), find_os_sources()   the machine's own counters: RAPL, hwmon, Raspberry Pi 5 PMIC
    attribute_token_times(trace, start_s, token_times_s) -> EnergyReport   per token by host arrival times

The PPK2 module imports ppk2-api only when a meter is opened, so this package works without the extra.
"""
from edgekit.power.energy import EnergyReport, attribute_tokens
from edgekit.power.os_meter import OSEnergyTrace, OSPowerMeter, attribute_token_times, find_os_sources
from edgekit.power.ppk2 import PPK2Meter, list_ppk2_ports
from edgekit.power.trace import PowerTrace, read_csv

__all__ = ["EnergyReport", "OSEnergyTrace", "OSPowerMeter", "PPK2Meter", "PowerTrace", "attribute_token_times",
           "attribute_tokens", "find_os_sources", "list_ppk2_ports", "read_csv"]
