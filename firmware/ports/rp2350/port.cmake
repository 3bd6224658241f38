# port.cmake — Raspberry Pi RP2350 (Pimoroni Pico Plus 2), register level on Debian's arm-none-eabi-gcc + newlib.
# Defaults come from boards/rp2350-psram.toml (memory map, [layout]) through ek_board_profile.cmake
# (tests/test_boards.py checks they render alike): code and rodata run in place from XIP flash (the vector table at
# 0x10000000, the IMAGE_DEF right after it), .data/.bss and the stack in SRAM, the arena in the QMI CS1 PSRAM the
# port maps at boot.
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
# No debugger catches a semihosting BKPT on the board (it would hard fault): exit by system reset instead.
set(EK_SEMIHOSTING OFF CACHE BOOL "ek_port_exit via semihosting (needs an attached debugger)")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_rp2350.c ${EK_PORT_DIR}/ek_rp2350_psram_ram.c)
# Code that runs from SRAM sits in a non-"x" .data.* section; the assembler drops (with a warning per line) the
# debug line info of such sections, so that file is built without it.
set_source_files_properties(${EK_PORT_DIR}/ek_rp2350_psram_ram.c PROPERTIES COMPILE_OPTIONS -g0)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
