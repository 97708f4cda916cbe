// mkdir -p on the worker, for the directories tasks write into (exec's
// --results, url's --save): they are made where the worker runs.
//
//   if (Status s = MakeDirs(dir, "--save"); !s.ok()) fail(s.message());
#pragma once

#include <string>

#include "common/status.h"

namespace taskfarm {

// Makes `path` and its missing parents (mode 0755 before the umask). OK
// when it exists afterwards (made here or already there); else Unavailable
// (this worker's disk, not the task) with a sentence naming the flag, the
// directory that could not be made and why: "cannot create --results
// directory 'out/x': Permission denied".
Status MakeDirs(const std::string& path, const std::string& flag);

}  // namespace taskfarm
