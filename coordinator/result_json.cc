// The hand-written JSON printer for Result; see result_json.h.
#include "coordinator/result_json.h"

#include <google/protobuf/util/json_util.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace taskfarm {
namespace {

bool PlainAscii(const std::string& s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  return true;
}

// Whether the fast path can print `r` exactly as protobuf does.
bool FastPathFits(const pb::Result& r) {
  if (r.has_exec()) {
    const pb::ExecResult& e = r.exec();
    for (const std::string* s : {&e.signal(), &e.stdout(), &e.stderr()}) {
      if (!PlainAscii(*s)) return false;
    }
  }
  for (const std::string* s : {&r.kind(), &r.worker(), &r.error(), &r.error_code(), &r.url(), &r.host(), &r.task(),
                               &r.sha256(), &r.saved_as()}) {
    if (!PlainAscii(*s)) return false;
  }
  for (const std::string& s : r.failures()) {
    if (!PlainAscii(s)) return false;
  }
  const pb::UrlTimings& t = r.timings();
  for (double d : {r.duration_ms(), r.start_ms(), r.cpu_user_ms(), r.cpu_sys_ms(), r.cpu_wait_ms(), t.namelookup_ms(),
                   t.connect_ms(), t.tls_ms(), t.first_byte_ms(), t.total_ms()}) {
    if (!std::isfinite(d)) return false;  // protobuf prints "NaN", "Infinity" as strings
  }
  return true;
}

// protobuf's JSON string escaping, for ASCII: the short escapes it uses,
// \u00xx (lower-case hex) for other control characters and DEL, and '<'
// and '>' escaped as well (it guards against the JSON landing in HTML).
bool NeedsEscape(unsigned char c) { return c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == 0x7f; }

void AppendString(const std::string& s, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the characters not yet appended: copied in one go
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (!NeedsEscape(c)) continue;
    out->append(s, run, i - run);
    run = i + 1;
    // JSON's two-character escapes as pairs: a character, then the letter
    // that follows the backslash for it. Any other: \u00xx.
    static constexpr std::string_view kShort = "\"\"\\\\\bb\ff\nn\rr\tt";
    size_t at = kShort.find(static_cast<char>(c));
    if (at != std::string_view::npos && at % 2 == 0) {
      out->push_back('\\');
      out->push_back(kShort[at + 1]);
      continue;
    }
    out->append("\\u00");
    out->push_back(kHex[c >> 4]);
    out->push_back(kHex[c & 0xf]);
  }
  out->append(s, run, s.size() - run);
  out->push_back('"');
}

void AppendUint(uint64_t v, std::string* out) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, end);
}

// protobuf's SimpleDtoa: %.15g, or %.17g when 15 digits do not read back
// as the same double.
void AppendDouble(double v, std::string* out) {
  // Whole numbers below 1e15 print as plain integers under %.15g: the
  // common case (0 for what never ran, whole milliseconds) without printf.
  if (v == std::trunc(v) && std::fabs(v) < 1e15) {
    if (v == 0 && std::signbit(v)) {
      out->append("-0");
      return;
    }
    if (v < 0) out->push_back('-');
    AppendUint(static_cast<uint64_t>(std::fabs(v)), out);
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  if (std::strtod(buf, nullptr) != v) std::snprintf(buf, sizeof(buf), "%.17g", v);
  out->append(buf);
}

void AppendMs(double v, std::string* out) { AppendDouble(RecordMs(v), out); }

void Key(const char* name, std::string* out) {
  out->push_back(',');
  out->push_back('"');
  out->append(name);
  out->append("\":");
}

// A double that is milliseconds: printed rounded as NormalizeRecord does.
struct Ms {
  double value;
};
void Append(const std::string& v, std::string* out) { AppendString(v, out); }
void Append(uint64_t v, std::string* out) { AppendUint(v, out); }
void Append(bool v, std::string* out) { out->append(v ? "true" : "false"); }
void Append(Ms v, std::string* out) { AppendMs(v.value, out); }

// `,"name":value`.
template <typename T>
void Field(const char* name, const T& value, std::string* out) {
  Key(name, out);
  Append(value, out);
}

void AppendTimings(const pb::UrlTimings& t, std::string* out) {
  out->append("{\"namelookup_ms\":");
  AppendMs(t.namelookup_ms(), out);
  for (auto [name, ms] : {std::pair{"connect_ms", t.connect_ms()},
                          {"tls_ms", t.tls_ms()},
                          {"first_byte_ms", t.first_byte_ms()},
                          {"total_ms", t.total_ms()}}) {
    Field(name, Ms{ms}, out);
  }
  Field("new_connections", uint64_t{t.new_connections()}, out);
  out->push_back('}');
}

// protobuf's order: the fields without presence, then the proto3 optional
// ones (exit_code).
void AppendExec(const pb::ExecResult& e, std::string* out) {
  out->append("{\"signal\":");
  AppendString(e.signal(), out);
  Field("timed_out", e.timed_out(), out);
  Field("stdout_bytes", uint64_t{e.stdout_bytes()}, out);
  Field("stderr_bytes", uint64_t{e.stderr_bytes()}, out);
  Field("stdout", e.stdout(), out);
  Field("stderr", e.stderr(), out);
  Field("max_rss_kb", uint64_t{e.max_rss_kb()}, out);
  if (e.has_exit_code()) {
    Key("exit_code", out);
    if (e.exit_code() < 0) out->push_back('-');
    AppendUint(static_cast<uint64_t>(e.exit_code() < 0 ? -static_cast<int64_t>(e.exit_code()) : e.exit_code()), out);
  }
  out->push_back('}');
}

bool IsUrl(const pb::Result& r) { return r.kind() == "url"; }

}  // namespace

