# Finds what the mnv4 target needs. Shared by the build tree and mnv4Config.cmake.
include(CMakeFindDependencyMacro)
find_package(Threads REQUIRED)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(xsimd 8 REQUIRED)
# Debian's xsimd 8.1 export names an 'xtl' link dependency that is not installed
# (xsimd itself does not need it): give the linker an empty stand-in.
if(NOT TARGET xtl)
  add_library(xtl INTERFACE IMPORTED)
endif()
