// The worker's HttpFetcher against the real loopback test server, plain and
// HTTPS, in this process: handles reused, methods, headers and bodies as
// the server's /echo saw them, --expect, the body's SHA-256, saved downloads (renamed when whole,
// nothing left when not, a full disk), flat memory for a 2 GB body, and
// certificates: trusted by default only through the system's CAs, --cacert
// adding one, --insecure-tls, and the sentences of each failure.
#include "worker/http_fetcher.h"

#include <curl/curl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>

#include "tests/support/farm_test_util.h"
#include "tests/support/sha256_hex.h"
#include "testserver/test_ca.h"

namespace taskfarm {
namespace {

namespace fs = std::filesystem;
using testing::ScratchDir;
using testserver::HttpTestServer;

pb::UrlTask Task(const std::string& url) {
  pb::UrlTask task;
  task.set_url(url);
  return task;
}

// Runs the fetcher until nothing is active (at most a minute) and returns
// what finished, in the order it finished.
std::vector<FetchResult> RunToEnd(HttpFetcher& fetcher) {
  std::vector<FetchResult> done;
  fetcher.Perform(&done);
  auto until = std::chrono::steady_clock::now() + std::chrono::minutes(1);
  while (fetcher.active() > 0 && std::chrono::steady_clock::now() < until) {
    fetcher.Poll(nullptr, 0, 100);
    fetcher.Perform(&done);
  }
  EXPECT_EQ(fetcher.active(), 0u) << "transfers still running after a minute";
  return done;
}

FetchResult FetchOne(HttpFetcher& fetcher, const pb::UrlTask& task, uint32_t timeout_ms = 0, uint32_t task_id = 0) {
  fetcher.Start(1, task, timeout_ms, task_id);
  std::vector<FetchResult> done = RunToEnd(fetcher);
  if (done.size() != 1) {
    ADD_FAILURE() << done.size() << " results for one transfer";
    return {};
  }
  return done[0];
}

size_t Append(char* data, size_t size, size_t n, void* user) {
  static_cast<std::string*>(user)->append(data, size * n);
  return size * n;
}

// The body as plain libcurl gets it (no fetcher involved).
std::string RawGet(const std::string& url) {
  std::string body;
  CURL* e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Append);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &body);
  EXPECT_EQ(curl_easy_perform(e), CURLE_OK) << url;
  curl_easy_cleanup(e);
  return body;
}

