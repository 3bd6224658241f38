"""Per-token speed profiles from the device's own clock: CSV samples, a JSON summary and a PNG plot.

Energy needs a meter (on-board INA2xx, PPK2, Joulescope) and is not measured yet: the summary says so rather
than inventing a number. Emulated boards report QEMU figures, labelled as estimates.
"""
from edgekit.profile.token_profile import TokenProfile, profile_generation, write_profile

__all__ = ["TokenProfile", "profile_generation", "write_profile"]
