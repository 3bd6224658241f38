"""Per-token profiles: speed from the device's own clock, energy from a power meter (edgekit.power) when one is
attached; CSV rows, a JSON summary and a PNG plot.

Without a meter the summary says energy was not measured rather than inventing a number. Every figure names the
clock it was measured on (edgekit.profile.clocks): device speed on the device's clock, energy per token on the
meter's, where ms/token x mean power = J/token. Emulated boards (QEMU timing) and emulated meters are estimates.
"""
from edgekit.profile.clocks import Clock, device_clock, host_clock, meter_clock
from edgekit.profile.token_profile import (TokenProfile, plot_profile, profile_generation, profile_lines,
                                           write_profile)

__all__ = ["Clock", "TokenProfile", "device_clock", "host_clock", "meter_clock", "plot_profile",
           "profile_generation", "profile_lines", "write_profile"]
