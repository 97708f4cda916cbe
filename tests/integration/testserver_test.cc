// Tests for the loopback HTTP test server: routes, delays, keep-alive,
// concurrency, misbehaving clients, shutdown, methods and /echo, HTTPS, and the
// `testserver` binary.
//
// Built with test_ca_test.cc into testserver_test, registered in the integration
// section of tests/CMakeLists.txt (no label).

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/c_handle.h"
#include "common/temp_dir.h"
#include "tests/support/subprocess.h"
#include "testserver/http_test_server.h"
#include "testserver/test_ca.h"

namespace taskfarm::testserver {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

int64_t ElapsedMs(Clock::time_point start) {
  return std::chrono::duration_cast<milliseconds>(Clock::now() - start).count();
}

// ---------------------------------------------------------------------------
// libcurl helpers.

using CurlPtr = CHandle<CURL, curl_easy_cleanup>;
using CurlMultiPtr = CHandle<CURLM, curl_multi_cleanup>;

struct Response {
  CURLcode result = CURLE_OK;
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-cased names
  long redirects = 0;

  bool HasHeader(const std::string& name) const { return headers.count(name) > 0; }
};

size_t AppendBody(char* data, size_t size, size_t count, void* user) {
  static_cast<Response*>(user)->body.append(data, size * count);
  return size * count;
}

size_t AppendHeader(char* data, size_t size, size_t count, void* user) {
  std::string line(data, size * count);
  const size_t colon = line.find(':');
  if (colon != std::string::npos) {
    std::string name = line.substr(0, colon);
    std::transform(name.begin(), name.end(), name.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    std::string value = line.substr(colon + 1);
    value.erase(0, value.find_first_not_of(' '));
    value.erase(value.find_last_not_of("\r\n ") + 1);
    static_cast<Response*>(user)->headers[name] = value;
  } else if (line.rfind("HTTP/", 0) == 0) {
    static_cast<Response*>(user)->headers.clear();  // a new response (redirects)
  }
  return size * count;
}

// Points `curl` at `url`, collecting into `response`. The handle keeps its
// connection cache, so reusing it across calls reuses connections.
void Prepare(CURL* curl, const std::string& url, Response* response, long timeout_ms = 10000) {
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, &AppendBody);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, response);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, &AppendHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, response);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
}

void Collect(CURL* curl, CURLcode result, Response* response) {
  response->result = result;
  curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response->status);
  curl_easy_getinfo(curl, CURLINFO_REDIRECT_COUNT, &response->redirects);
}

Response Fetch(CURL* curl, const std::string& url, long timeout_ms = 10000) {
  Response response;
  Prepare(curl, url, &response, timeout_ms);
  Collect(curl, curl_easy_perform(curl), &response);
  return response;
}

Response Get(const std::string& url, long timeout_ms = 10000) {
  CurlPtr curl(curl_easy_init());
  return Fetch(curl.get(), url, timeout_ms);
}

// Runs one request per URL concurrently on a curl multi handle.
std::vector<Response> GetAll(const std::vector<std::string>& urls, long timeout_ms = 20000) {
  CurlMultiPtr multi(curl_multi_init());
  std::vector<CurlPtr> handles;
  std::vector<Response> responses(urls.size());
  std::map<CURL*, size_t> index;
  for (size_t i = 0; i < urls.size(); ++i) {
    handles.emplace_back(curl_easy_init());
    Prepare(handles.back().get(), urls[i], &responses[i], timeout_ms);
    index[handles.back().get()] = i;
    curl_multi_add_handle(multi.get(), handles.back().get());
  }
  int running = 1;
  while (running > 0) {
    curl_multi_perform(multi.get(), &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.get(), &queued)) {
      if (msg->msg == CURLMSG_DONE) {
        Collect(msg->easy_handle, msg->data.result, &responses[index[msg->easy_handle]]);
      }
    }
    if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
  }
  for (CurlPtr& handle : handles) curl_multi_remove_handle(multi.get(), handle.get());
  return responses;
}

bool IsFiller(const std::string& body) {
  for (size_t i = 0; i < body.size(); ++i) {
    if (body[i] != FillerByte(i)) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------
// Raw sockets, for clients that misbehave in ways curl will not.

class RawClient {
 public:
  explicit RawClient(uint16_t port) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("cannot connect");
    }
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  void SendGet(const std::string& target) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    ASSERT_EQ(send(fd_, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  }
  // Reads until at least `bytes` have arrived or the peer closes.
  std::string ReadAtLeast(size_t bytes) {
    std::string data;
    char buf[4096];
    while (data.size() < bytes) {
      ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0) break;
      data.append(buf, static_cast<size_t>(n));
    }
    return data;
  }
  int fd() const { return fd_; }
  // With `reset`, an abortive close (RST) instead of a FIN.
  void Close(bool reset = false) {
    if (fd_ < 0) return;
    if (reset) {
      linger hard{1, 0};
      setsockopt(fd_, SOL_SOCKET, SO_LINGER, &hard, sizeof(hard));
    }
    close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

// Polls `condition` until it holds or `timeout` passes.
template <typename Condition>
bool Eventually(Condition condition, milliseconds timeout = milliseconds(5000)) {
  const auto deadline = Clock::now() + timeout;
  while (!condition()) {
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

// ---------------------------------------------------------------------------

class HttpTestServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RaiseOpenFileLimit();
  }
  static void TearDownTestSuite() { curl_global_cleanup(); }

  std::string Url(const std::string& target) const { return server_.BaseUrl() + target; }

  // The server answers normally: used after abusing it.
  void ExpectHealthy() {
    Response response = Get(Url("/json"));
    EXPECT_EQ(response.result, CURLE_OK);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), kJsonBodySize);
  }

  HttpTestServer server_{Options{}};
};

TEST_F(HttpTestServerTest, BaseUrlNamesTheBoundPort) {
  EXPECT_NE(server_.port(), 0);
  EXPECT_EQ(server_.BaseUrl(), "http://127.0.0.1:" + std::to_string(server_.port()));
}

TEST_F(HttpTestServerTest, TutorialPagesHaveTheirSizes) {
  for (int page = 1; page <= 3; ++page) {
    Response response = Get(Url("/page/" + std::to_string(page)));
    ASSERT_EQ(response.result, CURLE_OK) << page;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), kTutorialPageSizes[page - 1]);
    EXPECT_EQ(response.headers["content-type"], "text/html");
    EXPECT_EQ(response.headers["content-length"], std::to_string(kTutorialPageSizes[page - 1]));
    EXPECT_EQ(response.body.rfind("<!DOCTYPE html>", 0), 0u);
  }
  EXPECT_EQ(Get(Url("/page/4")).status, 404);
}

