# clang-aarch64-apple.cmake — CMake toolchain file for Apple M-series (arm64 macOS) with clang.
#
# On a Mac no toolchain file is needed: `cmake -S firmware -B build -DEK_PORT=posix` uses Apple clang natively.
# This file is for building the apple-m profile from another machine (CI on Linux). That cannot work from
# clang alone: even <stdint.h> and <math.h> come from the macOS SDK (MacOSX.sdk, part of Xcode, which may not
# be redistributed), and linking needs a Mach-O linker (ld64.lld from the lld package). Point EK_MACOS_SDK
# at an SDK you have (e.g. copied from `xcrun --show-sdk-path` on a Mac):
#
#   cmake -S firmware -B build-apple -DCMAKE_TOOLCHAIN_FILE=firmware/cmake/clang-aarch64-apple.cmake \
#         -DEK_MACOS_SDK=/opt/MacOSX14.sdk -DEK_PORT=posix -DEK_CPU_FLAGS=-mcpu=apple-m1
set(CMAKE_SYSTEM_NAME Darwin)
set(CMAKE_SYSTEM_PROCESSOR arm64)
set(CMAKE_OSX_ARCHITECTURES arm64)
set(CMAKE_OSX_DEPLOYMENT_TARGET 11.0 CACHE STRING "oldest macOS to run on (first with Apple silicon)")

find_program(EK_CLANG clang)
if(NOT EK_CLANG)
  message(FATAL_ERROR "clang not found: install it with `sudo apt-get install clang` (or Xcode on a Mac)")
endif()
set(CMAKE_C_COMPILER ${EK_CLANG})
set(CMAKE_ASM_COMPILER ${EK_CLANG})
set(CMAKE_C_COMPILER_TARGET arm64-apple-macos11)
set(CMAKE_ASM_COMPILER_TARGET arm64-apple-macos11)

set(EK_CPU_FLAGS "-mcpu=apple-m1" CACHE STRING "CPU flags for every compile and link")
set(EK_MACOS_SDK "$ENV{EDGEKIT_MACOS_SDK}" CACHE PATH "MacOSX.sdk directory (needed when not building on a Mac)")
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES EK_CPU_FLAGS EK_MACOS_SDK)
set(CMAKE_C_FLAGS_INIT "${EK_CPU_FLAGS}")

if(NOT CMAKE_HOST_APPLE)
  if(NOT EK_MACOS_SDK OR NOT EXISTS "${EK_MACOS_SDK}/usr/include/stdint.h")
    message(FATAL_ERROR
      "building for apple-m on a non-Mac needs a macOS SDK: pass -DEK_MACOS_SDK=/path/to/MacOSX.sdk "
      "(copy it from `xcrun --show-sdk-path` on a Mac; Xcode's SDK is not redistributable), or build on the "
      "Mac itself with `cmake -S firmware -B build` and no toolchain file")
  endif()
  set(CMAKE_OSX_SYSROOT ${EK_MACOS_SDK})
  find_program(EK_LD64_LLD ld64.lld)
  if(NOT EK_LD64_LLD)
    message(FATAL_ERROR "ld64.lld not found: install it with `sudo apt-get install lld` to link Mach-O binaries")
  endif()
  set(CMAKE_EXE_LINKER_FLAGS_INIT "${EK_CPU_FLAGS} -fuse-ld=lld")
endif()
