# MOEKIT_FUZZ=AUTO|ON|OFF: the libFuzzer harnesses of tests/fuzz. AUTO builds them when the
# compiler links -fsanitize=fuzzer (clang with its runtime, Debian's libclang-rt-14-dev);
# GCC has no libFuzzer, so a GCC build leaves them out. scripts/run-fuzz.sh builds them.
set(MOEKIT_FUZZ AUTO CACHE STRING "Build the libFuzzer harnesses (tests/fuzz): AUTO, ON, OFF")
set_property(CACHE MOEKIT_FUZZ PROPERTY STRINGS AUTO ON OFF)
set(MOEKIT_HAS_FUZZ OFF)
if(NOT MOEKIT_FUZZ STREQUAL "OFF")
  include(CheckCXXSourceCompiles)
  set(CMAKE_REQUIRED_FLAGS "-fsanitize=fuzzer")
  set(CMAKE_REQUIRED_LINK_OPTIONS "-fsanitize=fuzzer")
  check_cxx_source_compiles([[
    #include <cstddef>
    #include <cstdint>
    extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t*, std::size_t) { return 0; }
  ]] MOEKIT_LIBFUZZER_WORKS)
  unset(CMAKE_REQUIRED_FLAGS)
  unset(CMAKE_REQUIRED_LINK_OPTIONS)
  if(MOEKIT_LIBFUZZER_WORKS)
    set(MOEKIT_HAS_FUZZ ON)
  elseif(MOEKIT_FUZZ STREQUAL "ON")
    message(FATAL_ERROR "MOEKIT_FUZZ=ON but ${CMAKE_CXX_COMPILER} cannot link -fsanitize=fuzzer "
                        "(use clang++ with libclang-rt-14-dev)")
  endif()
endif()