TEST_F(HttpTestServerTest, BytesHasExactSizeAndFillerContent) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{26}, size_t{12345}, size_t{3} << 20}) {
    Response response = Get(Url("/bytes/" + std::to_string(size)));
    ASSERT_EQ(response.result, CURLE_OK) << size;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), size);
    EXPECT_EQ(response.headers["content-length"], std::to_string(size));
    EXPECT_TRUE(IsFiller(response.body)) << size;
  }
}

TEST_F(HttpTestServerTest, JsonIsExactly300Bytes) {
  Response response = Get(Url("/json"));
  ASSERT_EQ(response.result, CURLE_OK);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body.size(), 300u);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  EXPECT_EQ(response.body.front(), '{');
  EXPECT_EQ(response.body.substr(response.body.size() - 2), "}\n");
}

TEST_F(HttpTestServerTest, StatusRouteAndStatusParameter) {
  for (int code : {404, 429, 500, 503}) {
    Response response = Get(Url("/status/" + std::to_string(code)));
    ASSERT_EQ(response.result, CURLE_OK);
    EXPECT_EQ(response.status, code);
    EXPECT_FALSE(response.body.empty());
  }
  Response bytes = Get(Url("/bytes/1000?status=503"));
  EXPECT_EQ(bytes.status, 503);
  EXPECT_EQ(bytes.body.size(), 1000u);  // the body is still sent
  Response page = Get(Url("/page/1?status=500"));
  EXPECT_EQ(page.status, 500);
  EXPECT_EQ(page.body.size(), kTutorialPageSizes[0]);
}

TEST_F(HttpTestServerTest, MalformedAndUnknownRequests) {
  EXPECT_EQ(Get(Url("/nope")).status, 404);
  EXPECT_EQ(Get(Url("/")).status, 404);
  EXPECT_EQ(Get(Url("/bytes/abc")).status, 400);
  EXPECT_EQ(Get(Url("/bytes/-1")).status, 400);
  EXPECT_EQ(Get(Url("/json?delay=soon")).status, 400);
  EXPECT_EQ(Get(Url("/json?status=42")).status, 400);
  EXPECT_EQ(Get(Url("/status/1000")).status, 400);
}

TEST_F(HttpTestServerTest, ChunkedBytesHaveNoContentLength) {
  for (size_t size : {size_t{0}, size_t{1}, size_t{65536}, size_t{200001}}) {
    Response response = Get(Url("/bytes/" + std::to_string(size) + "?chunked=1"));
    ASSERT_EQ(response.result, CURLE_OK) << size;
    EXPECT_EQ(response.status, 200);
    EXPECT_FALSE(response.HasHeader("content-length")) << size;
    EXPECT_EQ(response.headers["transfer-encoding"], "chunked");
    EXPECT_EQ(response.body.size(), size);
    EXPECT_TRUE(IsFiller(response.body));
  }
}

TEST_F(HttpTestServerTest, RedirectChainIsFollowedTo200) {
  CurlPtr curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  Response response = Fetch(curl.get(), Url("/redirect/3"));
  ASSERT_EQ(response.result, CURLE_OK);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "ok");
  EXPECT_EQ(response.redirects, 3);

  Response hop = Get(Url("/redirect/2"));  // not following
  EXPECT_EQ(hop.status, 302);
  EXPECT_EQ(hop.headers["location"], "/redirect/1");
}

TEST_F(HttpTestServerTest, RedirectToDecodesTheTarget) {
  Response file = Get(Url("/redirect-to?url=file%3A%2F%2F%2Fetc%2Fpasswd"));
  EXPECT_EQ(file.status, 302);
  EXPECT_EQ(file.headers["location"], "file:///etc/passwd");

  Response ftp = Get(Url("/redirect-to?url=ftp://example.invalid/x"));
  EXPECT_EQ(ftp.headers["location"], "ftp://example.invalid/x");

  // A URL smuggling a header line is refused rather than echoed.
  EXPECT_EQ(Get(Url("/redirect-to?url=http%3A%2F%2Fa%0D%0AX-Evil%3A%201")).status, 400);
  EXPECT_EQ(Get(Url("/redirect-to")).status, 400);

  CurlPtr curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 1L);
  Response followed = Fetch(curl.get(), Url("/redirect-to?url=%2Fjson"));
  EXPECT_EQ(followed.status, 200);
  EXPECT_EQ(followed.body.size(), kJsonBodySize);
}

TEST_F(HttpTestServerTest, DelayIsHonoured) {
  auto start = Clock::now();
  Response response = Get(Url("/json?delay=300"));
  EXPECT_GE(ElapsedMs(start), 300);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body.size(), kJsonBodySize);

  start = Clock::now();
  Response status = Get(Url("/status/429?delay=150"));
  EXPECT_GE(ElapsedMs(start), 150);
  EXPECT_EQ(status.status, 429);

  // Never early, not even by a clock tick, on a reused connection either.
  CurlPtr curl(curl_easy_init());
  for (int i = 0; i < 20; ++i) {
    const auto request_start = Clock::now();
    EXPECT_EQ(Fetch(curl.get(), Url("/bytes/10?delay=25")).status, 200);
    EXPECT_GE(Clock::now() - request_start, milliseconds(25)) << "request " << i;
  }
}

TEST(HttpTestServerDefaultDelayTest, DefaultDelayAppliesAndQueryOverridesIt) {
  Options options;
  options.default_delay_ms = 200;
  HttpTestServer server(options);
  auto start = Clock::now();
  EXPECT_EQ(Get(server.BaseUrl() + "/json").status, 200);
  EXPECT_GE(ElapsedMs(start), 200);

  // ?delay=0 must override a default far beyond the client's timeout.
  Options slow;
  slow.default_delay_ms = 60000;
  HttpTestServer slow_server(slow);
  Response response = Get(slow_server.BaseUrl() + "/json?delay=0", /*timeout_ms=*/20000);
  EXPECT_EQ(response.result, CURLE_OK);
  EXPECT_EQ(response.status, 200);
}

TEST_F(HttpTestServerTest, DripSendsOneByteAtATime) {
  auto start = Clock::now();
  Response response = Get(Url("/drip?bytes=5&interval_ms=40"));
  ASSERT_EQ(response.result, CURLE_OK);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body, "abcde");
  EXPECT_FALSE(response.HasHeader("content-length"));
  EXPECT_GE(ElapsedMs(start), 5 * 40);

  Response empty = Get(Url("/drip?bytes=0&interval_ms=10"));
  EXPECT_EQ(empty.status, 200);
  EXPECT_TRUE(empty.body.empty());
}

TEST_F(HttpTestServerTest, DripTripsClientLowSpeedLimit) {
  CurlPtr curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_LIMIT, 100L);  // bytes/s
  curl_easy_setopt(curl.get(), CURLOPT_LOW_SPEED_TIME, 1L);
  Response response = Fetch(curl.get(), Url("/drip?bytes=1000&interval_ms=200"));
  EXPECT_EQ(response.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_TRUE(Eventually([&] { return server_.pending_replies() == 0; }));
  ExpectHealthy();
}

