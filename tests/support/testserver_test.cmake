# Registers tests/testserver_test.cc and tests/test_ca_test.cc (the rig's tests); include() this
# from tests/CMakeLists.txt after add_subdirectory(support) and find_package(GTest)/include(GoogleTest).
# OpenSSL's imported targets are local to the directory that found them.
find_package(OpenSSL REQUIRED)
add_executable(testserver_test ${CMAKE_CURRENT_LIST_DIR}/../testserver_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/../test_ca_test.cc)
target_link_libraries(testserver_test PRIVATE taskfarm_testserver
  taskfarm_test_support GTest::gtest_main CURL::libcurl nlohmann_json::nlohmann_json
  OpenSSL::SSL OpenSSL::Crypto taskfarm_common taskfarm_warnings)
add_dependencies(testserver_test testserver)  # run as a subprocess
gtest_discover_tests(testserver_test PROPERTIES TIMEOUT 60)