// Every name in `dir`, hidden ones included, sorted.
std::vector<std::string> Names(const std::string& dir) {
  std::vector<std::string> names;
  if (!fs::exists(dir)) return names;
  for (const auto& entry : fs::directory_iterator(dir)) names.push_back(entry.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

FetchOptions MaxBody(uint64_t bytes) {
  FetchOptions o;
  o.max_body_bytes = bytes;
  return o;
}

FetchOptions Trusting(const std::string& ca_file, const std::string& system_ca_dir = "",
                      const std::string& system_ca_bundle = "") {
  FetchOptions o;
  o.ca_file = ca_file;
  o.system_ca_dir = system_ca_dir;
  o.system_ca_bundle = system_ca_bundle;
  return o;
}

FetchOptions Insecure() {
  FetchOptions o;
  o.insecure_tls = true;
  return o;
}

testserver::Options Serving(const testserver::TestCa& ca) {
  testserver::Options o;
  o.tls_cert_file = ca.cert_file;
  o.tls_key_file = ca.key_file;
  return o;
}

class HttpFetcherTest : public testing::LoopbackServerTest {};

TEST_F(HttpFetcherTest, AFinishedTransfersHandleIsReusedNotRemade) {
  HttpFetcher fetcher({});
  for (int i = 0; i < 5; ++i) EXPECT_EQ(FetchOne(fetcher, Task(Url("/json"))).code, Code::kOk);
  EXPECT_EQ(fetcher.handles_made(), 1u) << "five transfers one after the other need one handle";
  for (uint64_t token = 0; token < 3; ++token) fetcher.Start(token, Task(Url("/json?delay=50")), 0, 0);
  EXPECT_EQ(RunToEnd(fetcher).size(), 3u);
  EXPECT_EQ(fetcher.handles_made(), 3u) << "three at once: the idle one and two more";
  for (int i = 0; i < 4; ++i) EXPECT_EQ(FetchOne(fetcher, Task(Url("/json"))).code, Code::kOk);
  fetcher.Start(9, Task(Url("/drip?bytes=100")), 0, 0);
  fetcher.Cancel(9);
  EXPECT_EQ(RunToEnd(fetcher).size(), 0u);
  EXPECT_EQ(fetcher.handles_made(), 3u) << "nothing new after that, a cancelled transfer's handle included";
}

// The value of the first header `name` (case-insensitive) in an echo, or
// nullopt.
std::optional<std::string> Header(const nlohmann::json& echo, std::string name) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  for (const auto& pair : echo["headers"]) {
    if (lower(pair[0].get<std::string>()) == lower(name)) return pair[1].get<std::string>();
  }
  return std::nullopt;
}

TEST_F(HttpFetcherTest, MethodHeadersAndBodyReachTheServerAsSent) {
  HttpFetcher fetcher({});
  ScratchDir saved;
  auto echo = [&](pb::UrlTask task) {
    task.set_save_dir(saved.path());
    task.set_save_name("echo");
    FetchResult r = FetchOne(fetcher, task);
    EXPECT_EQ(r.code, Code::kOk) << r.error;
    return nlohmann::json::parse(testing::ReadText(saved.File("echo")));
  };
  pb::UrlTask post = Task(Url("/echo"));
  post.set_method("POST");
  post.add_headers("Content-Type: application/json");
  post.add_headers("X-Trace: 1");
  post.set_body(std::string("{\"a\":1}\0binary", 14));
  nlohmann::json seen = echo(post);
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(seen["body_bytes"], 14);
  EXPECT_EQ(seen["body_sha256"], testing::Sha256Hex(post.body()));
  EXPECT_EQ(Header(seen, "Content-Type"), "application/json");
  EXPECT_EQ(Header(seen, "X-Trace"), "1");
  EXPECT_EQ(Header(seen, "User-Agent"), "taskfarm/0.1");
  EXPECT_EQ(Header(seen, "Accept-Encoding"), std::nullopt) << "not asked for: not sent";

  // -d alone: a POST, form-encoded, as curl's.
  pb::UrlTask form = Task(Url("/echo"));
  form.set_body("a=1&b=2");
  seen = echo(form);
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(Header(seen, "Content-Type"), "application/x-www-form-urlencoded");
  // A body past libcurl's Expect: 100-continue threshold arrives whole too.
  form.set_body(std::string(2 << 20, 'x'));
  seen = echo(form);
  EXPECT_EQ(seen["body_bytes"], 2 << 20);
  EXPECT_EQ(seen["body_sha256"], testing::Sha256Hex(form.body()));
  // Another method with a body; one without.
  pb::UrlTask put = Task(Url("/echo"));
  put.set_method("PUT");
  put.set_body("new");
  seen = echo(put);
  EXPECT_EQ(seen["method"], "PUT");
  EXPECT_EQ(seen["body_sha256"], testing::Sha256Hex("new"));
  pb::UrlTask del = Task(Url("/echo"));
  del.set_method("DELETE");
  seen = echo(del);
  EXPECT_EQ(seen["method"], "DELETE");
  EXPECT_EQ(seen["body_bytes"], 0);
  pb::UrlTask empty_post = Task(Url("/echo"));
  empty_post.set_method("POST");
  seen = echo(empty_post);
  EXPECT_EQ(seen["method"], "POST");
  EXPECT_EQ(Header(seen, "Content-Length"), "0");
  // A header of the user's replaces libcurl's own.
  pb::UrlTask agent = Task(Url("/echo"));
  agent.add_headers("User-Agent: probe/2");
  agent.set_compressed(true);
  seen = echo(agent);
  EXPECT_EQ(seen["method"], "GET");
  EXPECT_EQ(Header(seen, "User-Agent"), "probe/2");
  std::string accepted = Header(seen, "Accept-Encoding").value_or("");
  for (const char* coding : {"gzip", "deflate", "br", "zstd"}) {
    EXPECT_NE(accepted.find(coding), std::string::npos) << coding << " missing from " << accepted;
  }
}

TEST_F(HttpFetcherTest, TheDigestIsOpenSslsOfTheServedPage) {
  HttpFetcher fetcher({});
  std::string page = RawGet(Url("/page/1"));
  ASSERT_EQ(page.size(), testserver::kTutorialPageSizes[0]);
  FetchResult r = FetchOne(fetcher, Task(Url("/page/1")));
  EXPECT_EQ(r.code, Code::kOk) << r.error;
  EXPECT_EQ(r.sha256, testing::Sha256Hex(page));
  EXPECT_EQ(r.bytes, page.size());
  EXPECT_EQ(r.wire_bytes, page.size()) << "nothing compressed: as many bytes on the wire";
  // A chunked body is digested as its bytes, not its chunks.
  FetchResult chunked = FetchOne(fetcher, Task(Url("/bytes/200000?chunked=1")));
  EXPECT_EQ(chunked.sha256, testing::Sha256Hex(RawGet(Url("/bytes/200000"))));
  EXPECT_EQ(chunked.wire_bytes, 200000u) << "the body's bytes, not the chunk framing";
  // An error status still has a whole body, and its digest.
  FetchResult missing = FetchOne(fetcher, Task(Url("/status/404")));
  EXPECT_EQ(missing.code, Code::kHttpError);
  EXPECT_EQ(missing.sha256, testing::Sha256Hex(RawGet(Url("/status/404"))));
  // A body cut short has none.
  FetchResult cut = FetchOne(fetcher, Task(Url("/drip?bytes=50&interval_ms=20")), 200);
  EXPECT_EQ(cut.code, Code::kDeadlineExceeded);
  EXPECT_EQ(cut.sha256, "");
}

TEST_F(HttpFetcherTest, ExpectListsTheStatusesThatSucceed) {
  HttpFetcher fetcher({});
  pb::UrlTask created = Task(Url("/status/201"));
  EXPECT_EQ(FetchOne(fetcher, created).code, Code::kOk) << "no list: below 400 succeeds";
  created.add_expect(200);
  FetchResult r = FetchOne(fetcher, created);
  EXPECT_EQ(r.code, Code::kHttpError);
  EXPECT_EQ(r.http_status, 201);
  EXPECT_EQ(r.error, "GET " + Url("/status/201") + " answered HTTP 201, expected 200");
  EXPECT_FALSE(r.retryable) << "a 201 will not turn into a 200";
  created.add_expect(204);
  EXPECT_EQ(FetchOne(fetcher, created).error, "GET " + Url("/status/201") + " answered HTTP 201, expected 200 or 204");
  created.add_expect(201);
  EXPECT_EQ(FetchOne(fetcher, created).code, Code::kOk);

  pb::UrlTask missing = Task(Url("/status/404"));
  missing.add_expect(404);
  EXPECT_EQ(FetchOne(fetcher, missing).code, Code::kOk) << "a listed 404 succeeds";
  pb::UrlTask busy = Task(Url("/status/503"));
  busy.add_expect(200);
  FetchResult unavailable = FetchOne(fetcher, busy);
  EXPECT_EQ(unavailable.code, Code::kHttpError);
  EXPECT_TRUE(unavailable.retryable) << "a 503 may pass on another attempt, expected list or not";
}

TEST_F(HttpFetcherTest, SentencesStartWithTheMethodSent) {
  HttpFetcher fetcher({});
  int closed = testing::FreePort();
  std::string url = "http://127.0.0.1:" + std::to_string(closed) + "/";
  pb::UrlTask post = Task(url);
  post.set_body("a=1");
  FetchResult r = FetchOne(fetcher, post);
  EXPECT_EQ(r.error.rfind("POST " + url + " failed: connection refused or unreachable (", 0), 0u) << r.error;
  EXPECT_TRUE(r.retryable);
  pb::UrlTask put = Task(Url("/status/500"));
  put.set_method("PUT");
  EXPECT_EQ(FetchOne(fetcher, put).error, "PUT " + Url("/status/500") + " answered HTTP 500");
  pb::UrlTask head = Task(Url("/json"));
  head.set_method("HEAD");
  FetchResult h = FetchOne(fetcher, head);
  EXPECT_EQ(h.code, Code::kOk) << h.error;
  EXPECT_EQ(h.bytes, 0u) << "HEAD has no body";
  head.set_body("x");
  FetchResult refused = FetchOne(fetcher, head);
  EXPECT_EQ(refused.code, Code::kInvalidArgument);
  EXPECT_EQ(refused.error, "HEAD " + Url("/json") + " failed: a HEAD request has no body to send");
  pb::UrlTask smuggled = Task(Url("/json"));
  smuggled.add_headers("X-A: 1\r\n\r\nGET /status/500 HTTP/1.1");
  FetchResult split = FetchOne(fetcher, smuggled);
  EXPECT_EQ(split.code, Code::kInvalidArgument);
  EXPECT_EQ(split.error, "GET " + Url("/json") +
                             " failed: a header cannot hold a line break or a NUL byte: "
                             "'X-A: 1\r\n\r\nGET /status/500 HTTP/1.1'");
  // A length of its own would leave the rest of the body to be read as the
  // next request on the connection.
  pb::UrlTask framed = Task(Url("/echo"));
  framed.set_body("okGET /status/500 HTTP/1.1\r\n\r\n");
  framed.add_headers("content-length: 2");
  FetchResult short_length = FetchOne(fetcher, framed);
  EXPECT_EQ(short_length.code, Code::kInvalidArgument);
  EXPECT_NE(short_length.error.find("'content-length' is set from the body (-d), not by a header"), std::string::npos)
      << short_length.error;
  pb::UrlTask spaced = Task(Url("/json"));
  spaced.set_method("GET /x HTTP/1.0\r\n");
  EXPECT_EQ(FetchOne(fetcher, spaced).code, Code::kInvalidArgument);
}

TEST_F(HttpFetcherTest, SaveWritesEachBodyUnderItsNameAndNothingElse) {
  HttpFetcher fetcher({});
  std::string dir = dir_.File("made/on/demand");
  pb::UrlTask task = Task(Url("/page/2"));
  task.set_save_dir(dir);
  FetchResult r = FetchOne(fetcher, task, 0, 7);
  ASSERT_EQ(r.code, Code::kOk) << r.error;
  EXPECT_EQ(r.saved_as, dir + "/7") << "named by the task id";
  std::string page = RawGet(Url("/page/2"));
  EXPECT_EQ(testing::ReadText(dir + "/7"), page);
  EXPECT_EQ(r.sha256, testing::Sha256Hex(page));
  task.set_save_name("page2.html");
  EXPECT_EQ(FetchOne(fetcher, task, 0, 8).saved_as, dir + "/page2.html");
  EXPECT_EQ(testing::ReadText(dir + "/page2.html"), page);
  // Again under the same name: replaced, whole.
  task.set_url(Url("/page/3"));
  EXPECT_EQ(FetchOne(fetcher, task, 0, 9).code, Code::kOk);
  EXPECT_EQ(testing::ReadText(dir + "/page2.html"), RawGet(Url("/page/3")));
  EXPECT_EQ(Names(dir), (std::vector<std::string>{"7", "page2.html"})) << "no temporary file left";
  EXPECT_EQ(fs::status(dir + "/7").permissions() & fs::perms::others_read, fs::perms::others_read);
}

TEST_F(HttpFetcherTest, AFailedOrCancelledSaveLeavesNoFileAtAll) {
  HttpFetcher fetcher({});
  std::string dir = dir_.File("saved");
  pb::UrlTask error = Task(Url("/status/500"));
  error.set_save_dir(dir);
  FetchResult r = FetchOne(fetcher, error, 0, 1);
  EXPECT_EQ(r.code, Code::kHttpError);
  EXPECT_EQ(r.saved_as, "");
  pb::UrlTask slow = Task(Url("/drip?bytes=100&interval_ms=20"));
  slow.set_save_dir(dir);
  r = FetchOne(fetcher, slow, 300, 2);
  EXPECT_EQ(r.code, Code::kDeadlineExceeded) << r.error;
  EXPECT_EQ(Names(dir), std::vector<std::string>{}) << "neither a file under its name nor a temporary one";

  // Cancelled once bytes were on disk: the temporary file goes too.
  fetcher.Start(5, slow, 0, 3);
  std::vector<FetchResult> done;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (fs::file_size(dir + "/" + Names(dir).at(0)) == 0 && std::chrono::steady_clock::now() < until) {
    fetcher.Poll(nullptr, 0, 20);
    fetcher.Perform(&done);
  }
  ASSERT_EQ(Names(dir).size(), 1u);
  EXPECT_EQ(Names(dir)[0].rfind(".3.part.", 0), 0u) << Names(dir)[0] << ": hidden, beside its final name";
  fetcher.Cancel(5);
  EXPECT_EQ(Names(dir), std::vector<std::string>{});

  pb::UrlTask escape = Task(Url("/json"));
  escape.set_save_dir(dir);
  escape.set_save_name("../outside");
  r = FetchOne(fetcher, escape);
  EXPECT_EQ(r.code, Code::kInvalidArgument);
  EXPECT_EQ(r.error, "GET " + Url("/json") + " failed: --save: '../outside' is not a file name");
  pb::UrlTask blocked = Task(Url("/json"));
  blocked.set_save_dir(dir_.Write("a-file", "x") + "/sub");
  r = FetchOne(fetcher, blocked);
  EXPECT_EQ(r.code, Code::kUnavailable);
  EXPECT_EQ(r.error, "GET " + Url("/json") + " failed: cannot create --save directory '" + dir_.File("a-file") +
                         "/sub': Not a directory");
}

// A tmpfs of 1 MB, unmounted at the end: the full disk a 2 MB body meets.
class TinyDisk {
 public:
  explicit TinyDisk(const std::string& path) : path_(path) {
    fs::create_directories(path);
    mounted_ = mount("tmpfs", path.c_str(), "tmpfs", 0, "size=1m") == 0;
    error_ = errno;
  }
  ~TinyDisk() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  bool mounted() const { return mounted_; }
  int error() const { return error_; }

 private:
  std::string path_;
  bool mounted_ = false;
  int error_ = 0;
};

TEST_F(HttpFetcherTest, AFullDiskFailsTheTaskNamingTheFileAndStopsTheTransfer) {
  TinyDisk disk(dir_.File("tiny"));
  if (!disk.mounted()) {
    GTEST_SKIP() << "cannot mount a 1 MB tmpfs here (" << std::strerror(disk.error()) << "): needs root";
  }
  HttpFetcher fetcher({});
  pb::UrlTask task = Task(Url("/bytes/20000000"));
  task.set_save_dir(dir_.File("tiny"));
  FetchResult r = FetchOne(fetcher, task, 0, 4);
  EXPECT_EQ(r.code, Code::kUnavailable);
  EXPECT_EQ(r.error, "GET " + Url("/bytes/20000000") + " failed: cannot write " + dir_.File("tiny") +
                         "/4: No space left on device");
  EXPECT_TRUE(r.retryable) << "another worker's disk may have room";
  EXPECT_LT(r.bytes, 4'000'000u) << "the transfer stopped soon after the disk filled";
  EXPECT_EQ(Names(dir_.File("tiny")), std::vector<std::string>{});
}

long MaxRssKb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_maxrss;
}

