# moekit_warnings(target): the project's warning flags (clean under -Wall -Wextra -Wpedantic).
# -Wshadow=local is GCC's; clang (the fuzz build) has no such spelling.
function(moekit_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<CXX_COMPILER_ID:GNU>>:-Wshadow=local>
    # kernels/lanes.hpp passes 64-byte vectors between inline functions; without AVX-512 GCC and
    # clang remark that such a value goes in memory (an ABI note, no ABI boundary is crossed).
    $<$<COMPILE_LANGUAGE:CXX>:-Wno-psabi>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${MOEKIT_WERROR}>>:-Werror>)
endfunction()
