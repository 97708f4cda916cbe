# Writes one gzipped man page from a program's --help with help2man, at
# build time (packaging/CMakeLists.txt runs it, `cmake -P`):
#
#   cmake -DHELP2MAN=/usr/bin/help2man -DPROGRAM=build/bin/coordinator [-DSUBCOMMAND=compare]
#         -DPAGE=taskfarm-coordinator-compare -DCOMMAND=taskfarm-coordinator -DSUMMARY="..."
#         -DVERSION=0.1.0 [-DINCLUDE=packaging/taskfarm-coordinator.h2m] -DOUTPUT=x.1.gz -P man_page.cmake
#
# PAGE is the page's name, COMMAND what the user types (the installed name,
# not the build tree's `coordinator` that the help itself says). help2man
# reflows every paragraph, which would run the task-line table of the help
# together, so that block (from "Task lines" up to "DURATION:") goes in
# verbatim as its own section, and help2man reads the rest of the help from a
# file. The version is read from PROGRAM --version by help2man, after a
# check here that it has the form help2man parses.
cmake_minimum_required(VERSION 3.25)
foreach(var HELP2MAN PROGRAM PAGE COMMAND SUMMARY VERSION OUTPUT)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "man_page.cmake: -D${var}=... is required")
  endif()
endforeach()

get_filename_component(program_name "${PROGRAM}" NAME)
execute_process(COMMAND "${PROGRAM}" --version OUTPUT_VARIABLE version_line RESULT_VARIABLE rc)
string(STRIP "${version_line}" version_line)
if(NOT rc EQUAL 0 OR NOT version_line STREQUAL "${program_name} (taskfarm) ${VERSION}")
  message(FATAL_ERROR "${PROGRAM} --version said '${version_line}' (exit ${rc}), not "
                      "'${program_name} (taskfarm) ${VERSION}', the form help2man reads the version from")
endif()
execute_process(COMMAND "${PROGRAM}" ${SUBCOMMAND} --help OUTPUT_VARIABLE help RESULT_VARIABLE rc)
if(NOT rc EQUAL 0 OR NOT help MATCHES "\nUsage: ${program_name}( [^\n]*)?\n")
  message(FATAL_ERROR "${PROGRAM} ${SUBCOMMAND} --help: exit ${rc}, or no 'Usage: ${program_name}' line")
endif()
string(REGEX MATCH "\nUsage: ${program_name}( [^\n]*)?\n" usage "${help}")
set(usage "${CMAKE_MATCH_1}")

# Roff for text shown as it is: \ and - escaped (a bare - renders as a
# hyphen, which breaks copying an option), ' as a straight quote, and a
# leading . or ' kept from starting a request.
function(roff_verbatim text out)
  string(REPLACE "\\" "\\e" text "${text}")
  string(REPLACE "-" "\\-" text "${text}")
  string(REPLACE "'" "\\(aq" text "${text}")
  string(REGEX REPLACE "(^|\n)([.])" "\\1\\\\&\\2" text "${text}")
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

# SYNOPSIS: the usage line with the installed name; the words in capitals
# (OPTIONS, PATH, SHARD...) in italics as help2man does.
string(REGEX MATCH "^( [a-z][a-z0-9-]*)+" words "${usage}")
string(LENGTH "${words}" n)
string(SUBSTRING "${usage}" ${n} -1 arguments)
roff_verbatim("${arguments}" arguments)
string(REGEX REPLACE "([A-Z][A-Z.]*)" "\\\\fI\\1\\\\fR" arguments "${arguments}")
string(STRIP "${arguments}" arguments)
# \& first: a line that is all [...] would start a section of the include file.
set(h2m "[NAME]\n${PAGE} \\- ${SUMMARY}\n[SYNOPSIS]\n.B ${COMMAND}${words}\n\\&${arguments}\n")

string(FIND "${help}" "\nTask lines" table_start)
if(table_start GREATER -1)
  string(SUBSTRING "${help}" ${table_start} -1 after_start)
  string(FIND "${after_start}" "\nDURATION:" table_length)
  if(table_length EQUAL -1)
    message(FATAL_ERROR "${PROGRAM} ${SUBCOMMAND} --help: a 'Task lines' block with no 'DURATION:' after it")
  endif()
  string(SUBSTRING "${after_start}" 1 ${table_length} table)
  string(SUBSTRING "${after_start}" ${table_length} -1 rest)
  string(SUBSTRING "${help}" 0 ${table_start} help)
  string(APPEND help "\n${rest}")
  roff_verbatim("${table}" table)
  string(APPEND h2m "[TASK LINES]\n.nf\n${table}.fi\n")
endif()

get_filename_component(work "${OUTPUT}" DIRECTORY)
set(stem "${work}/${PAGE}")
file(WRITE "${stem}.help" "${help}")
file(WRITE "${stem}.h2m" "${h2m}")
# help2man runs `PROGRAM OPTION` through the shell: this script answers
# --help from the file and passes --version to the real program.
file(WRITE "${stem}.sh" "#!/bin/sh\ncase \"$1\" in\n  --help) exec cat '${stem}.help' ;;\n"
                        "  *) exec '${PROGRAM}' \"$@\" ;;\nesac\n")
file(CHMOD "${stem}.sh" PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE)
set(includes --include "${stem}.h2m")
if(INCLUDE)
  list(APPEND includes --include "${INCLUDE}")
endif()
execute_process(COMMAND "${HELP2MAN}" --no-info --section 1 ${includes} --output "${stem}.1" "${stem}.sh"
                RESULT_VARIABLE rc ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "help2man failed on ${PROGRAM} ${SUBCOMMAND}: ${err}")
endif()
file(READ "${stem}.1" page)
string(TOUPPER "${PAGE}" title)
if(NOT page MATCHES "\n\\.TH ${title} \"1\" \"[^\"]*\" \"taskfarm ${VERSION}\"")
  message(FATAL_ERROR "${stem}.1: help2man did not title it ${title} with 'taskfarm ${VERSION}'")
endif()
# Debian's way: gzip -9n (no name or time stamp in the .gz).
execute_process(COMMAND gzip -9n -c "${stem}.1" OUTPUT_FILE "${OUTPUT}" RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  file(REMOVE "${OUTPUT}")
  message(FATAL_ERROR "gzip -9n ${stem}.1 failed")
endif()
