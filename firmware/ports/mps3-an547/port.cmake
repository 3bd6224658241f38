# port.cmake — Arm MPS3 AN547 (Cortex-M55 + Helium), emulated by qemu-system-arm -machine mps3-an547.
# Defaults mirror boards/qemu-mps3-an547.toml [layout] (tests/test_boards.py checks they render alike).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_mps3_an547.c ${EK_COMMON_PORT_DIR}/ek_cmsdk_uart.c)
set(EK_LD_MEMORY_LINES
  "ITCM rwx 0x00000000 0x80000"
  "SRAM rwx 0x01000000 0x200000"
  "DTCM rwx 0x20000000 0x80000"
  "ISRAM rwx 0x21000000 0x400000"
  "QSPI rx 0x28000000 0x800000"
  "DDR rwx 0x60000000 0x1000000")
ek_cortex_m_firmware(BOARD "qemu-mps3-an547" STACK_SIZE 0x4000 TEXT ITCM DATA DTCM STACK DTCM ARENA DDR)
