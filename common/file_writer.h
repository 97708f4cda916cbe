// Whole files (reports, JSON summaries) written so that a failure is never
// silent: every write, the sync and the close are checked, and a file that
// could not be written completely does not replace the one that was there.
//
//   std::string error;
//   if (!CheckCanWrite(path, &error)) { report error; exit 2; }  // before the work
//   ... the work ...
//   if (!WriteWholeFile(path, contents, &error)) { report error; exit 3; }
#pragma once

#include <string>
#include <string_view>

namespace taskfarm {

// Whether `path` can be written by WriteWholeFile, checked by doing it: a
// regular file (or none yet) needs its directory to exist and take a new
// file (one is created there and removed); anything else (a device, a pipe)
// must open for writing. On failure sets `error` ("PATH: cannot write: WHY").
[[nodiscard]] bool CheckCanWrite(const std::string& path, std::string* error);

// Writes `contents` as the whole of `path`. A regular file (or a new one)
// is written to a temporary file beside it, synced, and renamed over it, so
// readers see the old file or the new one, never a part; anything else (a
// device, a pipe, a symlink) is written in place. On failure sets `error`
// ("PATH: cannot write: WHY") and leaves no temporary file behind.
[[nodiscard]] bool WriteWholeFile(const std::string& path, std::string_view contents, std::string* error);

}  // namespace taskfarm
