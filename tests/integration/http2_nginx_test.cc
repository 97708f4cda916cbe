// URL tasks against a server that speaks what the project's own does not:
// Debian's nginx, started here on loopback with its own configuration,
// logs and temporary paths under the test's directory, serving files the
// test wrote over HTTPS with HTTP/2 (a MakeTestCa certificate) and over
// plain HTTP/1.1, gzip on. It shows that --http2 multiplexes a worker's
// tasks on one connection through the real farm, that HTTP/1.1 (the
// default) does not, and what wire_bytes counts for a compressed body.
// Skipped when /usr/sbin/nginx is not installed (scripts/setup installs it).
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/farm_test_util.h"
#include "tests/support/sha256_hex.h"
#include "testserver/test_ca.h"
#include "worker/http_fetcher.h"

namespace taskfarm {
namespace {

using testing::ScratchDir;
constexpr const char* kNginx = "/usr/sbin/nginx";

bool Accepts(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  close(fd);
  return ok;
}

// nginx in the foreground, one process (master_process off), everything it
// writes under `dir`; killed and reaped with this object.
class Nginx {
 public:
  Nginx(const std::string& dir, const testserver::TestCa& ca)
      : https_port_(testing::FreePort()), http_port_(testing::FreePort()), www_(dir + "/www") {
    std::filesystem::create_directories(www_);
    std::filesystem::create_directories(dir + "/tmp");
    std::ofstream(dir + "/nginx.conf") << "daemon off;\n"
                                          "master_process off;\n"
                                          "worker_processes 1;\n"
                                          "pid "
                                       << dir << "/nginx.pid;\n"
                                       << "error_log " << dir << "/error.log;\n"
                                       << "events { worker_connections 1024; }\n"
                                          "http {\n"
                                          "  access_log "
                                       << dir << "/access.log;\n"
                                       << "  client_body_temp_path " << dir << "/tmp/body;\n"
                                       << "  proxy_temp_path " << dir << "/tmp/proxy;\n"
                                       << "  fastcgi_temp_path " << dir << "/tmp/fastcgi;\n"
                                       << "  uwsgi_temp_path " << dir << "/tmp/uwsgi;\n"
                                       << "  scgi_temp_path " << dir << "/tmp/scgi;\n"
                                       << "  types { text/plain txt; }\n"
                                          "  default_type application/octet-stream;\n"
                                          "  gzip on;\n"
                                          "  gzip_types text/plain;\n"
                                          "  gzip_min_length 0;\n"
                                          "  keepalive_requests 100000;\n"
                                          "  server {\n"
                                          "    listen 127.0.0.1:"
                                       << https_port_ << " ssl http2;\n"
                                       << "    listen 127.0.0.1:" << http_port_ << ";\n"
                                       << "    ssl_certificate " << ca.cert_file << ";\n"
                                       << "    ssl_certificate_key " << ca.key_file << ";\n"
                                       << "    root " << www_ << ";\n"
                                       << "  }\n"
                                          "}\n";
    // -e: the error log before the configuration is read (else Debian's
    // /var/log/nginx/error.log).
    process_ = std::make_unique<testing::Subprocess>(
        std::vector<std::string>{kNginx, "-p", dir, "-c", dir + "/nginx.conf", "-e", dir + "/error.log"});
    auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!(Accepts(https_port_) && Accepts(http_port_)) && std::chrono::steady_clock::now() < until) {
      if (!process_->Running()) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (!Accepts(https_port_) || !Accepts(http_port_)) {
      std::ifstream log(dir + "/error.log");
      std::string text((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
      ADD_FAILURE() << "nginx did not start: " << process_->Wait(std::chrono::seconds(1)).err << text;
    }
  }
  ~Nginx() {
    process_->Signal(SIGTERM);
    process_->Wait(std::chrono::seconds(10));  // then SIGKILL, and reaped either way
  }

  std::string Https(const std::string& path) const { return "https://127.0.0.1:" + std::to_string(https_port_) + path; }
  std::string Http(const std::string& path) const { return "http://127.0.0.1:" + std::to_string(http_port_) + path; }
  // Writes a file nginx serves as /NAME; returns its contents.
  std::string Serve(const std::string& name, const std::string& contents) const {
    std::ofstream(www_ + "/" + name, std::ios::binary) << contents;
    return contents;
  }

 private:
  int https_port_;
  int http_port_;
  std::string www_;
  std::unique_ptr<testing::Subprocess> process_;
};

class Http2NginxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kNginx, X_OK) != 0) GTEST_SKIP() << kNginx << " is not installed (scripts/setup installs nginx)";
    ca_ = testserver::MakeTestCa(dir_.path());
    std::filesystem::create_directories(dir_.File("nginx"));
    nginx_ = std::make_unique<Nginx>(dir_.File("nginx"), ca_);
  }

  // Files 0.txt..N-1.txt, each of its own size and bytes; their digests.
  std::vector<std::string> ServeFiles(int n) {
    std::vector<std::string> digests;
    for (int i = 0; i < n; ++i) {
      std::string text;
      for (int line = 0; line < 20 + i; ++line)
        text += "file " + std::to_string(i) + " line " + std::to_string(line) + "\n";
      digests.push_back(testing::Sha256Hex(nginx_->Serve(std::to_string(i) + ".txt", text)));
    }
    return digests;
  }

