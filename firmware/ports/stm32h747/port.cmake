# port.cmake — STM32H747I-DISCO, Cortex-M7 core: register-level bare-metal port (Debian arm-none-eabi-gcc + newlib,
# no vendor SDK). Defaults come from boards/stm32h747-disco.toml (memory map, [layout]) through
# ek_board_profile.cmake (tests/test_boards.py and tests/test_board_stm32h747.py check that both render the same
# linker script). Real hardware: no debugger catches semihosting, so EK_SEMIHOSTING defaults to OFF here (exit =
# reset).
set(EK_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
set(EK_SEMIHOSTING OFF CACHE BOOL "ek_port_exit via semihosting; OFF on the kit (exit resets the board)")
include(${CMAKE_CURRENT_LIST_DIR}/../common/cortex-m.cmake)

set(EK_PORT_SOURCES
  ${EK_PORT_DIR}/ek_board_stm32h747.c
  ${EK_PORT_DIR}/ek_stm32h747_extmem.c
  ${EK_PORT_DIR}/ek_stm32h747_config.c)
# memory map and [layout] of EK_BOARD: generated from boards/*.toml (edgekit.gen.board_profile)
include(${EK_PORT_DIR}/ek_board_profile.cmake)
ek_cortex_m_firmware(${EK_BOARD_LAYOUT})
