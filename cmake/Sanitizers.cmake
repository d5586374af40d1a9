# MOEKIT_SANITIZE="address;undefined" instruments every target of this build.
if(MOEKIT_SANITIZE)
  list(JOIN MOEKIT_SANITIZE "," _moekit_san)
  add_compile_options($<$<COMPILE_LANGUAGE:CXX>:-fsanitize=${_moekit_san}>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-omit-frame-pointer>
                      $<$<COMPILE_LANGUAGE:CXX>:-fno-sanitize-recover=undefined>)
  add_link_options(-fsanitize=${_moekit_san})
endif()
