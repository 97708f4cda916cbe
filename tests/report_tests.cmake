# The HTML/JSON report: unit test, and the page opened in headless Chromium.
# include() this from tests/CMakeLists.txt after find_package(GTest),
# find_package(nlohmann_json) and include(GoogleTest).
add_executable(report_test ${CMAKE_CURRENT_LIST_DIR}/report_test.cc)
target_include_directories(report_test PRIVATE ${PROJECT_SOURCE_DIR})
target_link_libraries(report_test PRIVATE taskfarm_report nlohmann_json::nlohmann_json GTest::gtest_main
  taskfarm_warnings)
# ReportSample.Write is a generator for the browser check, not a test.
gtest_discover_tests(report_test TEST_FILTER "-ReportSample.*" PROPERTIES TIMEOUT 60 LABELS unit)

# Writes the sample report with report_test, then checks it in Chromium: no
# console error, no network request, one bar per task. Skipped (77) without
# chromium, node or the playwright-core modules (scripts/setup installs them).
add_test(NAME report_in_chromium
  COMMAND ${CMAKE_CURRENT_LIST_DIR}/browser/run-check.sh $<TARGET_FILE:report_test>
          ${CMAKE_CURRENT_BINARY_DIR}/report_in_chromium)
set_tests_properties(report_in_chromium PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77 LABELS browser)
