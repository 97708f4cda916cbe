// Tests for the latency proxy (the stand-in for a network's round-trip time):
// what a GET costs on a new and on a reused connection, a large body through
// its back-pressure, ends of stream in both directions, a refused upstream,
// shutdown with connections open, and the `testserver` binary's --rtt.
// Real sockets on loopback, libcurl as the client, the project's HTTP test
// server behind the proxy; the timing bounds are generous for a loaded box.
#include "testserver/latency_proxy.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/subprocess.h"
#include "testserver/http_test_server.h"
#include "worker/curl_handles.h"

namespace taskfarm::testserver {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;

constexpr double kRttMs = 40;

double MillisSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

std::string LoopbackUrl(uint16_t port, const std::string& target) {
  return "http://127.0.0.1:" + std::to_string(port) + target;
}

// ---------------------------------------------------------------------------
// libcurl: one GET, timed, its body counted and checked against the filler.

struct Download {
  CURLcode result = CURLE_OK;
  long status = 0;
  double ms = 0;
  std::string body;  // kept unless `count_only`
  uint64_t bytes = 0;
  bool filler = true;  // every byte so far was FillerByte(offset)
  bool count_only = false;
  milliseconds first_pause{0};  // sleep once, in the first write callback
};

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* download = static_cast<Download*>(user);
  const size_t n = size * count;
  if (download->first_pause.count() > 0) {
    std::this_thread::sleep_for(download->first_pause);
    download->first_pause = milliseconds(0);
  }
  for (size_t i = 0; i < n && download->filler; ++i) {
    download->filler = data[i] == FillerByte(download->bytes + i);
  }
  if (!download->count_only) download->body.append(data, n);
  download->bytes += n;
  return n;
}

// GETs `url` on `curl`, whose connection cache carries over between calls.
void Get(const CurlEasy& curl, const std::string& url, Download* download, long timeout_ms = 10000) {
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, download);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  const Clock::time_point start = Clock::now();
  download->result = curl_easy_perform(curl.get());
  download->ms = MillisSince(start);
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &download->status);
}

Download Get(const std::string& url) {
  CurlEasy curl = MakeCurlEasy();
  Download download;
  Get(curl, url, &download);
  return download;
}

// ---------------------------------------------------------------------------
// Raw sockets, to see ends of stream exactly.

class Socket {
 public:
  explicit Socket(UniqueFd fd) : fd_(std::move(fd)) {}

  static Socket Connect(uint16_t port) {
    UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!fd || connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
      throw std::runtime_error("cannot connect to port " + std::to_string(port));
    }
    return Socket(std::move(fd));
  }

  void Send(const std::string& data) {
    ASSERT_EQ(send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL), static_cast<ssize_t>(data.size()));
  }
  void ShutdownWrite() { shutdown(fd_.get(), SHUT_WR); }

  // Everything until the peer's FIN (or a reset), or nullopt if `timeout`
  // passes first.
  std::optional<std::string> ReadToEnd(milliseconds timeout) {
    const Clock::time_point deadline = Clock::now() + timeout;
    std::string data;
    char buffer[65536];
    for (;;) {
      const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
      pollfd pfd{fd_.get(), POLLIN, 0};
      if (left.count() <= 0 || poll(&pfd, 1, static_cast<int>(left.count())) <= 0) return std::nullopt;
      const ssize_t n = recv(fd_.get(), buffer, sizeof(buffer), 0);
      if (n <= 0) return data;
      data.append(buffer, static_cast<size_t>(n));
    }
  }

 private:
  UniqueFd fd_;
};

// A bound TCP socket on 127.0.0.1; listening unless told not to, in which
// case connecting to its port is refused.
class Listener {
 public:
  explicit Listener(bool listening = true) : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(addr);
    if (!fd_ || bind(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        (listening && listen(fd_.get(), 16) != 0) ||
        getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &length) != 0) {
      throw std::runtime_error("cannot bind a loopback socket");
    }
    port_ = ntohs(addr.sin_port);
  }
  uint16_t port() const { return port_; }

  std::optional<Socket> Accept(milliseconds timeout) {
    pollfd pfd{fd_.get(), POLLIN, 0};
    if (poll(&pfd, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    UniqueFd fd(accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!fd) return std::nullopt;
    return Socket(std::move(fd));
  }

 private:
  UniqueFd fd_;
  uint16_t port_ = 0;
};

// Peak resident set of this process so far, in bytes.
uint64_t MaxRss() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;
}

// ---------------------------------------------------------------------------

class LatencyProxyTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { curl_global_init(CURL_GLOBAL_DEFAULT); }
  static void TearDownTestSuite() { curl_global_cleanup(); }

  std::string Url(const std::string& target) const { return LoopbackUrl(proxy_.port(), target); }

  HttpTestServer server_{Options{}};
  LatencyProxy proxy_{{.upstream_port = server_.port(), .rtt_ms = kRttMs}};
};