TEST_F(HttpFetcherTest, MemoryStaysFlatForATwoGigabyteSavedBody) {
  constexpr uint64_t kSize = 2ULL << 30;
  if (fs::space(dir_.path()).available < kSize + (1ULL << 30)) GTEST_SKIP() << "needs 3 GB free in /tmp";
  HttpFetcher fetcher(MaxBody(3ULL << 30));
  pb::UrlTask task = Task(Url("/bytes/" + std::to_string(kSize)));
  task.set_save_dir(dir_.path());
  long before = MaxRssKb();
  FetchResult r = FetchOne(fetcher, task, 0, 2);
  long grown_kb = MaxRssKb() - before;
  ASSERT_EQ(r.code, Code::kOk) << r.error;
  EXPECT_EQ(r.bytes, kSize);
  EXPECT_EQ(fs::file_size(r.saved_as), kSize);
  EXPECT_LT(grown_kb, 50 * 1024) << "the peak grew " << grown_kb << " kB while a 2 GB body went to disk";
  fs::remove(r.saved_as);
}

// ---------------------------------------------------------------- HTTPS

class HttpsFetcherTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  testserver::TestCa ca_ = testserver::MakeTestCa(dir_.path());
  HttpTestServer server_{Serving(ca_)};
  std::string Url(const std::string& path) { return server_.BaseUrl() + path; }
  // A second CA, with its own server.
  std::string Other(const std::string& name) {
    fs::create_directories(dir_.File(name));
    return dir_.File(name);
  }
};