TEST_F(HttpTestServerTest, StatsReportsCounters) {
  CurlPtr curl(curl_easy_init());
  Fetch(curl.get(), Url("/json"));
  Fetch(curl.get(), Url("/json"));
  Response stats = Fetch(curl.get(), Url("/stats"));
  EXPECT_EQ(stats.status, 200);
  EXPECT_EQ(stats.headers["content-type"], "application/json");
  const nlohmann::json json = nlohmann::json::parse(stats.body);
  EXPECT_EQ(json["connections"], 1);
  EXPECT_EQ(json["requests"], 3);
  EXPECT_EQ(json["per_second"].get<std::vector<uint64_t>>(), server_.RequestsPerSecond());
  EXPECT_EQ(server_.connections_accepted(), 1u);
  EXPECT_EQ(server_.requests_served(), 3u);
}

TEST(HttpTestServerPerSecondTest, RequestsAreCountedInTheSecondTheyArrive) {
  HttpTestServer server(Options{});
  EXPECT_TRUE(server.RequestsPerSecond().empty());
  CurlPtr curl(curl_easy_init());
  for (int i = 0; i < 5; ++i) ASSERT_EQ(Fetch(curl.get(), server.BaseUrl() + "/json").status, 200);
  // Well into a later second than the first five (the clock started before
  // the server was returned), so the last three land in another bucket.
  std::this_thread::sleep_for(milliseconds(1100));
  for (int i = 0; i < 3; ++i) ASSERT_EQ(Fetch(curl.get(), server.BaseUrl() + "/json").status, 200);

  const std::vector<uint64_t> per_second = server.RequestsPerSecond();
  ASSERT_GE(per_second.size(), 2u);
  uint64_t total = 0;
  for (uint64_t n : per_second) total += n;
  EXPECT_EQ(total, 8u);
  EXPECT_GE(per_second.front(), 1u);  // the first request came at once
  EXPECT_GE(per_second.back(), 1u);
  EXPECT_LE(per_second.back(), 3u);  // none of the first five
  // Read from another thread while the loop thread counts: no torn vector.
  std::thread reader([&] {
    for (int i = 0; i < 1000; ++i) EXPECT_GE(server.RequestsPerSecond().size(), 2u);
  });
  for (int i = 0; i < 20; ++i) Fetch(curl.get(), server.BaseUrl() + "/json");
  reader.join();
}

TEST_F(HttpTestServerTest, ThreeHundredConcurrentDelayedRequests) {
  const uint64_t connections_before = server_.connections_accepted();
  std::vector<std::string> urls(300, Url("/json?delay=200"));
  auto start = Clock::now();
  std::vector<Response> responses = GetAll(urls);
  const int64_t elapsed = ElapsedMs(start);
  for (const Response& response : responses) {
    ASSERT_EQ(response.result, CURLE_OK) << curl_easy_strerror(response.result);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), kJsonBodySize);
  }
  EXPECT_GE(elapsed, 200);
  EXPECT_LT(elapsed, 10000);  // hang guard, not a performance target
  std::cout << "[ measure  ] 300 concurrent delay=200 requests: " << elapsed << " ms over "
            << server_.connections_accepted() - connections_before << " connections\n";
  RecordProperty("elapsed_ms", std::to_string(elapsed));
  EXPECT_EQ(server_.pending_replies(), 0u);
}

TEST_F(HttpTestServerTest, ThousandConcurrentDelayedRequests) {
  if (RaiseOpenFileLimit() < 2500) GTEST_SKIP() << "needs ~2100 descriptors";
  std::vector<std::string> urls(1000, Url("/bytes/1000?delay=500"));
  auto start = Clock::now();
  std::vector<Response> responses = GetAll(urls, 30000);
  const int64_t elapsed = ElapsedMs(start);
  size_t ok = 0;
  for (const Response& response : responses) {
    if (response.result == CURLE_OK && response.status == 200 && response.body.size() == 1000) {
      ++ok;
    }
  }
  EXPECT_EQ(ok, 1000u);
  EXPECT_LT(elapsed, 20000);  // hang guard
  std::cout << "[ measure  ] 1000 concurrent delay=500 requests: " << elapsed << " ms\n";
  RecordProperty("elapsed_ms", std::to_string(elapsed));
}

TEST_F(HttpTestServerTest, KeepAliveReusesOneConnection) {
  const uint64_t before = server_.connections_accepted();
  CurlPtr curl(curl_easy_init());
  for (int i = 0; i < 20; ++i) {
    Response response = Fetch(curl.get(), Url("/json"));
    ASSERT_EQ(response.status, 200);
  }
  EXPECT_EQ(server_.connections_accepted(), before + 1);
}

TEST_F(HttpTestServerTest, KeepAliveSurvivesEveryKindOfReply) {
  const uint64_t before = server_.connections_accepted();
  CurlPtr curl(curl_easy_init());
  const std::vector<std::string> targets = {
      "/json", "/bytes/100000?chunked=1",     "/status/500",    "/page/3", "/redirect/1",        "/bytes/0",
      "/nope", "/drip?bytes=3&interval_ms=1", "/json?delay=20", "/stats",  "/bytes/0?chunked=1", "/status/204"};
  for (const std::string& target : targets) {
    Response response = Fetch(curl.get(), Url(target));
    ASSERT_EQ(response.result, CURLE_OK) << target;
  }
  // HEAD carries Content-Length but no body, so the stream stays in sync.
  curl_easy_setopt(curl.get(), CURLOPT_NOBODY, 1L);
  Response head = Fetch(curl.get(), Url("/page/2"));
  EXPECT_EQ(head.headers["content-length"], std::to_string(kTutorialPageSizes[1]));
  EXPECT_TRUE(head.body.empty());
  curl_easy_setopt(curl.get(), CURLOPT_HTTPGET, 1L);
  EXPECT_EQ(Fetch(curl.get(), Url("/json")).body.size(), kJsonBodySize);
  EXPECT_EQ(server_.connections_accepted(), before + 1);
}

TEST_F(HttpTestServerTest, ClientDisconnectingMidDelayDoesNotHurtServer) {
  const uint64_t served_before = server_.requests_served();
  {
    std::vector<std::unique_ptr<RawClient>> clients;
    for (int i = 0; i < 40; ++i) {
      clients.push_back(std::make_unique<RawClient>(server_.port()));
      clients.back()->SendGet("/page/3?delay=200");
    }
    ASSERT_TRUE(Eventually([&] { return server_.pending_replies() == 40; }));
    for (size_t i = 0; i < clients.size(); ++i) clients[i]->Close(/*reset=*/i % 2 == 0);
  }
  // curl giving up mid-delay, too.
  EXPECT_EQ(Get(Url("/json?delay=500"), /*timeout_ms=*/100).result, CURLE_OPERATION_TIMEDOUT);
  // The timers fire and write to dead sockets; nothing crashes or leaks.
  EXPECT_TRUE(Eventually([&] { return server_.pending_replies() == 0; }));
  EXPECT_GE(server_.requests_served(), served_before + 40);
  ExpectHealthy();
}

