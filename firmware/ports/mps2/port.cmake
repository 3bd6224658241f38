# port.cmake — Arm MPS2 AN386 (Cortex-M4) and AN500 (Cortex-M7), emulated by qemu-system-arm -machine
# mps2-an386 / mps2-an500. EK_BOARD picks the image (default qemu-mps2-an386); its memory map and [layout] come
# from the generated ek_board_profile.cmake (tests/test_boards.py checks it renders the profile's linker script).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

if(NOT EK_BOARD)
  set(EK_BOARD qemu-mps2-an386)
endif()
set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_mps2.c ${EK_COMMON_PORT_DIR}/ek_cmsdk_uart.c)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