  // The farm over `n` files with one worker and 100 tasks in flight.
  std::map<int, nlohmann::json> Run(int n, const std::vector<std::string>& extra) {
    std::string tasks;
    for (int i = 0; i < n; ++i) tasks += "url " + nginx_->Https("/" + std::to_string(i) + ".txt") + "\n";
    std::vector<std::string> args = {"--workers",
                                     "1",
                                     "--concurrency",
                                     "100",
                                     "--cacert",
                                     ca_.ca_file,
                                     "--tasks",
                                     dir_.Write("tasks.txt", tasks),
                                     "--output",
                                     dir_.File("out.jsonl"),
                                     "-q"};
    args.insert(args.end(), extra.begin(), extra.end());
    testing::Subprocess farm(testing::Coordinator(args));
    testing::ProcessResult r = farm.Wait(std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    return testing::ById(testing::ReadJsonLines(dir_.File("out.jsonl")), n);
  }

  ScratchDir dir_;
  testserver::TestCa ca_;
  std::unique_ptr<Nginx> nginx_;
};

TEST_F(Http2NginxTest, Http2CarriesAWorkersHundredTasksInFlightOnOneConnection) {
  std::vector<std::string> digests = ServeFiles(200);
  std::map<int, nlohmann::json> records = Run(200, {"--http2"});
  uint64_t connections = 0;
  for (const auto& [id, r] : records) {
    EXPECT_EQ(r.value("http_status", 0), 200) << r.dump();
    EXPECT_EQ(r.value("sha256", ""), digests[id]) << r.dump();
    connections += r["timings"].value("new_connections", 0);
  }
  EXPECT_EQ(connections, 1u) << "200 tasks, 100 at once, one worker: one HTTP/2 connection";
}

TEST_F(Http2NginxTest, WithoutHttp2EachTaskInFlightHasItsOwnConnection) {
  std::vector<std::string> digests = ServeFiles(200);
  std::map<int, nlohmann::json> records = Run(200, {});
  uint64_t connections = 0;
  for (const auto& [id, r] : records) {
    EXPECT_EQ(r.value("sha256", ""), digests[id]) << r.dump();
    connections += r["timings"].value("new_connections", 0);
  }
  // Up to 100 at once; a few may start after an earlier one freed its
  // connection, none needs more.
  EXPECT_GE(connections, 50u) << "HTTP/1.1: a connection per task in flight";
  EXPECT_LE(connections, 100u);
}

pb::UrlTask Task(const std::string& url, bool compressed) {
  pb::UrlTask task;
  task.set_url(url);
  task.set_compressed(compressed);
  return task;
}

FetchResult FetchOne(HttpFetcher& fetcher, const pb::UrlTask& task) {
  fetcher.Start(1, task, 0, 0);
  std::vector<FetchResult> done;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (done.empty() && std::chrono::steady_clock::now() < until) {
    fetcher.Poll(nullptr, 0, 100);
    fetcher.Perform(&done);
  }
  if (done.size() != 1) {
    ADD_FAILURE() << done.size() << " results for one transfer";
    return {};
  }
  return done[0];
}

size_t CountBytes(char*, size_t size, size_t n, void* user) {
  *static_cast<size_t*>(user) += size * n;
  return size * n;
}

// The body's size as gzip on the wire: asked for by hand, so libcurl does
// not decode it.
size_t GzipSize(const std::string& url, const std::string& ca_file) {
  size_t bytes = 0;
  CURL* e = curl_easy_init();
  curl_slist* headers = curl_slist_append(nullptr, "Accept-Encoding: gzip");
  curl_easy_setopt(e, CURLOPT_URL, url.c_str());
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(e, CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &CountBytes);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &bytes);
  EXPECT_EQ(curl_easy_perform(e), CURLE_OK);
  curl_slist_free_all(headers);
  curl_easy_cleanup(e);
  return bytes;
}

TEST_F(Http2NginxTest, WireBytesCountTheBodyAsSentAndBytesAsDecoded) {
  std::string text;
  for (int i = 0; i < 5000; ++i) text += "the same line, over and over " + std::to_string(i % 10) + "\n";
  nginx_->Serve("big.txt", text);
  for (bool http2 : {false, true}) {
    FetchOptions options;
    options.http2 = http2;
    options.ca_file = ca_.ca_file;
    HttpFetcher fetcher(options);
    // HTTP/2 over TLS, and HTTP/1.1 in plain text, where nginx sends gzip
    // chunked: the chunks' framing is not body.
    for (const std::string& url : {nginx_->Https("/big.txt"), nginx_->Http("/big.txt")}) {
      SCOPED_TRACE(url + (http2 ? " with --http2" : ""));
      FetchResult plain = FetchOne(fetcher, Task(url, false));
      EXPECT_EQ(plain.code, Code::kOk) << plain.error;
      EXPECT_EQ(plain.bytes, text.size());
      EXPECT_EQ(plain.wire_bytes, text.size()) << "no Accept-Encoding sent: nginx did not compress";
      FetchResult compressed = FetchOne(fetcher, Task(url, true));
      EXPECT_EQ(compressed.code, Code::kOk) << compressed.error;
      EXPECT_EQ(compressed.bytes, text.size());
      EXPECT_EQ(compressed.sha256, testing::Sha256Hex(text)) << "the digest is the decoded body's";
      EXPECT_EQ(compressed.wire_bytes, GzipSize(url, ca_.ca_file));
      EXPECT_LT(compressed.wire_bytes * 10, text.size()) << "gzip did compress it";
    }
  }
}

}  // namespace
}  // namespace taskfarm
