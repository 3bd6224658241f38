"""Energy measurement for `edgekit profile` (DESIGN §8): meter captures, and energy per token from them.

    PowerTrace                      samples from a meter: current (A), logic inputs, supply voltage
    attribute_tokens(trace, steps=, bit=) -> EnergyReport   energy per marker window (prefill, decode steps)
    PPK2Meter(port, mode=, voltage_mv=)   Nordic PPK2 through ppk2-api (optional extra: edgekit[power])
    list_ppk2_ports()               serial ports that identify as a PPK2

The PPK2 module imports ppk2-api only when a meter is opened, so this package works without the extra.
"""
from edgekit.power.energy import EnergyReport, attribute_tokens
from edgekit.power.ppk2 import PPK2Meter, list_ppk2_ports
from edgekit.power.trace import PowerTrace, read_csv

__all__ = ["EnergyReport", "PPK2Meter", "PowerTrace", "attribute_tokens", "list_ppk2_ports", "read_csv"]
