// mkdir -p: each prefix of the path in turn, an existing one skipped.
#include "worker/make_dirs.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>

#include "common/quote.h"

namespace taskfarm {

Status MakeDirs(const std::string& path, const std::string& flag) {
  for (size_t i = 1; i <= path.size(); ++i) {
    if (i < path.size() && path[i] != '/') continue;
    std::string prefix = path.substr(0, i);
    if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return Unavailable("cannot create " + flag + " directory " + Quote(prefix) + ": " + std::strerror(errno));
    }
  }
  return Status::Ok();
}

}  // namespace taskfarm
