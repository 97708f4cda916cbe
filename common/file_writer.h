// Whole files (reports, JSON summaries) written so that a failure is never
// silent: every write, the sync and the close are checked, and a file that
// could not be written completely does not replace the one that was there.
//
//   if (Status s = CheckCanWrite(path); !s.ok()) { report s.message(); exit 2; }  // before the work
//   ... the work ...
//   if (Status s = WriteWholeFile(path, contents); !s.ok()) { report s.message(); exit 3; }
#pragma once

#include <string>
#include <string_view>

#include "common/status.h"

namespace taskfarm {

// Whether `path` can be written by WriteWholeFile, checked by doing it: a
// regular file (or none yet) needs its directory to exist and take a new
// file (one is created there and removed); anything else (a device, a pipe)
// must open for writing. A failure's message: "PATH: cannot write: WHY".
Status CheckCanWrite(const std::string& path);

// Writes `contents` as the whole of `path`. A regular file (or a new one)
// is written to a temporary file beside it, synced, and renamed over it, so
// readers see the old file or the new one, never a part; anything else (a
// device, a pipe, a symlink) is written in place. A failure ("PATH: cannot
// write: WHY") leaves no temporary file behind.
Status WriteWholeFile(const std::string& path, std::string_view contents);

}  // namespace taskfarm
