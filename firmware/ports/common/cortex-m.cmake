# cortex-m.cmake — shared build rules for the bare-metal Cortex-M ports (included by each port.cmake).
#
# A port sets EK_PORT_DIR and EK_PORT_SOURCES (its board files), includes its generated ek_board_profile.cmake
# (one ek_board_profile() call per board profile, below: the selected board's EK_PORT_DEFINES, EK_LD_MEMORY_LINES
# and EK_BOARD_LAYOUT), then calls
#   ek_cortex_m_firmware(${EK_BOARD_LAYOUT})      BOARD name STACK_SIZE n TEXT r DATA r STACK r ARENA r: its
#                                                   default layout (the profile's [layout]) and the edgekit_fw
#                                                   executable
# which uses
#   ek_cortex_m_linker_script(<out.ld>)             render firmware/ports/common/cortex-m.ld.in
#   ek_cortex_m_configure(<target>)                 add port + common sources, flags, linker script
# Every value can be overridden on the cmake command line; `edgekit gen` passes EK_LINKER_SCRIPT (a script it
# rendered with edgekit.boards.linker from the plan) and EK_CONFIG_DIR (its ek_config.h).

set(EK_COMMON_PORT_DIR ${CMAKE_CURRENT_LIST_DIR})
set(EK_LINKER_SCRIPT "" CACHE FILEPATH "linker script to use instead of rendering the port's default")
set(EK_BOARD "" CACHE STRING "board profile name (boards/<name>.toml) the firmware is built for")
option(EK_SEMIHOSTING "ek_port_exit via semihosting (QEMU); OFF on real hardware without a debugger" ON)

# One section per function and object in the runtime too, not only in the port, so --gc-sections drops every
# runtime function the firmware never calls (a dispatcher's unused bodies, host-only helpers): 6.2 KiB less flash
# for the Cortex-M55 build of the bundled model (52,416 -> 46,232 bytes of text). (A port's bring-up build has no
# runtime target.)
if(TARGET ek_runtime)
  target_compile_options(ek_runtime PRIVATE -ffunction-sections -fdata-sections)
endif()

set(EK_CORTEX_M_COMMON_SOURCES
  ${EK_COMMON_PORT_DIR}/ek_cortex_m.c
  ${EK_COMMON_PORT_DIR}/ek_link_uart.c
  ${EK_COMMON_PORT_DIR}/ek_newlib_stubs.c)

# Fill the template with the port's defaults: the same placeholder names the Python renderer fills.
# EK_LD_MEMORY_LINES is a list of "NAME ATTR ORIGIN LENGTH" entries.
function(ek_cortex_m_linker_script out)
  set(EK_LD_MEMORY "")
  foreach(_line IN LISTS EK_LD_MEMORY_LINES)
    string(REPLACE " " ";" _f "${_line}")
    list(GET _f 0 _name)
    list(GET _f 1 _attr)
    list(GET _f 2 _origin)
    list(GET _f 3 _length)
    # Same column layout as edgekit.boards.linker.memory_lines, so both renderings are byte-identical.
    string(LENGTH "${_name}" _len)
    set(_pad "")
    if(_len LESS 12)
      math(EXPR _n "12 - ${_len}")
      string(REPEAT " " ${_n} _pad)
    endif()
    string(APPEND EK_LD_MEMORY "    ${_name}${_pad} (${_attr}) : ORIGIN = ${_origin}, LENGTH = ${_length}\n")
  endforeach()
  string(REGEX REPLACE "\n$" "" EK_LD_MEMORY "${EK_LD_MEMORY}")
  set(EK_LD_RENDERER "port.cmake")
  configure_file(${EK_COMMON_PORT_DIR}/cortex-m.ld.in ${out} @ONLY)
endfunction()

