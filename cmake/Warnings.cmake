# moekit_warnings(target): the project's warning flags (clean under -Wall -Wextra -Wpedantic).
function(moekit_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wshadow=local>
    $<$<AND:$<COMPILE_LANGUAGE:CXX>,$<BOOL:${MOEKIT_WERROR}>>:-Werror>)
endfunction()