TEST_F(HttpsFetcherTest, TheGivenCaIsTrustedAndTheConnectionReused) {
  HttpFetcher fetcher(Trusting(ca_.ca_file));
  FetchResult first = FetchOne(fetcher, Task(Url("/page/1")));
  ASSERT_EQ(first.code, Code::kOk) << first.error;
  EXPECT_EQ(first.bytes, testserver::kTutorialPageSizes[0]);
  EXPECT_GT(first.timings.tls_ms(), first.timings.connect_ms()) << "a handshake after the connect";
  EXPECT_EQ(first.timings.new_connections(), 1u);
  FetchResult second = FetchOne(fetcher, Task(Url("/page/1")));
  ASSERT_EQ(second.code, Code::kOk) << second.error;
  EXPECT_EQ(second.timings.new_connections(), 0u);
  EXPECT_EQ(second.sha256, first.sha256);
}

TEST_F(HttpsFetcherTest, AnUntrustedCertificateIsAPermanentFailureThatSaysSo) {
  HttpFetcher fetcher({});
  FetchResult r = FetchOne(fetcher, Task(Url("/page/1")));
  EXPECT_EQ(r.code, Code::kInvalidArgument);
  EXPECT_FALSE(r.retryable);
  EXPECT_EQ(r.error, "GET " + Url("/page/1") +
                         " failed: the server's certificate is not trusted (SSL certificate problem: self-signed "
                         "certificate in certificate chain); give its CA with --cacert FILE");
  std::string other = testserver::MakeTestCa(Other("other")).ca_file;
  HttpFetcher wrong(Trusting(other));
  pb::UrlTask post = Task(Url("/json"));
  post.set_method("POST");
  EXPECT_EQ(FetchOne(wrong, post).error, "POST " + Url("/json") +
                                             " failed: the server's certificate is not trusted (SSL certificate "
                                             "problem: self-signed certificate in certificate chain); neither the "
                                             "system's CAs nor --cacert " +
                                             other + " signed it");
}

