# arm-none-eabi.cmake — CMake toolchain file for bare-metal Cortex-M (Debian gcc-arm-none-eabi + newlib).
#
#   cmake -S firmware -B build -G Ninja -DCMAKE_TOOLCHAIN_FILE=firmware/cmake/arm-none-eabi.cmake \
#         -DEK_PORT=mps3-an547 -DEK_CPU_FLAGS="-mcpu=cortex-m55 -mthumb -mfloat-abi=hard"
#
# EK_CPU_FLAGS (a board profile's toolchain.cpu_flags; edgekit.boards.Board.cmake_args() builds the line)
# goes on every compile and link: the runtime library, kernels and port must agree on the float ABI, and
# the multilib newlib is chosen from the same flags at link time.
set(CMAKE_SYSTEM_NAME Generic)
set(CMAKE_SYSTEM_PROCESSOR arm)

set(EK_CROSS_PREFIX "arm-none-eabi-" CACHE STRING "cross tool prefix")
find_program(EK_CROSS_GCC ${EK_CROSS_PREFIX}gcc)
if(NOT EK_CROSS_GCC)
  message(FATAL_ERROR "${EK_CROSS_PREFIX}gcc not found: install it with "
                      "`sudo apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi` or run `make deps`")
endif()
set(CMAKE_C_COMPILER ${EK_CROSS_GCC})
set(CMAKE_ASM_COMPILER ${EK_CROSS_GCC})
find_program(CMAKE_OBJCOPY ${EK_CROSS_PREFIX}objcopy)
find_program(CMAKE_SIZE ${EK_CROSS_PREFIX}size)

# try_compile cannot link a bare-metal executable (no startup, no linker script yet).
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)

set(EK_CPU_FLAGS "" CACHE STRING "CPU/ABI flags for every compile and link, e.g. -mcpu=cortex-m4 -mthumb -mfloat-abi=hard")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EK_CPU_FLAGS EK_CROSS_PREFIX)
set(CMAKE_C_FLAGS_INIT "${EK_CPU_FLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${EK_CPU_FLAGS}")
set(CMAKE_EXE_LINKER_FLAGS_INIT "${EK_CPU_FLAGS}")

set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