TEST_F(HttpTestServerTest, ClientDisconnectingMidDripStopsTheDrip) {
  for (bool reset : {false, true}) {
    RawClient client(server_.port());
    client.SendGet("/drip?bytes=100000&interval_ms=5");
    std::string start = client.ReadAtLeast(200);  // headers and a few bytes
    EXPECT_EQ(start.rfind("HTTP/1.1 200", 0), 0u);
    EXPECT_EQ(server_.pending_replies(), 1u);
    client.Close(reset);
    EXPECT_TRUE(Eventually([&] { return server_.pending_replies() == 0; }))
        << "drip kept going after the client left (reset=" << reset << ")";
  }
  ExpectHealthy();
}

TEST_F(HttpTestServerTest, ClientDisconnectingMidChunkedBodyDoesNotHurtServer) {
  for (int i = 0; i < 10; ++i) {
    RawClient client(server_.port());
    client.SendGet("/bytes/50000000?chunked=1");
    client.ReadAtLeast(100000);
    client.Close(/*reset=*/i % 2 == 1);
  }
  ExpectHealthy();
}

TEST(HttpTestServerLifecycleTest, StopWithRepliesInFlight) {
  HttpTestServer server(Options{});
  std::vector<std::unique_ptr<RawClient>> clients;
  const char* const kTargets[] = {"/json?delay=60000", "/drip?bytes=100000&interval_ms=1",
                                  "/drip?bytes=10&interval_ms=60000"};
  for (int i = 0; i < 99; ++i) {
    clients.push_back(std::make_unique<RawClient>(server.port()));
    clients.back()->SendGet(kTargets[i % 3]);
  }
  ASSERT_TRUE(Eventually([&] { return server.pending_replies() == 99; }));
  // Some clients vanish first. libevent then detaches their slow drips from
  // the dead connections (the next tick is a minute away), so the server
  // holds detached and attached requests of every kind when it stops.
  for (int i = 0; i < 99; i += 2) clients[i]->Close(/*reset=*/i % 4 == 0);
  std::this_thread::sleep_for(milliseconds(100));

  auto start = Clock::now();
  std::thread other([&] { server.Stop(); });  // from another thread ...
  server.Stop();                              // ... and concurrently from this one
  other.join();
  EXPECT_LT(ElapsedMs(start), 5000);
  EXPECT_EQ(server.pending_replies(), 0u);
  // The port is closed: new connections are refused.
  EXPECT_THROW(RawClient{server.port()}, std::runtime_error);
  // Clients still connected see their connection closed.
  for (int i = 1; i < 99; i += 2) {
    EXPECT_LT(clients[i]->ReadAtLeast(size_t{1} << 30).size(), size_t{1} << 30);
  }
  server.Stop();  // idempotent
}

TEST(HttpTestServerLifecycleTest, StartStopRepeatedly) {
  for (int i = 0; i < 50; ++i) {
    HttpTestServer server(Options{});
    if (i % 2 == 0) {
      EXPECT_EQ(Get(server.BaseUrl() + "/json").status, 200);
    }
  }
}

TEST(HttpTestServerLifecycleTest, BindFailureThrowsWithClearMessage) {
  HttpTestServer first(Options{});
  Options clash;
  clash.port = first.port();
  try {
    HttpTestServer second(clash);
    FAIL() << "second server bound the same port";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(first.port())),
              std::string::npos)
        << e.what();
  }
  Options bogus;
  bogus.address = "not an address";
  EXPECT_THROW(HttpTestServer{bogus}, std::runtime_error);
}

// ---------------------------------------------------------------------------
// Methods, request bodies and /echo.

std::string Sha256Hex(const std::string& data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  EXPECT_EQ(EVP_Digest(data.data(), data.size(), digest, &size, EVP_sha256(), nullptr), 1);
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < size; ++i) {
    std::snprintf(byte, sizeof(byte), "%02x", digest[i]);
    hex += byte;
  }
  return hex;
}

using CurlSlistPtr = CHandle<curl_slist, curl_slist_free_all>;

// The request header lines libcurl sent (the request line left out), as
// name/value pairs in order: what /echo must report.
struct SentHeaders {
  std::vector<std::pair<std::string, std::string>> headers;
};
int RecordSentHeaders(CURL*, curl_infotype type, char* data, size_t size, void* user) {
  if (type != CURLINFO_HEADER_OUT) return 0;
  auto* sent = static_cast<SentHeaders*>(user);
  sent->headers.clear();
  const std::string block(data, size);
  size_t start = block.find("\r\n") + 2;  // after the request line
  for (size_t end; (end = block.find("\r\n", start)) != std::string::npos && end > start; start = end + 2) {
    const std::string line = block.substr(start, end - start);
    const size_t colon = line.find(':');
    const size_t value = line.find_first_not_of(' ', colon + 1);
    sent->headers.emplace_back(line.substr(0, colon), value == std::string::npos ? "" : line.substr(value));
  }
  return 0;
}

// Sends `method` with `headers` and `body` (none if nullopt) on `curl`.
Response Send(CURL* curl, const std::string& url, const std::string& method, const std::vector<std::string>& headers,
              const std::optional<std::string>& body, SentHeaders* sent = nullptr) {
  Response response;
  Prepare(curl, url, &response);
  CurlSlistPtr list;
  for (const std::string& header : headers) {
    curl_slist* extended = curl_slist_append(list.get(), header.c_str());
    (void)list.release();
    list.reset(extended);
  }
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list.get());
  if (body) {
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body->data());
    curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
  } else {
    curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);  // forget an earlier call's body
  }
  curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, method.c_str());
  if (sent != nullptr) {
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, &RecordSentHeaders);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, sent);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
  }
  Collect(curl, curl_easy_perform(curl), &response);
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, nullptr);
  return response;
}

// Bytes 0..255 over and over: every byte value, also the ones JSON escapes.
std::string AllBytes(size_t size) {
  std::string body(size, '\0');
  for (size_t i = 0; i < size; ++i) body[i] = static_cast<char>(i * 7 % 256);
  return body;
}

TEST_F(HttpTestServerTest, EchoReportsExactlyWhatWasSent) {
  CurlPtr curl(curl_easy_init());
  const std::string body = AllBytes(100000);
  SentHeaders sent;
  Response response = Send(curl.get(), Url("/echo"), "POST",
                           {"Content-Type: application/json", "X-Trace-Id: run-7  ;  part=\"a b\""}, body, &sent);
  ASSERT_EQ(response.result, CURLE_OK);
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.headers["content-type"], "application/json");
  const nlohmann::json echo = nlohmann::json::parse(response.body);
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["body_bytes"], body.size());
  EXPECT_EQ(echo["body_sha256"], Sha256Hex(body));
  ASSERT_GE(sent.headers.size(), 4u);  // Host, Accept, the two, Content-Length
  using HeaderList = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(echo["headers"].get<HeaderList>(), sent.headers);
  const auto& headers = echo["headers"];
  EXPECT_NE(std::find(headers.begin(), headers.end(), nlohmann::json::array({"Content-Type", "application/json"})),
            headers.end());
  EXPECT_NE(std::find(headers.begin(), headers.end(), nlohmann::json::array({"X-Trace-Id", "run-7  ;  part=\"a b\""})),
            headers.end());
  // The keys in the documented order.
  EXPECT_EQ(response.body.rfind("{\"method\":\"POST\",\"headers\":[[", 0), 0u) << response.body;
}

