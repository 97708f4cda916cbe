// Both programs' main(): an exception that no module turned into a Status
// is a bug, and says so in one line with EX_SOFTWARE (70), not with
// std::terminate's abort and core dump.
#pragma once

#include <sysexits.h>

#include <cstdio>
#include <exception>

namespace taskfarm {

// Runs `body(argc, argv)` and returns its exit code; an escaped exception
// prints "PROGRAM: internal error: WHAT" and returns EX_SOFTWARE.
template <typename Body>
int RunMain(const char* program, Body body, int argc, char** argv) {
  try {
    return body(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: internal error: %s\n", program, e.what());
  } catch (...) {
    std::fprintf(stderr, "%s: internal error: an exception that is not a std::exception\n", program);
  }
  return EX_SOFTWARE;
}

}  // namespace taskfarm
