# mnv4_set_warnings(target): strict warnings for mnv4's own executables.
function(mnv4_set_warnings target)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow)
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    # GCC 12 reports a false -Wrestrict inside libstdc++ for `"literal" + std::string`
    # at -O2 and above (GCC bug 105329, fixed in 13).
    target_compile_options(${target} PRIVATE -Wno-restrict)
  endif()
  if(MNV4_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
endfunction()
