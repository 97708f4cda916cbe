// `url [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE] [--expect
// CODES] URL`: an HTTP request on the worker's libcurl multi handle, written
// the way curl spells it and split into words as a shell would (quotes
// removed, nothing expanded). Everything the line says is checked here, at
// parse time; a -d @FILE is read here too, on the coordinator, and its bytes
// travel with the task. A URL that is not http:// or https:// with a host
// is a bad line; anything else wrong with it (what libcurl refuses) becomes
// a failed task. The worker checks the scheme again, and after every
// redirect.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/cli_help.h"
#include "common/http_syntax.h"
#include "common/quote.h"
#include "common/shell_words.h"
#include "common/task_kind.h"
#include "common/task_parser.h"
#include "common/unique_fd.h"
#include "common/utf8.h"

namespace taskfarm {

Status HttpUrlWanted(std::string_view url) {
  size_t host = StartsWithIgnoringCase(url, "http://") ? 7 : StartsWithIgnoringCase(url, "https://") ? 8 : 0;
  if (host == 0) return InvalidArgument("an http:// or https:// URL");
  if (host == url.size() || url[host] == '/' || url[host] == '?' || url[host] == '#') {
    return InvalidArgument("an http:// or https:// URL with a host");
  }
  // A quoted word may hold a space; any line may hold a control byte. libcurl
  // would refuse the one and cut the URL short at a NUL: another URL.
  for (char c : url) {
    if (static_cast<unsigned char>(c) <= ' ' || c == '\x7f') {
      return InvalidArgument("an http:// or https:// URL without spaces or control characters (a space is %20)");
    }
  }
  // A task travels in a protobuf string, which must be UTF-8.
  if (!IsValidUtf8(url)) return InvalidArgument("an http:// or https:// URL in UTF-8 (other bytes are written %XX)");
  return Status::Ok();
}

void ApplyUrlDefaults(const ParseOptions& options, pb::UrlTask* task) {
  if (!options.url_defaults) return;
  const pb::UrlTask& run = *options.url_defaults;
  if (task->method().empty()) task->set_method(run.method());
  if (run.headers_size() > 0) {
    google::protobuf::RepeatedPtrField<std::string> own;
    own.Swap(task->mutable_headers());
    *task->mutable_headers() = run.headers();
    for (std::string& header : own) task->add_headers(std::move(header));
  }
  if (task->expect().empty()) *task->mutable_expect() = run.expect();
  task->set_save_dir(run.save_dir());
  task->set_compressed(run.compressed());
}

namespace {

// A -d @FILE body travels in its task's frame, next to the task line.
static_assert(kMaxBodyFileBytes == kMaxTaskLineBytes, "the sentences below say 1 MiB");

// -d @FILE: the file's bytes, read when the line is checked, from the
// coordinator's working directory (as curl's). Only a regular file: a FIFO
// or a device would make the check wait, or never end.
StatusOr<std::string> ReadBodyFile(const std::string& path) {
  std::string file = "the body file " + Quote(path);
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK));
  if (!fd) return InvalidArgument(file + " cannot be opened: " + std::strerror(errno));
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return InvalidArgument(file + " cannot be read: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) return InvalidArgument(file + " is not a regular file");
  auto too_big = [&](uint64_t bytes) {
    return InvalidArgument(file + " is " + WithThousands(bytes) + " bytes; the limit is 1 MiB (" +
                           WithThousands(kMaxBodyFileBytes) + " bytes)");
  };
  if (static_cast<uint64_t>(st.st_size) > kMaxBodyFileBytes) return too_big(static_cast<uint64_t>(st.st_size));
  // Read to its end, whatever fstat said: the file may be growing. Sized
  // from fstat (plus one, to see growth) and trimmed after: the task keeps
  // this string's capacity for as long as it is in memory.
  std::string body;
  body.resize(std::min<uint64_t>(static_cast<uint64_t>(st.st_size), kMaxBodyFileBytes) + 1);
  size_t got = 0;
  while (got < body.size()) {
    ssize_t n = ::read(fd.get(), body.data() + got, body.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return InvalidArgument(file + " cannot be read: " + std::strerror(errno));
    if (n == 0) break;
    got += static_cast<size_t>(n);
    if (got == body.size() && got <= kMaxBodyFileBytes) body.resize(std::min(2 * got, kMaxBodyFileBytes + 1));
  }
  if (got > kMaxBodyFileBytes) return too_big(got);
  body.resize(got);
  body.shrink_to_fit();
  return body;
}

// The line's options: curl's names, each with the word it takes.
struct Option {
  std::string_view short_name;  // "" : none
  std::string_view long_name;
  std::string_view example;  // the option as it is written, for "needs" errors
};
constexpr Option kMethod{"-X", "--request", "-X POST"};
constexpr Option kHeader{"-H", "--header", "-H 'Name: value'"};
constexpr Option kData{"-d", "--data", "-d 'DATA' or -d @FILE"};
constexpr Option kExpect{"", "--expect", "--expect 200,204"};
constexpr const Option* kOptions[] = {&kMethod, &kHeader, &kData, &kExpect};

// "unknown option '--heder' (did you mean '--header'?)"
Status UnknownOption(const std::string& word) {
  static const std::vector<std::string> names = {"-X", "--request", "-H", "--header", "-d", "--data", "--expect"};
  // curl's --data-binary is what -d does here (the bytes as they are), and
  // --data-raw is -d without @FILE: too far from --data for NearestOf.
  std::string nearest = word == "--data-binary" || word == "--data-raw" ? "--data" : NearestOf(word, names);
  return InvalidArgument("'url': unknown option " + Quote(word) +
                         (nearest.empty()
                              ? " (the options are -X METHOD, -H 'Name: value', -d DATA, -d @FILE and --expect CODES)"
                              : " (did you mean " + Quote(nearest) + "?)"));
}

Status Twice(const Option& o, std::string_view why) {
  return InvalidArgument("'url': " + std::string(o.short_name.empty() ? o.long_name : o.short_name) +
                         " is given twice; " + std::string(why));
}

// Fills `task` with what the line says; OK, or InvalidArgument saying what is wrong.
Status ParseWords(std::vector<std::string>& words, pb::UrlTask* task) {
  bool has_url = false, has_expect = false;
  for (size_t i = 0; i < words.size(); ++i) {
    std::string& word = words[i];
    if (word.size() < 2 || word[0] != '-') {
      if (has_url)
        return InvalidArgument("'url' takes one URL, not two: " + Quote(task->url()) + " and " + Quote(word));
      if (Status wanted = HttpUrlWanted(word); !wanted.ok()) {
        // `-H Accept: text/html`: the header's value came apart from its name.
        bool split_header = i >= 2 && (words[i - 2] == "-H" || words[i - 2] == "--header") &&
                            task->headers(task->headers_size() - 1).ends_with(':');
        return InvalidArgument("'url' takes " + wanted.message() + ": " + Quote(word) +
                               (split_header ? " (a header with a space in it is quoted: -H 'Name: value')" : ""));
      }
      task->set_url(std::move(word));
      has_url = true;
      continue;
    }
    // -X POST, --request POST, or curl's -XPOST.
    const Option* option = nullptr;
    std::string value;
    for (const Option* o : kOptions) {
      if (word == o->short_name || word == o->long_name) {
        if (i + 1 == words.size()) {
          return InvalidArgument("'url': " + word + " needs a value: " + std::string(o->example));
        }
        option = o;
        value = std::move(words[++i]);
        break;
      }
      if (!o->short_name.empty() && word.starts_with(o->short_name)) {
        option = o;
        value = word.substr(2);
        break;
      }
    }
    if (!option) return UnknownOption(word);
    if (option == &kMethod) {
      if (!task->method().empty()) return Twice(kMethod, "a request has one method");
      if (Status s = MethodProblem(value); !s.ok()) return InvalidArgument("'url': -X: " + s.message());
      task->set_method(std::move(value));
    } else if (option == &kHeader) {
      if (Status s = HeaderProblem(value); !s.ok()) return InvalidArgument("'url': -H: " + s.message());
      task->add_headers(std::move(value));
    } else if (option == &kData) {
      if (task->has_body()) return Twice(kData, "a request has one body (curl would join the two with '&')");
      if (value.starts_with('@')) {
        std::string path = value.substr(1);
        if (path.empty()) return InvalidArgument("'url': -d @ needs a file name: -d @body.json");
        // The line is echoed in every record's `task`, a protobuf string.
        if (!IsValidUtf8(path)) {
          return InvalidArgument("'url': -d @FILE: the file's name must be UTF-8 text: " + Quote(path));
        }
        if (path == "-") {
          return InvalidArgument(
              "'url': -d @- (standard input) is not supported: standard input may be the task list "
              "itself; name a file: -d @body.json");
        }
        StatusOr<std::string> body = ReadBodyFile(path);
        if (!body.ok()) return InvalidArgument("'url': " + body.status().message());
        task->set_body(std::move(*body));
        task->set_body_file(std::move(path));
      } else {
        if (!IsValidUtf8(value)) {
          return InvalidArgument(
              "'url': -d: the data on the line must be UTF-8 text (other bytes are sent from a file: -d @FILE)");
        }
        task->set_body(std::move(value));
      }
    } else {
      if (has_expect) return Twice(kExpect, "list the codes once: --expect 200,204");
      std::vector<uint32_t> codes;
      if (Status s = ParseStatusCodes(value, &codes); !s.ok())
        return InvalidArgument("'url': --expect: " + s.message());
      for (uint32_t code : codes) task->add_expect(code);
      has_expect = true;
    }
  }
  if (!has_url) {
    return InvalidArgument(
        "'url' takes one URL: url [-X METHOD] [-H 'Name: value']... [-d DATA | -d @FILE] [--expect CODES] URL");
  }
  return Status::Ok();
}

Status Parse(std::string_view args, const ParseOptions& options, pb::TaskSpec* spec) {
  ShellSplit split = SplitShellWords(args);
  if (!split.error.empty()) {
    return InvalidArgument("'url': " + split.error +
                           "; the line is read as shell words, so a ' in a URL is written %27");
  }
  pb::UrlTask* task = spec->mutable_url();
  if (Status s = ParseWords(split.words, task); !s.ok()) return s;
  ApplyUrlDefaults(options, task);
  // With the run's --method folded in: the worker would refuse it anyway.
  if (task->method() == "HEAD" && task->has_body()) {
    return InvalidArgument("'url': a HEAD request has no body: drop -d, or use -X POST");
  }
  return Status::Ok();
}

// A word SplitShellWords reads back as `url`: the URL as it is, unless it
// holds a quote or a backslash (it has no blank, and starts with http), so
// that `url URL` prints as written.
std::string UrlWord(const std::string& url) {
  return url.find_first_of("'\"\\") == std::string::npos ? url : ShellQuote(url);
}

std::string Print(const pb::TaskSpec& spec) {
  const pb::UrlTask& task = spec.url();
  std::string line = "url";
  if (!task.method().empty()) line += " -X " + ShellQuote(task.method());
  for (const std::string& header : task.headers()) line += " -H " + ShellQuote(header);
  if (!task.body_file().empty()) {
    line += " -d " + ShellQuote("@" + task.body_file());
  } else if (task.has_body()) {
    line += " -d " + ShellQuote(task.body());
  }
  for (int i = 0; i < task.expect_size(); ++i) {
    line += (i == 0 ? " --expect " : ",") + std::to_string(task.expect(i));
  }
  return line + " " + UrlWord(task.url());
}

std::string Describe(const pb::Result& r, const std::string& who) {
  return Format("Read %llu from %s (", static_cast<unsigned long long>(r.bytes()), r.url().c_str()) + who + ")";
}

bool HasOwnFields(const pb::Result& r) {
  return r.has_url() || r.has_http_status() || r.has_bytes() || r.has_timings() || r.has_sha256() ||
         r.has_wire_bytes() || r.has_saved_as();
}

Status Check(const pb::TaskSpec&, const pb::Result& r) {
  if (r.has_timings()) {
    const pb::UrlTimings& t = r.timings();
    for (auto [name, value] : {std::pair{"timings.namelookup_ms", t.namelookup_ms()},
                               {"timings.connect_ms", t.connect_ms()},
                               {"timings.tls_ms", t.tls_ms()},
                               {"timings.first_byte_ms", t.first_byte_ms()},
                               {"timings.total_ms", t.total_ms()}}) {
      if (Status s = CheckReportedMs(name, value); !s.ok()) return s;
    }
  }
  if (r.http_status() > 999) return InvalidArgument("http_status is over 999");
  if (r.has_sha256()) {
    const std::string& hex = r.sha256();
    bool digits =
        std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
    if (hex.size() != 64 || !digits) return InvalidArgument("sha256 is not 64 lower-case hex digits");
  }
  // A whole body is no larger on the wire than decoded, but for a
  // compression header and an incompressible body's framing (a cut one may
  // be: the decoder holds back what it has not decoded yet).
  if (r.ok() && r.wire_bytes() > 2 * uint64_t{r.bytes()} + 1024)
    return InvalidArgument("wire_bytes is over twice bytes");
  if (r.has_saved_as() && (r.saved_as().empty() || !r.ok())) {
    return InvalidArgument("saved_as is set but no file was saved");
  }
  return Status::Ok();
}

// For --help, under the kind's line.
constexpr std::string_view kOptionsHelp =
    "-X, --request METHOD  the method (default: GET; POST with -d)\n"
    "-H, --header 'N: v'   a header, sent as written (repeatable)\n"
    "-d, --data DATA       the body; -d @FILE: the file's bytes, unchanged (curl's\n"
    "                      --data-binary), read by the coordinator; at most 1 MiB\n"
    "--expect CODE[,CODE]  the statuses that succeed (default: any below 400)\n";

}  // namespace

extern const TaskKind kUrlKind{
    .name = "url",
    .resource = Resource::kIo,
    .text = {"url [OPTIONS] URL", "url -H 'Accept: text/html' http://127.0.0.1:8080/page/1",
             "an HTTP(S) request: status, bytes, libcurl's timings", "#3b82f6", kOptionsHelp},
    .code = {Parse, Print, Describe, HasOwnFields, Check},
};

}  // namespace taskfarm
