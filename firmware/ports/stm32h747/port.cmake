# port.cmake — STM32H747I-DISCO, Cortex-M7 core: register-level bare-metal port (Debian arm-none-eabi-gcc +
# newlib, no vendor SDK). Defaults mirror boards/stm32h747-disco.toml [layout] (tests/test_boards.py and
# tests/test_board_stm32h747.py check that both render the same linker script).
# Real hardware: no debugger catches semihosting, so EK_SEMIHOSTING defaults to OFF here (exit = reset).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
set(EK_SEMIHOSTING OFF CACHE BOOL "ek_port_exit via semihosting; OFF on the kit (exit resets the board)")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES
  ${EK_PORT_DIR}/ek_board_stm32h747.c
  ${EK_PORT_DIR}/ek_stm32h747_extmem.c
  ${EK_PORT_DIR}/ek_stm32h747_config.c)
set(EK_LD_MEMORY_LINES
  "ITCM rwx 0x00000000 0x10000"
  "FLASH rx 0x08000000 0x200000"
  "DTCM rwx 0x20000000 0x20000"
  "AXI_SRAM rwx 0x24000000 0x80000"
  "SRAM123 rwx 0x30000000 0x48000"
  "SRAM4 rwx 0x38000000 0x10000"
  "QSPI rx 0x90000000 0x8000000"
  "SDRAM rwx 0xd0000000 0x2000000")
ek_cortex_m_firmware(BOARD "stm32h747-disco" STACK_SIZE 0x4000 TEXT FLASH DATA DTCM STACK DTCM ARENA SDRAM)