TEST_F(LatencyProxyTest, NewConnectionCostsTwoRoundTripsAndAReusedOneOne) {
  CurlEasy curl = MakeCurlEasy();
  Download first;
  Get(curl, Url("/json"), &first);
  ASSERT_EQ(first.result, CURLE_OK) << curl_easy_strerror(first.result);
  EXPECT_EQ(first.status, 200);
  EXPECT_EQ(first.body.size(), kJsonBodySize);
  // The request waits RTT/2 + the handshake's RTT, the reply RTT/2.
  EXPECT_GE(first.ms, 1.9 * kRttMs);
  EXPECT_LT(first.ms, 2 * kRttMs + 200);

  Download second;
  Get(curl, Url("/json"), &second);
  ASSERT_EQ(second.result, CURLE_OK);
  EXPECT_EQ(second.body.size(), kJsonBodySize);
  EXPECT_GE(second.ms, kRttMs);
  EXPECT_LT(second.ms, kRttMs + 150);

  EXPECT_EQ(proxy_.connections_accepted(), 1u);
  EXPECT_EQ(server_.connections_accepted(), 1u);  // reused through the proxy too
  std::cout << "at " << kRttMs << " ms RTT: first GET " << first.ms << " ms, reused GET " << second.ms << " ms\n";
}

TEST_F(LatencyProxyTest, FiftyMegabytesArriveIntactWithoutBeingHeldWhole) {
  constexpr uint64_t kSize = 50 << 20;
  const uint64_t rss_before = MaxRss();
  CurlEasy curl = MakeCurlEasy();
  Download download;
  download.count_only = true;
  // While the client sleeps the server could push the whole body into the
  // proxy; back-pressure must stop reading it instead.
  download.first_pause = milliseconds(500);
  Get(curl, Url("/bytes/" + std::to_string(kSize)), &download, 60000);
  ASSERT_EQ(download.result, CURLE_OK) << curl_easy_strerror(download.result);
  EXPECT_EQ(download.status, 200);
  EXPECT_EQ(download.bytes, kSize);
  EXPECT_TRUE(download.filler);
  // A window held plus a window (and one read) queued to the client.
  EXPECT_GT(proxy_.max_bytes_held(), 0u);
  EXPECT_LE(proxy_.max_bytes_held(), 2 * kLatencyProxyWindow + (1 << 20));
  EXPECT_LT(MaxRss() - rss_before, uint64_t{40} << 20);
  std::cout << "50 MiB in " << download.ms << " ms, at most " << proxy_.max_bytes_held()
            << " bytes held, peak RSS grew " << (MaxRss() - rss_before) / 1024 << " KiB\n";
}

