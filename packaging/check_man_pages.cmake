# CPACK_PRE_BUILD_SCRIPTS when the build found no help2man: the build went on
# without man pages, but a package without them is not the package.
message(FATAL_ERROR "taskfarm: no man pages were built (help2man was not found when build/ was "
                    "configured): apt-get install help2man (or scripts/setup), then run cmake again")