TEST_F(HttpsFetcherTest, ACertificateForAnotherNameIsNotTrustedEither) {
  testserver::TestCa elsewhere = testserver::MakeTestCa(Other("elsewhere"), {"example.invalid"});
  HttpTestServer server(Serving(elsewhere));
  HttpFetcher fetcher(Trusting(elsewhere.ca_file));
  FetchResult r = FetchOne(fetcher, Task(server.BaseUrl() + "/json"));
  EXPECT_FALSE(r.retryable);
  EXPECT_EQ(r.error.find("GET " + server.BaseUrl() +
                         "/json failed: the server's certificate is not for this host "
                         "name (SSL: "),
            0u)
      << r.error;
}

TEST_F(HttpsFetcherTest, InsecureTlsSkipsVerification) {
  HttpFetcher fetcher(Insecure());
  FetchResult r = FetchOne(fetcher, Task(Url("/json")));
  EXPECT_EQ(r.code, Code::kOk) << r.error;
  EXPECT_EQ(r.bytes, testserver::kJsonBodySize);
}

TEST_F(HttpsFetcherTest, ACaFileThatCannotBeReadIsSaidSo) {
  std::string missing = dir_.File("no-such-ca.pem");
  HttpFetcher fetcher(Trusting(missing));
  FetchResult r = FetchOne(fetcher, Task(Url("/json")));
  EXPECT_FALSE(r.retryable);
  EXPECT_EQ(r.error.find("GET " + Url("/json") + " failed: the CA file " + missing + " (--cacert) cannot be used ("),
            0u)
      << r.error;
}

