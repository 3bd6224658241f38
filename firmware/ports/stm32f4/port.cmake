# port.cmake — STM32F405 (Netduino Plus 2), emulated by qemu-system-arm -machine netduinoplus2.
# Defaults mirror boards/qemu-netduinoplus2.toml [layout] (tests/test_boards.py checks they render alike).
# On real hardware build with -DEK_SEMIHOSTING=OFF (no debugger to catch the exit) and flash the ELF.
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_stm32f4.c)
set(EK_LD_MEMORY_LINES
  "CCM rwx 0x10000000 0x10000"
  "FLASH rx 0x08000000 0x100000"
  "SRAM rwx 0x20000000 0x20000")
ek_cortex_m_firmware(BOARD "qemu-netduinoplus2" STACK_SIZE 0x2000 TEXT FLASH DATA SRAM STACK SRAM ARENA SRAM)
