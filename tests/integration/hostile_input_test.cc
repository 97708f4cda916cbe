// Hostile and broken input: garbage on the coordinator's socket and URLs
// that misbehave. Each becomes a counted drop or a recorded failure; the
// run completes.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <zmq.hpp>

#include "common/frame_codec.h"
#include "tests/support/farm_test_util.h"
#include "testserver/http_test_server.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

void SendRawTcp(int port, const std::string& bytes) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
    (void)!write(fd, bytes.data(), bytes.size());
    std::this_thread::sleep_for(milliseconds(300));
  }
  close(fd);
}

TEST(HostileInputTest, GarbageOnTheSocketIsCountedAndTheRunCompletes) {
  ScratchDir dir;
  std::string text;
  for (int i = 0; i < 30; ++i) text += "sleep 100\n";
  std::string tasks = dir.Write("t.txt", text);
  std::string out = dir.File("R.jsonl");
  int port = FreePort();
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  Subprocess p(Coordinator({"--workers", "1", "--concurrency", "1", "--bind", endpoint, "--heartbeat-timeout", "1",
                            "--tasks", tasks, "--output", out}));
  std::this_thread::sleep_for(milliseconds(300));

  zmq::context_t ctx;
  auto dealer = [&] {
    zmq::socket_t s(ctx, zmq::socket_type::dealer);
    s.set(zmq::sockopt::linger, 0);
    s.connect(endpoint);
    return s;
  };
  zmq::socket_t a = dealer();
  a.send(zmq::str_buffer("\x01\x02garbage\xff\xfe random bytes"));  // not protobuf
  a.send(zmq::buffer(std::string(5 * 1024 * 1024, 'x')));           // over kMaxFrameBytes
  pb::Frame wrong_version;
  wrong_version.mutable_heartbeat()->set_seq(1);
  std::string wv;
  wrong_version.set_version(static_cast<pb::ProtocolVersion>(7));
  wrong_version.SerializeToString(&wv);
  a.send(zmq::buffer(wv));  // unknown version
  pb::Frame empty;
  empty.set_version(pb::PROTOCOL_VERSION_CURRENT);
  a.send(zmq::buffer(empty.SerializeAsString()));                 // no body
  a.send(zmq::str_buffer("part one"), zmq::send_flags::sndmore);  // two parts
  a.send(zmq::str_buffer("part two"));
  pb::Frame result;
  auto* o = result.mutable_results()->add_outcomes();
  o->set_task_id(3);
  o->set_attempt(1);
  o->mutable_result()->set_ok(true);
  a.send(zmq::buffer(EncodeFrame(result)));  // result from a stranger
  zmq::socket_t b = dealer();
  b.send(zmq::buffer(std::string(20 * 1024 * 1024, 'y')));        // over ZMQ_MAXMSGSIZE
  SendRawTcp(port, "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");  // HTTP to the ZeroMQ port

  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 30);
  for (auto& [id, rec] : by_id) EXPECT_TRUE(rec["ok"].get<bool>());
  auto pos = r.out.find("dropped messages: ");
  ASSERT_NE(pos, std::string::npos) << r.out;
  std::string line = r.out.substr(pos, r.out.find('\n', pos) - pos);
  for (const char* reason : {"not protobuf", "too large", "wrong protocol version", "empty message",
                             "unexpected message", "result for unknown lease", "failed handshake"}) {
    EXPECT_NE(line.find(reason), std::string::npos) << "no '" << reason << "' in: " << line;
  }
}

using HostileUrlTest = LoopbackServerTest;

TEST_F(HostileUrlTest, MisbehavingUrlsBecomeRecordedFailures) {
  std::string tasks =
      dir_.Write("t.txt",
                 "url " + Url("/redirect-to?url=ftp%3A%2F%2F127.0.0.1%2Fsecret") + "\n" +  // 0: scheme after redirect
                     "url " + Url("/redirect/11") + "\n" +                                 // 1: too many redirects
                     "url " + Url("/redirect/10") + "\n" +                                 // 2: ten is allowed
                     "url " + Url("/bytes/2000000?chunked=1") + "\n" +          // 3: chunked, over --max-body
                     "url " + Url("/bytes/2000000") + "\n" +                    // 4: Content-Length over it
                     "url " + Url("/drip?bytes=100&interval_ms=2000") + "\n" +  // 5: drips 0.5 B/s
                     "url " + Url("/status/404") + "\n" +                       // 6: permanent
                     "url " + Url("/bytes/1000") + "\n");                       // 7: fine
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator(
      {"--workers", "2", "--max-body", "1000000", "--stall-timeout", "2", "--tasks", tasks, "--output", out}));
  ProcessResult r = p.Wait(seconds(90));
  EXPECT_EQ(r.exit_code, 1) << r.err;
  auto by_id = ById(ReadJsonLines(out), 8);
  auto error = [&](int id) { return by_id[id].value("error", std::string()); };
  for (int id : {0, 1, 3, 4, 5, 6}) EXPECT_FALSE(by_id[id]["ok"].get<bool>()) << id;
  EXPECT_NE(error(0).find("only http and https"), std::string::npos) << error(0);
  EXPECT_NE(error(1).find("too many redirects"), std::string::npos) << error(1);
  EXPECT_TRUE(by_id[2]["ok"].get<bool>()) << by_id[2].dump();
  EXPECT_NE(error(3).find("--max-body"), std::string::npos) << error(3);
  EXPECT_NE(error(4).find("--max-body"), std::string::npos) << error(4);
  EXPECT_FALSE(error(5).empty());
  EXPECT_EQ(by_id[6]["http_status"], 404);
  // Permanent failures are not retried.
  for (int id : {0, 1, 3, 4, 6}) EXPECT_EQ(by_id[id]["attempts"], 1) << id << by_id[id].dump();
  EXPECT_TRUE(by_id[7]["ok"].get<bool>());
}

// A URL no worker would fetch (no host, not http or https) is a bad line,
// found before anything runs; the worker's own check (above: a redirect to
// ftp) stays for what only shows at run time.
TEST_F(HostileUrlTest, UrlsThatAreNotHttpAreBadLinesBeforeTheRun) {
  std::string tasks = dir_.Write("t.txt", "url " + Url("/bytes/10") + "\nurl http://\nurl file:///etc/passwd\n");
  std::string out = dir_.File("R.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--tasks", tasks, "--output", out}));
  ProcessResult r = p.Wait(seconds(30));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find(tasks + ":2: 'url' takes an http:// or https:// URL with a host: 'http://'"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find(tasks + ":3: 'url' takes an http:// or https:// URL: 'file:///etc/passwd'"), std::string::npos)
      << r.err;
  EXPECT_TRUE(ReadJsonLines(out).empty()) << "nothing ran";
}

}  // namespace
}  // namespace taskfarm::testing
