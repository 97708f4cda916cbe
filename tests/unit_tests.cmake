# Unit tests: pure logic and inproc:// sockets, no sleeps; no processes but
# /bin/sh, the judge of what the shell-quoting tests quote.
# include() this from tests/CMakeLists.txt after find_package(GTest) and
# include(GoogleTest).
add_executable(unit_tests
  ${CMAKE_CURRENT_LIST_DIR}/task_parser_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/task_kind_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/url_kind_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/save_names_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/input_options_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_kind_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/quote_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/shell_words_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/exec_template_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/frame_codec_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/cpu_kernels_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/stats_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/text_table_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/summary_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/task_source_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/shard_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/journal_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/result_json_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/file_writer_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/scheduler_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/duration_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/rate_parse_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/url_host_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/cli_help_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/scheduler_rejected_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/scheduler_liveness_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/peer_registry_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/utf8_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/host_port_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/metrics_test.cc
  ${CMAKE_CURRENT_LIST_DIR}/check_test.cc)
target_link_libraries(unit_tests PRIVATE GTest::gtest_main taskfarm_coordinator taskfarm_worker taskfarm_test_support
  nlohmann_json::nlohmann_json CLI11::CLI11 taskfarm_warnings)
gtest_discover_tests(unit_tests PROPERTIES TIMEOUT 60 LABELS unit)
