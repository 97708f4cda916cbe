// mkdir -p on the worker, for the directories tasks write into (exec's
// --results, url's --save): they are made where the worker runs.
//
//   if (std::string err = MakeDirs(dir, "--save"); !err.empty()) fail(err);
#pragma once

#include <string>

namespace taskfarm {

// Makes `path` and its missing parents (mode 0755 before the umask). ""
// when it exists afterwards (made here or already there); else a sentence
// naming the flag, the directory that could not be made and why: "cannot
// create --results directory 'out/x': Permission denied".
[[nodiscard]] std::string MakeDirs(const std::string& path, const std::string& flag);

}  // namespace taskfarm