TEST_F(LatencyProxyTest, ServerCloseReachesTheClientAfterTheReply) {
  Socket client = Socket::Connect(proxy_.port());
  const Clock::time_point start = Clock::now();
  client.Send("GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
  std::optional<std::string> reply = client.ReadToEnd(milliseconds(5000));
  ASSERT_TRUE(reply.has_value()) << "the server's close never reached the client";
  EXPECT_GE(MillisSince(start), 1.9 * kRttMs);
  EXPECT_EQ(reply->rfind("HTTP/1.1 200", 0), 0u) << *reply;
  EXPECT_EQ(reply->substr(reply->size() - 2), "}\n");  // the whole body came before the end
}

TEST(LatencyProxyRawTest, EachDirectionsEndFollowsItsBytesByHalfARoundTrip) {
  Listener upstream;
  LatencyProxy proxy({.upstream_port = upstream.port(), .rtt_ms = kRttMs});
  Socket client = Socket::Connect(proxy.port());
  const Clock::time_point sent = Clock::now();
  client.Send("first flight, ");
  client.Send("then more");
  client.ShutdownWrite();

  std::optional<Socket> server = upstream.Accept(milliseconds(5000));
  ASSERT_TRUE(server.has_value());
  std::optional<std::string> request = server->ReadToEnd(milliseconds(5000));
  ASSERT_TRUE(request.has_value()) << "the client's FIN never reached the server";
  EXPECT_EQ(*request, "first flight, then more");
  EXPECT_GE(MillisSince(sent), 1.5 * kRttMs);  // RTT/2 plus the handshake's RTT

  // After the client's half-close the other direction still works.
  const Clock::time_point replied = Clock::now();
  server->Send("the reply");
  *server = Socket(UniqueFd());  // closes it
  std::optional<std::string> reply = client.ReadToEnd(milliseconds(5000));
  ASSERT_TRUE(reply.has_value()) << "the server's FIN never reached the client";
  EXPECT_EQ(*reply, "the reply");
  EXPECT_GE(MillisSince(replied), 0.5 * kRttMs);
}

TEST(LatencyProxyRawTest, RefusedUpstreamClosesTheClientConnection) {
  Listener refusing(/*listening=*/false);
  LatencyProxy proxy({.upstream_port = refusing.port(), .rtt_ms = kRttMs});

  Socket client = Socket::Connect(proxy.port());
  client.Send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  std::optional<std::string> reply = client.ReadToEnd(milliseconds(5000));
  ASSERT_TRUE(reply.has_value()) << "the client's connection was left open";
  EXPECT_EQ(*reply, "");

  Download download = Get(LoopbackUrl(proxy.port(), "/json"));
  EXPECT_TRUE(download.result == CURLE_GOT_NOTHING || download.result == CURLE_RECV_ERROR)
      << curl_easy_strerror(download.result);
  EXPECT_LT(download.ms, 2000);
  EXPECT_EQ(proxy.connections_accepted(), 2u);
}

TEST(LatencyProxyRawTest, StopWithConnectionsOpenReturnsPromptlyAndClosesThem) {
  HttpTestServer server(Options{});
  // Ten seconds: every request is still held when Stop() comes.
  LatencyProxy proxy({.upstream_port = server.port(), .rtt_ms = 10000});
  std::vector<Socket> clients;
  for (int i = 0; i < 5; ++i) {
    clients.push_back(Socket::Connect(proxy.port()));
    clients.back().Send("GET /json HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
  }
  const Clock::time_point deadline = Clock::now() + milliseconds(5000);
  while (proxy.connections_accepted() < 5 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(5));
  }
  ASSERT_EQ(proxy.connections_accepted(), 5u);

  const Clock::time_point start = Clock::now();
  proxy.Stop();
  EXPECT_LT(MillisSince(start), 1000);
  for (Socket& client : clients) {
    std::optional<std::string> reply = client.ReadToEnd(milliseconds(2000));
    ASSERT_TRUE(reply.has_value()) << "a connection outlived Stop()";
    EXPECT_EQ(*reply, "");  // held bytes are dropped, not delivered early
  }
  proxy.Stop();  // idempotent
  EXPECT_NE(proxy.port(), 0);
  EXPECT_THROW(Socket::Connect(proxy.port()), std::runtime_error);
}

TEST(LatencyProxyRawTest, BadOptionsAreRefusedWithTheReason) {
  Listener occupant;
  try {
    LatencyProxy proxy({.listen_port = occupant.port(), .upstream_port = 1});
    FAIL() << "listened on an occupied port";
  } catch (const std::runtime_error& e) {
    EXPECT_EQ(std::string(e.what()), "latency proxy: cannot listen on 127.0.0.1:" + std::to_string(occupant.port()) +
                                         ": Address already in use");
  }
  EXPECT_THROW(LatencyProxy({.upstream_port = 1, .rtt_ms = -1}), std::invalid_argument);
  EXPECT_THROW(LatencyProxy({.upstream_address = "localhost", .upstream_port = 1}), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// The standalone binary.

TEST(TestServerRttTest, AnnouncesTheProxysUrlAndTheRoundTripTime) {
  const std::string port_file = ::testing::TempDir() + "latency_proxy_port_" + std::to_string(getpid());
  std::remove(port_file.c_str());
  taskfarm::testing::Subprocess process(
      {taskfarm::testing::BinaryPath("testserver"), "--rtt", "40", "--port-file", port_file});
  std::optional<std::string> listening =
      process.WaitForLine([](const std::string& l) { return l.rfind("listening on ", 0) == 0; }, milliseconds(10000));
  ASSERT_TRUE(listening.has_value()) << process.Wait(milliseconds(1000)).err;
  std::optional<std::string> rtt =
      process.WaitForLine([](const std::string& l) { return l.rfind("round-trip", 0) == 0; }, milliseconds(5000));
  ASSERT_TRUE(rtt.has_value());

  const std::string prefix = "listening on http://127.0.0.1:";
  ASSERT_EQ(listening->rfind(prefix, 0), 0u) << *listening;
  const std::string proxy_port = listening->substr(prefix.size());
  std::ifstream in(port_file);
  std::string written;
  std::getline(in, written);
  EXPECT_EQ(written, proxy_port);

  const std::string rtt_prefix = "round-trip time: 40 ms (a latency proxy in front of port ";
  const std::string rtt_suffix = ": a stand-in for a network)";
  ASSERT_EQ(rtt->rfind(rtt_prefix, 0), 0u) << *rtt;
  ASSERT_GT(rtt->size(), rtt_prefix.size() + rtt_suffix.size());
  ASSERT_EQ(rtt->substr(rtt->size() - rtt_suffix.size()), rtt_suffix) << *rtt;
  const std::string server_port = rtt->substr(rtt_prefix.size(), rtt->size() - rtt_prefix.size() - rtt_suffix.size());
  EXPECT_NE(server_port, proxy_port);

  curl_global_init(CURL_GLOBAL_DEFAULT);
  Download through = Get(listening->substr(std::string("listening on ").size()) + "/json");
  ASSERT_EQ(through.result, CURLE_OK);
  EXPECT_EQ(through.body.size(), kJsonBodySize);
  EXPECT_GE(through.ms, 1.9 * 40);
  Download direct = Get(LoopbackUrl(static_cast<uint16_t>(std::stoi(server_port)), "/json"));
  ASSERT_EQ(direct.result, CURLE_OK);
  EXPECT_LT(direct.ms, 40);  // the server itself answers without the round trips
  curl_global_cleanup();

  process.Signal(SIGTERM);
  taskfarm::testing::ProcessResult result = process.Wait(milliseconds(10000));
  EXPECT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(result.out, *listening + "\n" + *rtt + "\n");
  std::remove(port_file.c_str());
}

}  // namespace
}  // namespace taskfarm::testserver