// What "adds a CA" rests on: Debian's libcurl has a CA directory besides
// its bundle file, and --cacert (CURLOPT_CAINFO) replaces only the file.
TEST(CaPathTest, LibcurlsBuiltInCaDirectoryExists) {
  CURL* e = curl_easy_init();
  char* capath = nullptr;
  char* cainfo = nullptr;
  curl_easy_getinfo(e, CURLINFO_CAPATH, &capath);
  curl_easy_getinfo(e, CURLINFO_CAINFO, &cainfo);
  ASSERT_NE(capath, nullptr) << "this libcurl has no CA directory: --cacert would replace the system's CAs";
  EXPECT_TRUE(fs::is_directory(capath)) << capath;
  ASSERT_NE(cainfo, nullptr) << "this libcurl has no CA bundle: without --cacert nothing would be trusted";
  EXPECT_TRUE(fs::is_regular_file(cainfo)) << cainfo;
  curl_easy_cleanup(e);
}

// A directory of CAs as OpenSSL looks them up: HASH.0 per certificate.
void AddToCaDirectory(const std::string& ca_file, const std::string& dir) {
  std::FILE* f = std::fopen(ca_file.c_str(), "r");
  ASSERT_NE(f, nullptr);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  ASSERT_NE(cert, nullptr);
  char name[16];
  std::snprintf(name, sizeof(name), "%08lx.0", X509_subject_name_hash(cert));
  X509_free(cert);
  fs::create_directories(dir);
  fs::copy_file(ca_file, dir + "/" + name);
}