TEST_F(HttpTestServerTest, EveryRouteAnswersEveryMethod) {
  CurlPtr curl(curl_easy_init());
  for (const std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    Response echo = Send(curl.get(), Url("/echo"), method, {}, std::string("x=1"));
    ASSERT_EQ(echo.status, 200) << method;
    const nlohmann::json json = nlohmann::json::parse(echo.body);
    EXPECT_EQ(json["method"], method);
    EXPECT_EQ(json["body_bytes"], 3);
    Response page = Send(curl.get(), Url("/page/1"), method, {}, std::nullopt);
    EXPECT_EQ(page.status, 200) << method;
    EXPECT_EQ(page.body.size(), kTutorialPageSizes[0]) << method;
  }
  // A bodiless echo hashes the empty string.
  Response get = Send(curl.get(), Url("/echo"), "GET", {}, std::nullopt);
  EXPECT_EQ(nlohmann::json::parse(get.body)["body_sha256"], Sha256Hex(""));
  EXPECT_EQ(server_.connections_accepted(), 1u);  // all on one connection

  RawClient raw(server_.port());
  const std::string brew = "BREW /json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  ASSERT_EQ(send(raw.fd(), brew.data(), brew.size(), MSG_NOSIGNAL), static_cast<ssize_t>(brew.size()));
  EXPECT_EQ(raw.ReadAtLeast(12).substr(0, 12), "HTTP/1.1 501");
}

TEST_F(HttpTestServerTest, EchoIsValidJsonForAnyHeaderBytes) {
  RawClient raw(server_.port());
  const std::string request =
      "POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bytes: \xff\xfe ok \x01\x1f \"q\" \\ \xc3\xa9\r\n"
      "Content-Length: 2\r\nConnection: close\r\n\r\nhi";
  ASSERT_EQ(send(raw.fd(), request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  const std::string reply = raw.ReadAtLeast(size_t{1} << 20);
  ASSERT_EQ(reply.rfind("HTTP/1.1 200", 0), 0u) << reply;
  const nlohmann::json echo = nlohmann::json::parse(reply.substr(reply.find("\r\n\r\n") + 4));
  EXPECT_EQ(echo["headers"][1][0], "X-Bytes");
  // Not UTF-8: U+FFFD each; controls, quote and backslash escaped; é kept.
  EXPECT_EQ(echo["headers"][1][1], "\xef\xbf\xbd\xef\xbf\xbd ok \x01\x1f \"q\" \\ \xc3\xa9");
  EXPECT_EQ(echo["body_bytes"], 2);
  EXPECT_EQ(echo["body_sha256"], Sha256Hex("hi"));
}

TEST_F(HttpTestServerTest, BodiesUpToTheLimitAreReadAndLargerOnesGet413) {
  CurlPtr curl(curl_easy_init());
  const std::string limit = AllBytes(kMaxRequestBodyBytes);
  Response at_limit = Send(curl.get(), Url("/echo"), "PUT", {}, limit);
  ASSERT_EQ(at_limit.status, 200);
  const nlohmann::json echo = nlohmann::json::parse(at_limit.body);
  EXPECT_EQ(echo["body_bytes"], kMaxRequestBodyBytes);
  EXPECT_EQ(echo["body_sha256"], Sha256Hex(limit));

  const std::string over = limit + "!";
  // curl asks "Expect: 100-continue" first; without it the body just comes.
  for (const std::vector<std::string>& headers : {std::vector<std::string>{}, {"Expect:"}}) {
    Response too_large = Send(curl.get(), Url("/echo"), "POST", headers, over);
    EXPECT_EQ(too_large.result, CURLE_OK) << curl_easy_strerror(too_large.result);
    EXPECT_EQ(too_large.status, 413);
  }
  // A chunked body (no size known in advance) is read too.
  std::string chunked_body = AllBytes(300000);
  struct Source {
    const std::string* data;
    size_t offset = 0;
  } source{&chunked_body};
  Response chunked;
  Prepare(curl.get(), Url("/echo"), &chunked);
  curl_easy_setopt(curl.get(), CURLOPT_CUSTOMREQUEST, nullptr);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, nullptr);
  curl_easy_setopt(curl.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t{-1});
  curl_easy_setopt(curl.get(), CURLOPT_READDATA, &source);
  curl_easy_setopt(
      curl.get(), CURLOPT_READFUNCTION, +[](char* buffer, size_t size, size_t count, void* user) -> size_t {
        auto* s = static_cast<Source*>(user);
        const size_t n = std::min(size * count, std::min<size_t>(7777, s->data->size() - s->offset));
        std::memcpy(buffer, s->data->data() + s->offset, n);
        s->offset += n;
        return n;
      });
  Collect(curl.get(), curl_easy_perform(curl.get()), &chunked);
  ASSERT_EQ(chunked.status, 200);
  const nlohmann::json chunked_echo = nlohmann::json::parse(chunked.body);
  EXPECT_EQ(chunked_echo["body_bytes"], chunked_body.size());
  EXPECT_EQ(chunked_echo["body_sha256"], Sha256Hex(chunked_body));
  ExpectHealthy();
}

// ---------------------------------------------------------------------------
// HTTPS: the same routes over TLS, with a certificate from a TestCa.

// Descriptors this process has open: the test's and the in-process server's.
size_t OpenDescriptors() {
  size_t count = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++count;
  return count;
}

// A handle that trusts `ca_file` and nothing else, verifying peer and host.
CurlPtr TlsHandle(const std::string& ca_file) {
  CurlPtr curl(curl_easy_init());
  curl_easy_setopt(curl.get(), CURLOPT_CAINFO, ca_file.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_CAPATH, nullptr);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  return curl;
}

constexpr long kTls12Only = static_cast<long>(CURL_SSLVERSION_TLSv1_2) | CURL_SSLVERSION_MAX_TLSv1_2;
constexpr long kTls13Only = static_cast<long>(CURL_SSLVERSION_TLSv1_3) | CURL_SSLVERSION_MAX_TLSv1_3;

Options TlsOptions(const TestCa& ca) {
  Options options;
  options.tls_cert_file = ca.cert_file;
  options.tls_key_file = ca.key_file;
  return options;
}

class HttpsTestServerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }

  std::string Url(const std::string& target) const { return server_.BaseUrl() + target; }

  void ExpectHealthy() {
    CurlPtr curl = TlsHandle(ca_.ca_file);
    Response response = Fetch(curl.get(), Url("/json"));
    EXPECT_EQ(response.result, CURLE_OK) << curl_easy_strerror(response.result);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), kJsonBodySize);
  }

  TempDir dir_{"testserver-tls"};
  TestCa ca_ = MakeTestCa(dir_.path());
  HttpTestServer server_{TlsOptions(ca_)};
};

