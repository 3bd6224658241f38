# port.cmake — Arm MPS3 AN547 (Cortex-M55 + Helium), emulated by qemu-system-arm -machine mps3-an547. Defaults come
# from boards/qemu-mps3-an547.toml (memory map, [layout]) through ek_board_profile.cmake (tests/test_boards.py
# checks they render alike).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_mps3_an547.c ${EK_COMMON_PORT_DIR}/ek_cmsdk_uart.c)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
