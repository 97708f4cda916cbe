// `url URL`: an HTTP GET on the worker's libcurl multi handle. A URL that
// is not http:// or https:// with a host is a bad line; anything else wrong
// with it (what libcurl refuses) becomes a failed task. The worker checks
// the scheme again, and after every redirect.
#include <algorithm>
#include <cmath>

#include "common/quote.h"
#include "common/task_kind.h"

namespace taskfarm {

std::string HttpUrlWanted(std::string_view url) {
  auto starts_with = [&](std::string_view prefix) {  // prefix: lower case
    if (url.size() < prefix.size()) return false;
    for (size_t i = 0; i < prefix.size(); ++i) {
      char c = url[i];
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
      if (c != prefix[i]) return false;
    }
    return true;
  };
  size_t host = starts_with("http://") ? 7 : starts_with("https://") ? 8 : 0;
  if (host == 0) return "an http:// or https:// URL";
  if (host == url.size() || url[host] == '/' || url[host] == '?' || url[host] == '#') {
    return "an http:// or https:// URL with a host";
  }
  return "";
}

namespace {

std::string Parse(std::string_view args, const ParseOptions&, pb::TaskSpec* spec) {
  Words words = SplitWords(args);
  if (words.size != 1) return "'url' takes one URL: url http://host/path";
  if (std::string wanted = HttpUrlWanted(words[0]); !wanted.empty())
    return "'url' takes " + wanted + ": " + Quote(words[0]);
  spec->mutable_url()->set_url(std::string(words[0]));
  return "";
}

std::string Print(const pb::TaskSpec& spec) { return "url " + spec.url().url(); }

std::string Describe(const pb::Result& r, const std::string& who) {
  return Format("Read %llu from %s (", static_cast<unsigned long long>(r.bytes()), r.url().c_str()) + who + ")";
}

bool HasOwnFields(const pb::Result& r) {
  return r.has_url() || r.has_http_status() || r.has_bytes() || r.has_timings() || r.has_sha256() ||
         r.has_wire_bytes() || r.has_saved_as();
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
  if (r.has_sha256()) {
    const std::string& hex = r.sha256();
    bool digits =
        std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    if (hex.size() != 64 || !digits) return "sha256 is not 64 lower-case hex digits";
  }
  // A whole body is no larger on the wire than decoded, but for a
  // compression header and an incompressible body's framing (a cut one may
  // be: the decoder holds back what it has not decoded yet).
  if (r.ok() && r.wire_bytes() > 2 * uint64_t{r.bytes()} + 1024) return "wire_bytes is over twice bytes";
  if (r.has_saved_as() && (r.saved_as().empty() || !r.ok())) return "saved_as is set but no file was saved";
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