TEST_F(HttpsTestServerTest, ServesThePagesOverVerifiedTls) {
  EXPECT_EQ(server_.BaseUrl(), "https://127.0.0.1:" + std::to_string(server_.port()));
  HttpTestServer plain(Options{});
  for (int page = 1; page <= 3; ++page) {
    const std::string target = "/page/" + std::to_string(page);
    CurlPtr curl = TlsHandle(ca_.ca_file);
    Response response = Fetch(curl.get(), Url(target));
    ASSERT_EQ(response.result, CURLE_OK) << curl_easy_strerror(response.result);
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body, Get(plain.BaseUrl() + target).body);  // the very same bytes
    curl_off_t appconnect_us = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_APPCONNECT_TIME_T, &appconnect_us);
    EXPECT_GT(appconnect_us, 0);  // a handshake happened
    long version = 0;
    curl_easy_getinfo(curl.get(), CURLINFO_HTTP_VERSION, &version);
    EXPECT_EQ(version, CURL_HTTP_VERSION_1_1);  // curl offered h2 too; ALPN chose http/1.1
  }
  // The DNS name in the certificate verifies as well as the IP address.
  CurlPtr curl = TlsHandle(ca_.ca_file);
  Response by_name = Fetch(curl.get(), "https://localhost:" + std::to_string(server_.port()) + "/json");
  EXPECT_EQ(by_name.result, CURLE_OK) << curl_easy_strerror(by_name.result);
  EXPECT_EQ(by_name.body.size(), kJsonBodySize);
}

TEST_F(HttpsTestServerTest, EchoWorksOverTls) {
  CurlPtr curl = TlsHandle(ca_.ca_file);
  const std::string body = AllBytes(50000);
  Response response = Send(curl.get(), Url("/echo"), "POST", {"Content-Type: application/json"}, body);
  ASSERT_EQ(response.status, 200) << curl_easy_strerror(response.result);
  const nlohmann::json echo = nlohmann::json::parse(response.body);
  EXPECT_EQ(echo["method"], "POST");
  EXPECT_EQ(echo["body_sha256"], Sha256Hex(body));
}

TEST_F(HttpsTestServerTest, LargeChunkedAndDelayedRepliesArriveWhole) {
  CurlPtr curl = TlsHandle(ca_.ca_file);
  for (const std::string target : {"/bytes/3145728", "/bytes/200001?chunked=1", "/bytes/1000?delay=50"}) {
    Response response = Fetch(curl.get(), Url(target));
    ASSERT_EQ(response.result, CURLE_OK) << target;
    EXPECT_EQ(response.status, 200);
    EXPECT_EQ(response.body.size(), std::stoul(target.substr(7)));
    EXPECT_TRUE(IsFiller(response.body)) << target;
  }
  EXPECT_EQ(server_.connections_accepted(), 1u);
}

TEST_F(HttpsTestServerTest, TwoGetsOnOneHandleReuseTheConnection) {
  CurlPtr curl = TlsHandle(ca_.ca_file);
  long connects = -1;
  ASSERT_EQ(Fetch(curl.get(), Url("/page/1")).status, 200);
  curl_easy_getinfo(curl.get(), CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 1);
  ASSERT_EQ(Fetch(curl.get(), Url("/page/2")).status, 200);
  curl_easy_getinfo(curl.get(), CURLINFO_NUM_CONNECTS, &connects);
  EXPECT_EQ(connects, 0);
  EXPECT_EQ(server_.connections_accepted(), 1u);
}

TEST_F(HttpsTestServerTest, TlsOneTwoAndOneThreeAreBothServed) {
  for (long version : {kTls12Only, kTls13Only}) {
    CurlPtr curl = TlsHandle(ca_.ca_file);
    curl_easy_setopt(curl.get(), CURLOPT_SSLVERSION, version);
    Response response = Fetch(curl.get(), Url("/json"));
    EXPECT_EQ(response.result, CURLE_OK) << version << ": " << curl_easy_strerror(response.result);
    EXPECT_EQ(response.status, 200);
  }
}

// Write callback that also notes whether the transfer's TLS session was
// resumed (the SSL is only reachable while the transfer runs).
struct ResumptionProbe {
  CURL* curl = nullptr;
  int reused = -1;  // SSL_session_reused, -1 until a body byte arrived
};
size_t ProbeResumption(char*, size_t size, size_t count, void* user) {
  auto* probe = static_cast<ResumptionProbe*>(user);
  curl_tlssessioninfo* info = nullptr;
  if (curl_easy_getinfo(probe->curl, CURLINFO_TLS_SSL_PTR, &info) == CURLE_OK && info != nullptr &&
      info->backend == CURLSSLBACKEND_OPENSSL && info->internals != nullptr) {
    probe->reused = SSL_session_reused(static_cast<SSL*>(info->internals));
  }
  return size * count;
}

TEST_F(HttpsTestServerTest, EveryNewConnectionIsAFullHandshake) {
  for (long version : {kTls12Only, kTls13Only}) {
    // One handle keeps curl's TLS session cache: it resumes when it can.
    CurlPtr curl = TlsHandle(ca_.ca_file);
    curl_easy_setopt(curl.get(), CURLOPT_SSLVERSION, version);
    curl_easy_setopt(curl.get(), CURLOPT_FRESH_CONNECT, 1L);
    curl_easy_setopt(curl.get(), CURLOPT_URL, Url("/json").c_str());
    curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &ProbeResumption);
    for (int i = 0; i < 3; ++i) {
      ResumptionProbe probe{curl.get()};
      curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &probe);
      ASSERT_EQ(curl_easy_perform(curl.get()), CURLE_OK);
      EXPECT_EQ(probe.reused, 0) << version << " #" << i;
    }
  }
  EXPECT_EQ(server_.connections_accepted(), 6u);
}