function(ek_cortex_m_configure target)
  if(EK_LINKER_SCRIPT)
    set(_ld ${EK_LINKER_SCRIPT})
  else()
    set(_ld ${CMAKE_CURRENT_BINARY_DIR}/${target}.ld)
    ek_cortex_m_linker_script(${_ld})
  endif()
  target_sources(${target} PRIVATE ${EK_PORT_SOURCES} ${EK_CORTEX_M_COMMON_SOURCES})
  target_include_directories(${target} PRIVATE ${EK_PORT_DIR} ${EK_COMMON_PORT_DIR}
                             ${EK_COMMON_PORT_DIR}/../../runtime)
  if(EK_CONFIG_DIR)
    target_include_directories(${target} PRIVATE ${EK_CONFIG_DIR})
    target_compile_definitions(${target} PRIVATE EK_HAVE_CONFIG_H)
  endif()
  if(EK_BOARD)
    target_compile_definitions(${target} PRIVATE EK_BUILD_BOARD="${EK_BOARD}")
  endif()
  if(EK_PORT_DEFINES)
    target_compile_definitions(${target} PRIVATE ${EK_PORT_DEFINES})
  endif()
  if(EK_SEMIHOSTING)
    target_compile_definitions(${target} PRIVATE EK_SEMIHOSTING=1)
  else()
    target_compile_definitions(${target} PRIVATE EK_SEMIHOSTING=0)
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -ffp-contract=off
                         -ffunction-sections -fdata-sections)
  # No crt0: ek_reset_handler is the entry. newlib-nano supplies memcpy/libm; ek_newlib_stubs the syscalls.
  target_link_options(${target} PRIVATE -T${_ld} -nostartfiles --specs=nano.specs -Wl,--gc-sections
                      -Wl,-Map=$<TARGET_FILE:${target}>.map -Wl,--print-memory-usage)
  target_link_libraries(${target} PRIVATE m)
  set_target_properties(${target} PROPERTIES SUFFIX ".elf" LINK_DEPENDS ${_ld})
endfunction()

# ek_board_profile(<board> [DEFAULT] DEFINE <macro> MEMORY "<NAME ATTR ORIGIN LENGTH>"... LAYOUT <layout args>)
# One board as boards/<board>.toml states it (written by edgekit.gen.board_profile). When <board> is EK_BOARD (or
# EK_BOARD is empty and the row is the port's DEFAULT), sets EK_PORT_DEFINES, EK_LD_MEMORY_LINES and
# EK_BOARD_LAYOUT for the port. A macro, so they land in the port's scope.
macro(ek_board_profile board)
  cmake_parse_arguments(_ekb "DEFAULT" "DEFINE" "MEMORY;LAYOUT" ${ARGN})
  list(APPEND EK_PROFILE_BOARDS ${board})
  if(EK_BOARD STREQUAL "${board}" OR (NOT EK_BOARD AND _ekb_DEFAULT))
    set(EK_PORT_DEFINES ${_ekb_DEFINE})
    set(EK_LD_MEMORY_LINES ${_ekb_MEMORY})
    set(EK_BOARD_LAYOUT BOARD ${board} ${_ekb_LAYOUT})
  endif()
endmacro()

# The port's default linker layout and the firmware executable. A macro, so the layout lands in the port's scope
# (where ek_cortex_m_linker_script reads it) and stays overridable from the cmake command line (cache values).
macro(ek_cortex_m_firmware)
  if("${ARGN}" STREQUAL "")
    message(FATAL_ERROR "port ${EK_PORT}: unknown EK_BOARD '${EK_BOARD}' (its profiles: ${EK_PROFILE_BOARDS})")
  endif()
  cmake_parse_arguments(_ekp "" "BOARD;STACK_SIZE;TEXT;DATA;STACK;ARENA" "" ${ARGN})
  set(EK_LD_BOARD "${_ekp_BOARD}")
  set(EK_LD_STACK_SIZE ${_ekp_STACK_SIZE} CACHE STRING "main stack bytes")
  set(EK_LD_TEXT_REGION ${_ekp_TEXT} CACHE STRING "region for code (must hold the boot address)")
  set(EK_LD_DATA_REGION ${_ekp_DATA} CACHE STRING "region for .data/.bss")
  set(EK_LD_STACK_REGION ${_ekp_STACK} CACHE STRING "region for the stack")
  set(EK_LD_ARENA_REGION ${_ekp_ARENA} CACHE STRING "region for the working arena")
  if(TARGET ek_runtime)  # bring-up apps (firmware/tests/port_echo) include the port without the runtime
    add_executable(edgekit_fw ${EK_COMMON_PORT_DIR}/ek_main.c ${EK_COMMON_PORT_DIR}/ek_app_server.c)
    target_link_libraries(edgekit_fw PRIVATE ek_runtime)
    ek_cortex_m_configure(edgekit_fw)
  endif()
endmacro()
