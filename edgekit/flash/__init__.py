"""Getting firmware onto a device. qemu: emulated boards (system mode for Cortex-M, user mode for the Pi
stand-ins); real-board flashers (pyocd, picotool, scp+ssh...) belong here too."""
from edgekit.flash.qemu import (EmulatorSession, UserModeSession, check_images, find_qemu, qemu_system_command,
                                qemu_user_command, start_emulator, start_user_mode)

__all__ = ["EmulatorSession", "UserModeSession", "check_images", "find_qemu", "qemu_system_command",
           "qemu_user_command", "start_emulator", "start_user_mode"]