TEST_F(HttpsTestServerTest, ClientWithAnotherCaFailsAndServerKeepsServing) {
  TempDir other_dir("testserver-tls");
  const TestCa other = MakeTestCa(other_dir.path());
  ExpectHealthy();  // warm: descriptors libcurl keeps for the process are open now
  const size_t descriptors = OpenDescriptors();
  const uint64_t connections = server_.connections_accepted();
  for (int i = 0; i < 20; ++i) {
    CurlPtr curl = TlsHandle(other.ca_file);
    Response response = Fetch(curl.get(), Url("/json"));
    EXPECT_EQ(response.result, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(response.result);
  }
  EXPECT_EQ(server_.connections_accepted(), connections + 20);
  // The server closed its side of every failed handshake. At most as many
  // as before: the health check's own connection may close on the server's
  // side only after `descriptors` was counted.
  EXPECT_TRUE(Eventually([&] { return OpenDescriptors() <= descriptors; }))
      << OpenDescriptors() << " open, " << descriptors << " before";
  ExpectHealthy();
}

TEST_F(HttpsTestServerTest, PlainHttpAndBrokenHandshakesAreDroppedWithoutHarm) {
  ExpectHealthy();
  const size_t descriptors = OpenDescriptors();
  {
    RawClient plain(server_.port());
    plain.SendGet("/json");  // not a ClientHello
    const std::string answer = plain.ReadAtLeast(size_t{1} << 20);
    EXPECT_EQ(answer.find("HTTP/1.1"), std::string::npos);  // never served in the clear
  }
  for (int i = 0; i < 10; ++i) {
    RawClient client(server_.port());
    if (i % 2 == 0) {
      const char partial_hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01};  // a record header, then silence
      ASSERT_EQ(send(client.fd(), partial_hello, sizeof(partial_hello), MSG_NOSIGNAL),
                static_cast<ssize_t>(sizeof(partial_hello)));
    }
    client.Close(/*reset=*/i % 4 < 2);
  }
  // At most as many as before: the health check's own connection may close
  // on the server's side only after `descriptors` was counted.
  EXPECT_TRUE(Eventually([&] { return OpenDescriptors() <= descriptors; }))
      << OpenDescriptors() << " open, " << descriptors << " before";
  ExpectHealthy();
}

TEST_F(HttpsTestServerTest, ClientLeavingMidDripStopsTheDrip) {
  CurlPtr curl = TlsHandle(ca_.ca_file);
  Response response = Fetch(curl.get(), Url("/drip?bytes=1000&interval_ms=20"), /*timeout_ms=*/300);
  EXPECT_EQ(response.result, CURLE_OPERATION_TIMEDOUT);
  EXPECT_FALSE(response.body.empty());  // it had started
  EXPECT_TRUE(Eventually([&] { return server_.pending_replies() == 0; }));
  ExpectHealthy();
}

TEST(HttpsTestServerLifecycleTest, StopWithTlsConnectionsOpenClosesThemAll) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  TempDir dir("testserver-tls");
  const TestCa ca = MakeTestCa(dir.path());
  { HttpTestServer warm(TlsOptions(ca)); }  // OpenSSL's lazily opened files are open now
  const size_t descriptors = OpenDescriptors();
  {
    HttpTestServer server(TlsOptions(ca));
    std::vector<std::unique_ptr<RawClient>> handshaking;
    for (int i = 0; i < 5; ++i) handshaking.push_back(std::make_unique<RawClient>(server.port()));
    std::vector<std::string> urls(10, server.BaseUrl() + "/json?delay=60000");
    std::thread stopper([&] {
      Eventually([&] { return server.pending_replies() == 10; });
      server.Stop();
    });
    CurlMultiPtr multi(curl_multi_init());
    std::vector<CurlPtr> handles;
    std::vector<Response> responses(urls.size());
    for (size_t i = 0; i < urls.size(); ++i) {
      handles.push_back(TlsHandle(ca.ca_file));
      Prepare(handles.back().get(), urls[i], &responses[i], 20000);
      curl_multi_add_handle(multi.get(), handles.back().get());
    }
    int running = 1;
    while (running > 0) {
      curl_multi_perform(multi.get(), &running);
      if (running > 0) curl_multi_poll(multi.get(), nullptr, 0, 100, nullptr);
    }
    stopper.join();
    EXPECT_EQ(server.pending_replies(), 0u);
    for (CurlPtr& handle : handles) curl_multi_remove_handle(multi.get(), handle.get());
  }
  EXPECT_EQ(OpenDescriptors(), descriptors);
  curl_global_cleanup();
}

TEST(HttpsTestServerOptionsTest, BadTlsFilesThrowNamingThem) {
  TempDir dir("testserver-tls");
  TempDir other_dir("testserver-tls");
  const TestCa ca = MakeTestCa(dir.path());
  const TestCa other = MakeTestCa(other_dir.path());
  auto message = [](Options options) -> std::string {
    try {
      HttpTestServer server(options);
    } catch (const std::runtime_error& e) {
      return e.what();
    }
    return "no exception";
  };
  Options cert_only;
  cert_only.tls_cert_file = ca.cert_file;
  EXPECT_NE(message(cert_only).find("both"), std::string::npos) << message(cert_only);

  Options missing = TlsOptions(ca);
  missing.tls_cert_file = dir.File("nonexistent.pem");
  EXPECT_NE(message(missing).find("cannot load TLS certificate " + missing.tls_cert_file), std::string::npos)
      << message(missing);

  Options mismatched = TlsOptions(ca);
  mismatched.tls_key_file = other.key_file;
  EXPECT_NE(message(mismatched).find("cannot load TLS key " + other.key_file), std::string::npos)
      << message(mismatched);
  EXPECT_NE(message(mismatched).find("mismatch"), std::string::npos) << message(mismatched);
}

// ---------------------------------------------------------------------------
// The standalone binary.

TEST(TestServerBinaryTest, ServesUntilSigterm) {
  const std::string port_file = ::testing::TempDir() + "testserver_port_" + std::to_string(getpid());
  std::remove(port_file.c_str());
  taskfarm::testing::Subprocess server(
      {taskfarm::testing::BinaryPath("testserver"), "--port=0", "--port-file", port_file});
  std::optional<std::string> line =
      server.WaitForLine([](const std::string& l) { return l.rfind("listening on ", 0) == 0; }, milliseconds(10000));
  ASSERT_TRUE(line.has_value()) << server.Wait(milliseconds(1000)).err;
  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_EQ(line->rfind(prefix, 0), 0u) << *line;
  const std::string port = line->substr(prefix.size());

  std::ifstream in(port_file);
  std::string written;
  std::getline(in, written);
  EXPECT_EQ(written, port);

  Response response = Get(line->substr(std::string("listening on ").size()) + "/json");
  EXPECT_EQ(response.status, 200);
  EXPECT_EQ(response.body.size(), kJsonBodySize);

  server.Signal(SIGTERM);
  taskfarm::testing::ProcessResult result = server.Wait(milliseconds(10000));
  EXPECT_FALSE(result.timed_out);
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, *line + "\n");  // exactly one line
  std::remove(port_file.c_str());
}

TEST(TestServerBinaryTest, SigintWhileRequestsAreDelayedExitsZero) {
  taskfarm::testing::Subprocess server({taskfarm::testing::BinaryPath("testserver"), "--delay", "60000"});
  std::optional<std::string> line =
      server.WaitForLine([](const std::string& l) { return l.rfind("listening on ", 0) == 0; }, milliseconds(10000));
  ASSERT_TRUE(line.has_value());
  const uint16_t port = static_cast<uint16_t>(std::stoi(line->substr(line->rfind(':') + 1)));
  RawClient client(port);
  client.SendGet("/json");
  std::this_thread::sleep_for(milliseconds(100));
  server.Signal(SIGINT);
  taskfarm::testing::ProcessResult result = server.Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0) << result.err;
}

