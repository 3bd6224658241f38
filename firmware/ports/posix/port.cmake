# POSIX port: edgekit-device, an ordinary process serving the link protocol on stdio/pty/tty/TCP.
# Included by firmware/CMakeLists.txt when EK_PORT=posix; builds on Linux and macOS, and cross-builds for
# aarch64 Linux (Raspberry Pi, qemu-aarch64) with the toolchain files in firmware/cmake/.
set(_ek_posix_dir ${CMAKE_CURRENT_LIST_DIR})
add_executable(edgekit-device
  ${_ek_posix_dir}/ek_posix_main.c
  ${_ek_posix_dir}/ek_posix_link.c
  ${_ek_posix_dir}/ek_posix_marker.c
  ${_ek_posix_dir}/ek_posix_threads.c)
target_include_directories(edgekit-device PRIVATE ${_ek_posix_dir})
target_compile_options(edgekit-device PRIVATE ${EK_WARNING_FLAGS})
find_package(Threads REQUIRED)
target_link_libraries(edgekit-device PRIVATE ek_runtime Threads::Threads)
# --threads N: wrap the runtime's matvec entries (ternary, the float lm_head and the integer q8i / q4i ones) so the port can split rows
# over a pthread pool. GNU ld, gold and lld know --wrap; Apple's ld64 does not, so macOS builds run
# single-threaded.
if(NOT APPLE)
  target_compile_definitions(edgekit-device PRIVATE EK_POSIX_WRAP_MATVEC)
  target_link_options(edgekit-device PRIVATE "LINKER:--wrap=ek_ternary_matvec,--wrap=ek_ternary_matmul,--wrap=ek_float_matvec,--wrap=ek_head_q8i,--wrap=ek_head_q4i")
endif()
install(TARGETS edgekit-device RUNTIME DESTINATION bin)