// A CA of another name than MakeTestCa's, made with the openssl command:
// two CAs of one name would hide each other (OpenSSL looks issuers up by
// name, and one found in the --cacert file ends the search).
testserver::TestCa MakeOtherNamedCa(const std::string& dir) {
  auto openssl = [&](std::vector<std::string> args) {
    args.insert(args.begin(), "/usr/bin/openssl");
    testing::Subprocess p(args);
    testing::ProcessResult r = p.Wait(std::chrono::seconds(30));
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  testserver::TestCa ca{dir + "/ca.pem", dir + "/server.pem", dir + "/server.key"};
  const std::vector<std::string> ec = {"-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"};
  std::vector<std::string> make_ca = {"req", "-x509", "-days", "2", "-subj", "/CN=another test CA"};
  make_ca.insert(make_ca.end(), ec.begin(), ec.end());
  make_ca.insert(make_ca.end(), {"-keyout", dir + "/ca.key", "-out", ca.ca_file});
  openssl(make_ca);
  std::vector<std::string> request = {"req", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"};
  request.insert(request.end(), ec.begin(), ec.end());
  request.insert(request.end(), {"-keyout", ca.key_file, "-out", dir + "/server.csr"});
  openssl(request);
  openssl({"x509", "-req", "-days", "2", "-in", dir + "/server.csr", "-CA", ca.ca_file, "-CAkey", dir + "/ca.key",
           "-CAcreateserial", "-copy_extensions", "copy", "-out", ca.cert_file});
  return ca;
}

TEST_F(HttpsFetcherTest, TheCaFileAddsToTheSystemsCaDirectoryNotReplacesIt) {
  // "The system's" CAs: a second CA in the directory and the bundle (as
  // Debian keeps them), whose server the fetcher must go on trusting when
  // --cacert names the first.
  testserver::TestCa system = MakeOtherNamedCa(Other("system"));
  AddToCaDirectory(system.ca_file, dir_.File("system-dir"));
  HttpTestServer system_server(Serving(system));
  HttpFetcher plain(Trusting("", dir_.File("system-dir"), system.ca_file));
  EXPECT_EQ(FetchOne(plain, Task(system_server.BaseUrl() + "/json")).code, Code::kOk);
  EXPECT_EQ(FetchOne(plain, Task(Url("/json"))).code, Code::kInvalidArgument);
  HttpFetcher added(Trusting(ca_.ca_file, dir_.File("system-dir")));
  FetchResult by_system = FetchOne(added, Task(system_server.BaseUrl() + "/json"));
  EXPECT_EQ(by_system.code, Code::kOk) << by_system.error;
  FetchResult by_file = FetchOne(added, Task(Url("/json")));
  EXPECT_EQ(by_file.code, Code::kOk) << by_file.error;
}

// Without --cacert the system's bundle is the whole of what is trusted, and
// no directory is searched (so that libcurl parses the bundle once).
TEST_F(HttpsFetcherTest, WithoutACaFileTheSystemsBundleIsWhatIsTrusted) {
  testserver::TestCa system = MakeOtherNamedCa(Other("system"));
  HttpTestServer system_server(Serving(system));
  // A directory that would trust ca_'s server, were it searched.
  AddToCaDirectory(ca_.ca_file, dir_.File("unused-dir"));
  HttpFetcher fetcher(Trusting("", dir_.File("unused-dir"), system.ca_file));
  FetchResult by_bundle = FetchOne(fetcher, Task(system_server.BaseUrl() + "/json"));
  EXPECT_EQ(by_bundle.code, Code::kOk) << by_bundle.error;
  EXPECT_EQ(FetchOne(fetcher, Task(Url("/json"))).code, Code::kInvalidArgument);
}

}  // namespace
}  // namespace taskfarm
