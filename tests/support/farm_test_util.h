// Shared helpers for the integration tests: run the real coordinator
// binary, write task files, read its JSON-lines output.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/temp_dir.h"
#include "tests/support/subprocess.h"
#include "testserver/http_test_server.h"

namespace taskfarm::testing {

// A scratch directory for one test, removed afterwards.
class ScratchDir {
 public:
  std::string File(const std::string& name) const { return dir_.File(name); }
  std::string Write(const std::string& name, const std::string& text) const {
    std::ofstream(File(name)) << text;
    return File(name);
  }
  const std::string& path() const { return dir_.path(); }

 private:
  TempDir dir_{"taskfarm-test"};
};

// A test with the loopback HTTP test server running and a scratch directory.
class LoopbackServerTest : public ::testing::Test {
 protected:
  testserver::HttpTestServer server_{testserver::Options{}};
  ScratchDir dir_;
  std::string Url(const std::string& path) { return server_.BaseUrl() + path; }
};

// A file's whole contents, bytes as they are ("" if it cannot be read).
inline std::string ReadText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<nlohmann::json> ReadJsonLines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

// id -> record; fails the test if an id appears twice or ids are not 0..n-1.
inline std::map<int, nlohmann::json> ById(const std::vector<nlohmann::json>& records, int expected) {
  std::map<int, nlohmann::json> by_id;
  for (const auto& r : records) {
    int id = r.value("id", 0);
    EXPECT_TRUE(by_id.emplace(id, r).second) << "id " << id << " recorded twice";
  }
  EXPECT_EQ(static_cast<int>(by_id.size()), expected);
  if (!by_id.empty()) {
    EXPECT_EQ(by_id.begin()->first, 0);
    EXPECT_EQ(by_id.rbegin()->first, expected - 1);
  }
  return by_id;
}

inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

// Characters, as a terminal counts them (UTF-8 code points).
inline size_t Columns(const std::string& line) {
  size_t n = 0;
  for (unsigned char c : line) n += (c & 0xC0) != 0x80;
  return n;
}

inline int CountLines(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) n += line.find(needle) != std::string::npos;
  return n;
}

// A TCP port on 127.0.0.1 that was free a moment ago (for --bind). Chosen
// below the kernel's ephemeral range (32768+), so an outgoing connection of
// a test running beside this one cannot take it before the coordinator binds.
inline int FreePort() {
  static std::mt19937 rng(static_cast<unsigned>(getpid()) * 7919u + static_cast<unsigned>(time(nullptr)));
  for (int attempt = 0; attempt < 200; ++attempt) {
    int port = 20000 + static_cast<int>(rng() % 12000);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bool free = bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    close(fd);
    if (free) return port;
  }
  ADD_FAILURE() << "no free port found";
  return 0;
}

// `line` n times, one per line.
inline std::string Repeat(const std::string& line, int n) {
  std::string s;
  for (int i = 0; i < n; ++i) s += line + "\n";
  return s;
}

inline std::vector<std::string> Coordinator(std::vector<std::string> args) {
  args.insert(args.begin(), BinaryPath("coordinator"));
  return args;
}

// Whether `pid` is a coordinator's fork server (coordinator/fork_server.h),
// by its name: a child of the coordinator, and no worker.
inline bool IsForkServer(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(in, name);
  return name == "taskfarm-fork";
}

// Live (non-zombie) children of `parent`; a coordinator's fork server left
// out, so for a coordinator these are its workers.
inline std::vector<pid_t> LiveChildren(pid_t parent) {
  std::vector<pid_t> out;
  for (pid_t c : ChildrenOf(parent)) {
    if (!IsZombie(c) && !IsForkServer(c)) out.push_back(c);
  }
  return out;
}

// Waits until `parent` has `n` live children; returns them.
inline std::vector<pid_t> WaitForChildren(pid_t parent, size_t n,
                                          std::chrono::milliseconds timeout = std::chrono::milliseconds(10000)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::vector<pid_t> kids;
  while (std::chrono::steady_clock::now() < deadline) {
    kids = LiveChildren(parent);
    if (kids.size() >= n) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return kids;
}

}  // namespace taskfarm::testing
