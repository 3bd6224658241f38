# port.cmake — STM32F405 (Netduino Plus 2), emulated by qemu-system-arm -machine netduinoplus2. Defaults come from
# boards/qemu-netduinoplus2.toml (memory map, [layout]) through ek_board_profile.cmake (tests/test_boards.py checks
# they render alike). On real hardware build with -DEK_SEMIHOSTING=OFF (no debugger to catch the exit) and flash the
# ELF.
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES ${EK_PORT_DIR}/ek_board_stm32f4.c)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
