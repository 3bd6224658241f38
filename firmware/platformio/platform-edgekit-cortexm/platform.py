"""PlatformIO entry point of the edgekit bare-metal Cortex-M platform.

PlatformIO loads this module by the platform's name (edgekit-cortexm -> EdgekitcortexmPlatform). Every
behaviour we need comes from PlatformBase and builder/main.py: no frameworks, no uploaders (firmware goes to
QEMU or a board through `edgekit flash`), no packages beyond the local toolchain.
"""
from platformio.public import PlatformBase


class EdgekitcortexmPlatform(PlatformBase):
    pass
