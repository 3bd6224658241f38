# port.cmake — Raspberry Pi RP2350 (Pimoroni Pico Plus 2), register level on Debian's arm-none-eabi-gcc + newlib.
# Defaults mirror boards/rp2350-psram.toml [layout] (tests/test_boards.py checks they render alike): code and
# rodata run in place from XIP flash (the vector table at 0x10000000, the IMAGE_DEF right after it), .data/.bss
# and the stack in SRAM, the arena in the QMI CS1 PSRAM the port maps at boot.
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
# No debugger catches a semihosting BKPT on the board (it would hard fault): exit by system reset instead.
set(EK_SEMIHOSTING OFF CACHE BOOL "ek_port_exit via semihosting (needs an attached debugger)")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_rp2350.c ${EK_PORT_DIR}/ek_rp2350_psram_ram.c)
# Code that runs from SRAM sits in a non-"x" .data.* section; the assembler drops (with a warning per line) the
# debug line info of such sections, so that file is built without it.
set_source_files_properties(${EK_PORT_DIR}/ek_rp2350_psram_ram.c PROPERTIES COMPILE_OPTIONS -g0)
set(EK_LD_MEMORY_LINES
  "FLASH rx 0x10000000 0x1000000"
  "PSRAM rwx 0x11000000 0x800000"
  "SRAM rwx 0x20000000 0x82000")
ek_cortex_m_firmware(BOARD "rp2350-psram" STACK_SIZE 0x4000 TEXT FLASH DATA SRAM STACK SRAM ARENA PSRAM)
