# mnv4_set_warnings(target): strict warnings for mnv4's own executables.
function(mnv4_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(MNV4_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