double RecordMs(double ms) {
  if (!std::isfinite(ms) || std::fabs(ms) >= 1e12) return ms;
  return std::round(ms * 1000) / 1000;
}

void NormalizeRecord(pb::Result* r) {
  r->set_duration_ms(RecordMs(r->duration_ms()));
  if (r->has_start_ms()) r->set_start_ms(RecordMs(r->start_ms()));
  r->set_cpu_user_ms(RecordMs(r->cpu_user_ms()));
  r->set_cpu_sys_ms(RecordMs(r->cpu_sys_ms()));
  r->set_cpu_wait_ms(RecordMs(r->cpu_wait_ms()));
  r->set_worker_max_rss_kb(r->worker_max_rss_kb());
  if (IsUrl(*r) || r->has_timings()) {
    pb::UrlTimings* t = r->mutable_timings();
    t->set_namelookup_ms(RecordMs(t->namelookup_ms()));
    t->set_connect_ms(RecordMs(t->connect_ms()));
    t->set_tls_ms(RecordMs(t->tls_ms()));
    t->set_first_byte_ms(RecordMs(t->first_byte_ms()));
    t->set_total_ms(RecordMs(t->total_ms()));
  }
  if (IsUrl(*r)) {
    r->set_http_status(r->http_status());
    r->set_bytes(r->bytes());
  }
}

std::string ResultJsonByProtobuf(const pb::Result& result) {
  pb::Result r = result;
  NormalizeRecord(&r);
  google::protobuf::util::JsonPrintOptions opts;
  opts.preserve_proto_field_names = true;
  opts.always_print_primitive_fields = true;
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(r, &json, opts);
  return json;
}

void AppendResultJson(const pb::Result& r, std::string* out) {
  if (!FastPathFits(r)) {
    out->append(ResultJsonByProtobuf(r));
    return;
  }
  bool url = IsUrl(r);
  // Fields without presence, always printed.
  out->append("{\"id\":");
  AppendUint(r.id(), out);
  Field("kind", r.kind(), out);
  Field("ok", r.ok(), out);
  Field("worker", r.worker(), out);
  Field("attempts", uint64_t{r.attempts()}, out);
  Field("duration_ms", Ms{r.duration_ms()}, out);
  Key("failures", out);
  out->push_back('[');
  for (int i = 0; i < r.failures_size(); ++i) {
    if (i > 0) out->push_back(',');
    AppendString(r.failures(i), out);
  }
  out->push_back(']');
  if (r.has_timings() || url) {
    Key("timings", out);
    AppendTimings(r.timings(), out);
  }
  if (r.has_exec()) {
    Key("exec", out);
    AppendExec(r.exec(), out);
  }
  // proto3 `optional` fields, only when set; present whatever was set for
  // the fields NormalizeRecord sets.
  auto optional = [out](bool has, const char* name, const auto& value) {
    if (has) Field(name, value, out);
  };
  constexpr bool kAlways = true;
  optional(r.has_error(), "error", r.error());
  optional(r.has_error_code(), "error_code", r.error_code());
  optional(r.has_url(), "url", r.url());
  optional(r.has_http_status() || url, "http_status", uint64_t{r.http_status()});
  optional(r.has_bytes() || url, "bytes", uint64_t{r.bytes()});
  optional(r.has_result(), "result", uint64_t{r.result()});
  optional(r.has_host(), "host", r.host());
  optional(r.has_start_ms(), "start_ms", Ms{r.start_ms()});
  optional(kAlways, "cpu_user_ms", Ms{r.cpu_user_ms()});
  optional(kAlways, "cpu_sys_ms", Ms{r.cpu_sys_ms()});
  optional(kAlways, "worker_max_rss_kb", uint64_t{r.worker_max_rss_kb()});
  optional(r.has_task(), "task", r.task());
  optional(kAlways, "cpu_wait_ms", Ms{r.cpu_wait_ms()});
  optional(r.has_sha256(), "sha256", r.sha256());
  optional(r.has_wire_bytes(), "wire_bytes", uint64_t{r.wire_bytes()});
  optional(r.has_saved_as(), "saved_as", r.saved_as());
  out->push_back('}');
}

}  // namespace taskfarm
