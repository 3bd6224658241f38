"""Per-token profiles: speed from the device's own clock, energy from a power meter (edgekit.power) when one is
attached; CSV rows, a JSON summary and a PNG plot.

Without a meter the summary says energy was not measured rather than inventing a number. Emulated boards
(QEMU timing) and emulated meters are labelled as estimates.
"""
from edgekit.profile.token_profile import TokenProfile, profile_generation, write_profile

__all__ = ["TokenProfile", "profile_generation", "write_profile"]
