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
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      default:
        out->append("\\u00");
        out->push_back(kHex[c >> 4]);
        out->push_back(kHex[c & 0xf]);
    }
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

void AppendTimings(const pb::UrlTimings& t, std::string* out) {
  out->append("{\"namelookup_ms\":");
  AppendMs(t.namelookup_ms(), out);
  Key("connect_ms", out);
  AppendMs(t.connect_ms(), out);
  Key("tls_ms", out);
  AppendMs(t.tls_ms(), out);
  Key("first_byte_ms", out);
  AppendMs(t.first_byte_ms(), out);
  Key("total_ms", out);
  AppendMs(t.total_ms(), out);
  Key("new_connections", out);
  AppendUint(t.new_connections(), out);
  out->push_back('}');
}

// protobuf's order: the fields without presence, then the proto3 optional
// ones (exit_code).
void AppendExec(const pb::ExecResult& e, std::string* out) {
  out->append("{\"signal\":");
  AppendString(e.signal(), out);
  Key("timed_out", out);
  out->append(e.timed_out() ? "true" : "false");
  Key("stdout_bytes", out);
  AppendUint(e.stdout_bytes(), out);
  Key("stderr_bytes", out);
  AppendUint(e.stderr_bytes(), out);
  Key("stdout", out);
  AppendString(e.stdout(), out);
  Key("stderr", out);
  AppendString(e.stderr(), out);
  Key("max_rss_kb", out);
  AppendUint(e.max_rss_kb(), out);
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
  Key("kind", out);
  AppendString(r.kind(), out);
  Key("ok", out);
  out->append(r.ok() ? "true" : "false");
  Key("worker", out);
  AppendString(r.worker(), out);
  Key("attempts", out);
  AppendUint(r.attempts(), out);
  Key("duration_ms", out);
  AppendMs(r.duration_ms(), out);
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
  // proto3 `optional` fields, only when set.
  auto string_field = [&](bool has, const char* name, const std::string& value) {
    if (!has) return;
    Key(name, out);
    AppendString(value, out);
  };
  auto uint_field = [&](bool has, const char* name, uint64_t value) {
    if (!has) return;
    Key(name, out);
    AppendUint(value, out);
  };
  auto ms_field = [&](bool has, const char* name, double value) {
    if (!has) return;
    Key(name, out);
    AppendMs(value, out);
  };
  // Present whatever was set: see NormalizeRecord.
  constexpr bool kAlways = true;
  string_field(r.has_error(), "error", r.error());
  string_field(r.has_error_code(), "error_code", r.error_code());
  string_field(r.has_url(), "url", r.url());
  uint_field(r.has_http_status() || url, "http_status", r.http_status());
  uint_field(r.has_bytes() || url, "bytes", r.bytes());
  uint_field(r.has_result(), "result", r.result());
  string_field(r.has_host(), "host", r.host());
  ms_field(r.has_start_ms(), "start_ms", r.start_ms());
  ms_field(kAlways, "cpu_user_ms", r.cpu_user_ms());
  ms_field(kAlways, "cpu_sys_ms", r.cpu_sys_ms());
  uint_field(kAlways, "worker_max_rss_kb", r.worker_max_rss_kb());
  string_field(r.has_task(), "task", r.task());
  ms_field(kAlways, "cpu_wait_ms", r.cpu_wait_ms());
  string_field(r.has_sha256(), "sha256", r.sha256());
  uint_field(r.has_wire_bytes(), "wire_bytes", r.wire_bytes());
  string_field(r.has_saved_as(), "saved_as", r.saved_as());
  out->push_back('}');
}

}  // namespace taskfarm
