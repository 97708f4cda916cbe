# Installs deploy/systemd/taskfarm-worker@.service, run at install time
# (install(CODE) in packaging/CMakeLists.txt sets UNIT_SOURCE, UNIT_COPY and
# BINDIR). Its ExecStart names the package's /usr/bin/taskfarm-worker; here
# it becomes the worker this install puts in place, under the prefix known
# only now: /usr for the .deb (CPack), /usr/local for a plain
# `cmake --install`, whatever --prefix says otherwise. systemd reads units
# from PREFIX/lib/systemd/system for both /usr and /usr/local.
file(READ "${UNIT_SOURCE}" unit)
if(IS_ABSOLUTE "${BINDIR}")
  set(worker "${BINDIR}/taskfarm-worker")
else()
  set(worker "${CMAKE_INSTALL_PREFIX}/${BINDIR}/taskfarm-worker")
endif()
string(FIND "${unit}" "\nExecStart=/usr/bin/taskfarm-worker " at)
if(at EQUAL -1)
  message(FATAL_ERROR "${UNIT_SOURCE}: no 'ExecStart=/usr/bin/taskfarm-worker ' line to point at ${worker}")
endif()
string(REPLACE "\nExecStart=/usr/bin/taskfarm-worker " "\nExecStart=${worker} " installed "${unit}")
file(WRITE "${UNIT_COPY}" "${installed}")
file(INSTALL "${UNIT_COPY}" DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system"
     FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
