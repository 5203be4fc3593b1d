include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS mnv4 EXPORT mnv4Targets)
install(DIRECTORY include/mnv4 DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT mnv4Targets NAMESPACE mnv4:: DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mnv4)
export(EXPORT mnv4Targets NAMESPACE mnv4:: FILE ${PROJECT_BINARY_DIR}/mnv4Targets.cmake)

configure_package_config_file(cmake/mnv4Config.cmake.in
  ${PROJECT_BINARY_DIR}/mnv4Config.cmake
  INSTALL_DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mnv4)
write_basic_package_version_file(${PROJECT_BINARY_DIR}/mnv4ConfigVersion.cmake
  COMPATIBILITY SameMinorVersion ARCH_INDEPENDENT)
install(FILES
  ${PROJECT_BINARY_DIR}/mnv4Config.cmake
  ${PROJECT_BINARY_DIR}/mnv4ConfigVersion.cmake
  cmake/mnv4Dependencies.cmake
  cmake/mnv4Dispatch.cmake
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/cmake/mnv4)
