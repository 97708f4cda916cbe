# Installing taskfarm (packaging/): include() this from tests/CMakeLists.txt.
# Label: package. install_tree runs as any user (cmake --install into a
# temporary prefix); package_deb installs the .deb on this machine and purges
# it again (root with apt and dpkg, 77 otherwise; why it is safe on a CI
# machine: tests/package_test.sh). RUN_SERIAL: it takes the dpkg lock and
# runs cpack in the build tree.
set(taskfarm_package_test_args ${CMAKE_BINARY_DIR} ${PROJECT_SOURCE_DIR} ${PROJECT_VERSION})
add_test(NAME install_tree COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/install_tree_test.sh ${taskfarm_package_test_args})
set_tests_properties(install_tree PROPERTIES TIMEOUT 120 LABELS package SKIP_RETURN_CODE 77)
add_test(NAME package_deb COMMAND bash ${CMAKE_CURRENT_LIST_DIR}/package_test.sh ${taskfarm_package_test_args})
set_tests_properties(package_deb PROPERTIES TIMEOUT 300 LABELS package SKIP_RETURN_CODE 77 RUN_SERIAL TRUE)
