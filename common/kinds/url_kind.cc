// `url URL`: an HTTP GET on the worker's libcurl multi handle. Lenient on
// the URL itself: what libcurl refuses becomes a failed task, not a bad line.
#include <cmath>

#include "common/task_kind.h"

namespace taskfarm {
namespace {

std::string Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 1) return "'url' takes one URL: url http://host/path";
  spec->mutable_url()->set_url(std::string(words[0]));
  return "";
}

std::string Print(const pb::TaskSpec& spec) { return "url " + spec.url().url(); }

std::string Describe(const pb::Result& r, const std::string& who) {
  return Format("Read %llu from %s (", static_cast<unsigned long long>(r.bytes()), r.url().c_str()) + who + ")";
}

bool HasOwnFields(const pb::Result& r) {
  return r.has_url() || r.has_http_status() || r.has_bytes() || r.has_timings();
}

std::string CheckMs(const char* name, double value) {
  if (!std::isfinite(value)) return std::string(name) + " is not a finite number";
  if (value < 0) return std::string(name) + " is negative";
  if (value > 1e9) return std::string(name) + " is over 10^9 ms";
  return "";
}

std::string Check(const pb::TaskSpec&, const pb::Result& r) {
  if (r.has_timings()) {
    const pb::UrlTimings& t = r.timings();
    for (auto [name, value] : {std::pair{"timings.namelookup_ms", t.namelookup_ms()},
                               {"timings.connect_ms", t.connect_ms()},
                               {"timings.tls_ms", t.tls_ms()},
                               {"timings.first_byte_ms", t.first_byte_ms()},
                               {"timings.total_ms", t.total_ms()}}) {
      if (std::string why = CheckMs(name, value); !why.empty()) return why;
    }
  }
  if (r.http_status() > 999) return "http_status is over 999";
  return "";
}

}  // namespace

extern const TaskKind kUrlKind{
    .name = "url",
    .what = pb::TaskSpec::kUrl,
    .usage = "url URL",
    .example = "url http://127.0.0.1:8080/page/1",
    .summary = "HTTP(S) GET: status, bytes, libcurl's timings",
    .resource = Resource::kIo,
    .worker_flag = "",
    .test_only = false,
    .color = "#3b82f6",
    .parse = Parse,
    .format = Print,
    .describe = Describe,
    .has_own_fields = HasOwnFields,
    .check = Check,
};

}  // namespace taskfarm
