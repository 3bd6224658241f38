# aarch64-linux-gnu.cmake — CMake toolchain file for 64-bit Arm Linux (Raspberry Pi 3/4/5, Zero 2 W) with
# Debian's gcc-aarch64-linux-gnu.
#
#   cmake -S firmware -B build -DCMAKE_TOOLCHAIN_FILE=firmware/cmake/aarch64-linux-gnu.cmake \
#         -DEK_PORT=posix -DEK_CPU_FLAGS="-mcpu=cortex-a76"
#
# EK_STATIC=ON (default) links statically, so the binary runs on any Pi OS and under `qemu-aarch64 -cpu X`
# without a sysroot (QEMU user mode otherwise needs -L /usr/aarch64-linux-gnu).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EK_CROSS_PREFIX "aarch64-linux-gnu-" CACHE STRING "cross tool prefix")
find_program(EK_CROSS_GCC ${EK_CROSS_PREFIX}gcc)
if(NOT EK_CROSS_GCC)
  message(FATAL_ERROR "${EK_CROSS_PREFIX}gcc not found: install it with "
                      "`sudo apt-get install gcc-aarch64-linux-gnu` or run `make deps`")
endif()
set(CMAKE_C_COMPILER ${EK_CROSS_GCC})
set(CMAKE_ASM_COMPILER ${EK_CROSS_GCC})

set(EK_CPU_FLAGS "" CACHE STRING "CPU flags for every compile and link, e.g. -mcpu=cortex-a72")
option(EK_STATIC "link statically (runs under qemu-aarch64 and on any distribution)" ON)
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EK_CPU_FLAGS EK_CROSS_PREFIX EK_STATIC)
set(CMAKE_C_FLAGS_INIT "${EK_CPU_FLAGS}")
set(CMAKE_ASM_FLAGS_INIT "${EK_CPU_FLAGS}")
if(EK_STATIC)
  set(CMAKE_EXE_LINKER_FLAGS_INIT "${EK_CPU_FLAGS} -static")
else()
  set(CMAKE_EXE_LINKER_FLAGS_INIT "${EK_CPU_FLAGS}")
endif()

# Run cross-built test programs under QEMU user mode (add_test, try_run).
find_program(EK_QEMU_AARCH64 qemu-aarch64)
if(EK_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${EK_QEMU_AARCH64})
endif()

set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
