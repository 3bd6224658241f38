# port.cmake — Arm MPS2 AN386 (Cortex-M4) and AN500 (Cortex-M7), emulated by qemu-system-arm -machine
# mps2-an386 / mps2-an500. EK_BOARD picks the image (default qemu-mps2-an386). Defaults mirror the boards'
# [layout] tables (tests/test_boards.py checks they render alike).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

if(NOT EK_BOARD)
  set(EK_BOARD qemu-mps2-an386)
endif()
if(EK_BOARD STREQUAL "qemu-mps2-an386")
  set(EK_PORT_DEFINES EK_MPS2_AN386)
  set(EK_LD_MEMORY_LINES
    "SSRAM1 rwx 0x00000000 0x400000"
    "BLOCKRAM rwx 0x01000000 0x4000"
    "SSRAM23 rwx 0x20000000 0x400000"
    "PSRAM rwx 0x21000000 0x1000000")
elseif(EK_BOARD STREQUAL "qemu-mps2-an500")
  set(EK_PORT_DEFINES EK_MPS2_AN500)
  set(EK_LD_MEMORY_LINES
    "SSRAM1 rwx 0x00000000 0x400000"
    "SSRAM23 rwx 0x20000000 0x400000"
    "PSRAM rwx 0x60000000 0x1000000")
else()
  message(FATAL_ERROR "port mps2: unknown EK_BOARD '${EK_BOARD}' (use qemu-mps2-an386 or qemu-mps2-an500)")
endif()
set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_mps2.c ${EK_COMMON_PORT_DIR}/ek_cmsdk_uart.c)
ek_cortex_m_firmware(BOARD ${EK_BOARD} STACK_SIZE 0x4000 TEXT SSRAM1 DATA SSRAM23 STACK SSRAM23 ARENA PSRAM)
