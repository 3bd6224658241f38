# port.cmake — PJRC Teensy 4.1 (NXP i.MX RT1062), bare metal at register level, link on LPUART6 (pins 0/1). Defaults
# come from boards/teensy41.toml (memory map, [layout]) through ek_board_profile.cmake (tests/test_boards.py and
# tests/test_board_teensy41.py check that they render the same linker script as the generator). The boot ROM reads
# the FCB/IVT in ek_boot_teensy41.c from the start of flash; flash the ELF (as Intel HEX) with teensy_loader_cli.
# The Arduino/PlatformIO option (USB CDC link, Teensyduino core) lives in arduino/ and is not built here.
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
# Real hardware: no debugger catches a semihosting BKPT (it would hard fault); exit means a system reset.
set(EK_SEMIHOSTING OFF CACHE BOOL "ek_port_exit via semihosting (QEMU); OFF on real hardware without a debugger")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES
  ${EK_PORT_DIR}/ek_boot_teensy41.c
  ${EK_PORT_DIR}/ek_board_teensy41.c
  ${EK_PORT_DIR}/ek_psram_teensy41.c)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