// The announced URL, and the CA line when there is one.
struct Announcement {
  std::string url;
  std::string ca_file;  // empty: no "CA certificate:" line expected
};

Announcement ReadAnnouncement(taskfarm::testing::Subprocess& server, bool expect_ca) {
  Announcement announced;
  std::optional<std::string> line =
      server.WaitForLine([](const std::string& l) { return l.rfind("listening on ", 0) == 0; }, milliseconds(10000));
  if (!line) return announced;
  announced.url = line->substr(std::string("listening on ").size());
  if (expect_ca) {
    std::optional<std::string> ca = server.WaitForLine([](const std::string&) { return true; }, milliseconds(10000));
    const std::string prefix = "CA certificate: ";
    if (ca && ca->rfind(prefix, 0) == 0) announced.ca_file = ca->substr(prefix.size());
  }
  return announced;
}

TEST(TestServerBinaryTest, HttpsMakesACaInTmpdirAndAnnouncesIt) {
  TempDir tmpdir("testserver-bin");
  const std::string port_file = tmpdir.File("port");
  taskfarm::testing::Subprocess server(
      {taskfarm::testing::BinaryPath("testserver"), "--https", "--port-file", port_file}, {"TMPDIR=" + tmpdir.path()});
  const Announcement announced = ReadAnnouncement(server, /*expect_ca=*/true);
  const std::string prefix = "https://127.0.0.1:";
  ASSERT_EQ(announced.url.rfind(prefix, 0), 0u) << server.Wait(milliseconds(1000)).err;
  ASSERT_EQ(announced.ca_file.rfind(tmpdir.path() + "/testserver-tls.", 0), 0u) << announced.ca_file;
  std::ifstream in(port_file);
  std::string written;
  std::getline(in, written);
  EXPECT_EQ(written, announced.url.substr(prefix.size()));

  curl_global_init(CURL_GLOBAL_DEFAULT);
  {
    CurlPtr curl = TlsHandle(announced.ca_file);
    Response response = Fetch(curl.get(), announced.url + "/page/1");
    EXPECT_EQ(response.result, CURLE_OK) << curl_easy_strerror(response.result);
    EXPECT_EQ(response.body.size(), kTutorialPageSizes[0]);
  }
  curl_global_cleanup();

  server.Signal(SIGTERM);
  taskfarm::testing::ProcessResult result = server.Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, "listening on " + announced.url + "\nCA certificate: " + announced.ca_file + "\n");
  // Left in place for clients (TempDir removes it here).
  EXPECT_TRUE(std::filesystem::exists(announced.ca_file));
}

TEST(TestServerBinaryTest, HttpsWithTlsDirOrGivenFiles) {
  TempDir dir("testserver-bin");
  {
    taskfarm::testing::Subprocess server(
        {taskfarm::testing::BinaryPath("testserver"), "--https", "--tls-dir", dir.path()});
    const Announcement announced = ReadAnnouncement(server, /*expect_ca=*/true);
    EXPECT_EQ(announced.ca_file, dir.File("ca.pem"));
    server.Signal(SIGTERM);
    EXPECT_EQ(server.Wait(milliseconds(10000)).exit_code, 0);
  }
  // Serving the files just written: no CA line, the same CA verifies.
  taskfarm::testing::Subprocess server(
      {taskfarm::testing::BinaryPath("testserver"), "--cert", dir.File("server.pem"), "--key", dir.File("server.key")});
  const Announcement announced = ReadAnnouncement(server, /*expect_ca=*/false);
  ASSERT_EQ(announced.url.rfind("https://127.0.0.1:", 0), 0u);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  {
    CurlPtr curl = TlsHandle(dir.File("ca.pem"));
    EXPECT_EQ(Fetch(curl.get(), announced.url + "/json").status, 200);
  }
  curl_global_cleanup();
  server.Signal(SIGTERM);
  taskfarm::testing::ProcessResult result = server.Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0);
  EXPECT_EQ(result.out, "listening on " + announced.url + "\n");
}

TEST(TestServerBinaryTest, BadTlsArgumentsExit2AndUnloadableFilesExit1) {
  TempDir dir("testserver-bin");
  const std::string junk = dir.File("junk.pem");
  std::ofstream(junk) << "not a certificate\n";
  const std::string bin = taskfarm::testing::BinaryPath("testserver");
  const std::vector<std::vector<std::string>> usage_errors = {
      {bin, "--cert", junk},                          // no --key
      {bin, "--tls-dir", dir.path()},                 // no --https
      {bin, "--https", "--tls-dir", "/nonexistent"},  // no such directory
      {bin, "--https", "--tls-dir", dir.path(), "--cert", junk, "--key", junk},
  };
  for (const std::vector<std::string>& argv : usage_errors) {
    taskfarm::testing::ProcessResult result = taskfarm::testing::Subprocess(argv).Wait(milliseconds(10000));
    EXPECT_EQ(result.exit_code, 2) << argv.back() << ": " << result.err;
    EXPECT_TRUE(result.out.empty());
    EXPECT_EQ(std::count(result.err.begin(), result.err.end(), '\n'), 1) << result.err;
  }
  taskfarm::testing::ProcessResult unloadable =
      taskfarm::testing::Subprocess({bin, "--cert", junk, "--key", junk}).Wait(milliseconds(10000));
  EXPECT_EQ(unloadable.exit_code, 1);
  EXPECT_TRUE(unloadable.out.empty());
  EXPECT_NE(unloadable.err.find("cannot load TLS certificate " + junk), std::string::npos) << unloadable.err;
}

TEST(TestServerBinaryTest, BadArgumentsExit2AndBindFailureExits1) {
  taskfarm::testing::ProcessResult bad =
      taskfarm::testing::Subprocess({taskfarm::testing::BinaryPath("testserver"), "--port", "notaport"})
          .Wait(milliseconds(10000));
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_TRUE(bad.out.empty());
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;

  HttpTestServer occupant(Options{});
  taskfarm::testing::ProcessResult clash = taskfarm::testing::Subprocess({taskfarm::testing::BinaryPath("testserver"),
                                                                          "--port", std::to_string(occupant.port())})
                                               .Wait(milliseconds(10000));
  EXPECT_EQ(clash.exit_code, 1);
  EXPECT_TRUE(clash.out.empty());
  EXPECT_EQ(std::count(clash.err.begin(), clash.err.end(), '\n'), 1) << clash.err;
  EXPECT_NE(clash.err.find("cannot listen"), std::string::npos) << clash.err;
}

}  // namespace
}  // namespace taskfarm::testserver
