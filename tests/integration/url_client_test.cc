// URL tasks as a real HTTP client, through the real coordinator and
// workers: HTTPS against the rig's CA, requests with a method, headers and
// a body that the server echoes back, saved downloads that survive killed
// workers, and a 2 GB body in flat memory.
#include <curl/curl.h>
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "tests/support/farm_test_util.h"
#include "tests/support/sha256_hex.h"
#include "testserver/http_test_server.h"
#include "testserver/test_ca.h"

namespace taskfarm::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// The body at `url`, fetched by libcurl itself (not by a worker), trusting `ca`.
std::string Fetch(const std::string& url, const std::string& ca) {
  std::string body;
  CURL* curl = curl_easy_init();
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_CAINFO, ca.c_str());
  curl_easy_setopt(
      curl, CURLOPT_WRITEFUNCTION, +[](char* d, size_t s, size_t n, void* u) {
        static_cast<std::string*>(u)->append(d, s * n);
        return s * n;
      });
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  CURLcode rc = curl_easy_perform(curl);
  curl_easy_cleanup(curl);
  EXPECT_EQ(rc, CURLE_OK) << url;
  return body;
}

// Names in `dir`, dot files (a killed worker's temporaries) apart.
std::set<std::string> FinalNames(const std::string& dir) {
  std::set<std::string> names;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') names.insert(e->d_name);
    }
    closedir(d);
  }
  return names;
}

class UrlClientTest : public ::testing::Test {
 protected:
  ScratchDir dir_;
  testserver::TestCa ca_ = testserver::MakeTestCa(dir_.path());
  testserver::HttpTestServer server_{testserver::Options{.tls_cert_file = ca_.cert_file, .tls_key_file = ca_.key_file}};
  std::string Url(const std::string& path) { return server_.BaseUrl() + path; }
};

TEST_F(UrlClientTest, HttpsTaskHasItsHandshakeTimeAndTheNextTaskReusesTheConnection) {
  ASSERT_EQ(server_.BaseUrl().rfind("https://", 0), 0u);
  std::string tasks = dir_.Write("t.txt", "url " + Url("/page/1") + "\nurl " + Url("/page/2") + "\n");
  std::string out = dir_.File("out.jsonl");
  Subprocess p(Coordinator(
      {"--workers", "1", "--concurrency", "1", "--cacert", ca_.ca_file, "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_EQ(server_.connections_accepted(), 1u);  // before the test's own fetches below
  auto by_id = ById(ReadJsonLines(out), 2);
  for (int id : {0, 1}) {
    const nlohmann::json& rec = by_id[id];
    EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    EXPECT_EQ(rec["http_status"], 200);
    EXPECT_EQ(rec["bytes"], testserver::kTutorialPageSizes[id]);
    EXPECT_EQ(rec["sha256"], Sha256Hex(Fetch(Url("/page/" + std::to_string(id + 1)), ca_.ca_file))) << rec.dump();
  }
  // The tasks ran one after the other on one worker: the first paid for
  // the TLS handshake, the second used its connection.
  const nlohmann::json *first = &by_id[0], *second = &by_id[1];
  if ((*first)["start_ms"].get<double>() > (*second)["start_ms"].get<double>()) std::swap(first, second);
  EXPECT_EQ((*first)["timings"]["new_connections"], 1) << first->dump();
  EXPECT_GT((*first)["timings"]["tls_ms"].get<double>(), 0) << first->dump();
  EXPECT_EQ((*second)["timings"]["new_connections"], 0) << second->dump();
}

TEST_F(UrlClientTest, AServerFromAnotherCaIsAPermanentFailureThatSaysTheCertificateIsNotTrusted) {
  ScratchDir other;
  testserver::TestCa stranger = testserver::MakeTestCa(other.path());
  std::string tasks = dir_.Write("t.txt", "url " + Url("/page/1") + "\n");
  std::string out = dir_.File("out.jsonl");
  Subprocess p(Coordinator({"--workers", "1", "--cacert", stranger.ca_file, "--tasks", tasks, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 1);
  const nlohmann::json& rec = by_id[0];
  EXPECT_FALSE(rec["ok"].get<bool>());
  EXPECT_EQ(rec["attempts"], 1) << "a certificate that is not trusted is not retried: " << rec.dump();
  EXPECT_NE(rec["error"].get<std::string>().find("not trusted"), std::string::npos) << rec.dump();
  EXPECT_NE(rec["error"].get<std::string>().find("--cacert"), std::string::npos) << rec.dump();
}

TEST_F(UrlClientTest, EveryPostReachesTheServerExactlyAsSent) {
  std::string body = R"({"name": "taskfarm", "tasks": [1, 2, 3], "note": "bytes \u00e9 and quotes ' \""})";
  dir_.Write("body.json", body);
  std::string line = "url -X POST -H 'Content-Type: application/json' -H 'X-Trace: t 1' -d @" + dir_.File("body.json") +
                     " " + Url("/echo");
  std::string tasks = dir_.Write("t.txt", Repeat(line, 100));
  std::string out = dir_.File("out.jsonl");
  std::string saved = dir_.File("echoes");
  Subprocess p(Coordinator(
      {"--workers", "2", "--cacert", ca_.ca_file, "--tasks", tasks, "--save", saved, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 100);
  ASSERT_EQ(FinalNames(saved).size(), 100u);
  for (auto& [id, rec] : by_id) {
    ASSERT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    std::string echo_text = ReadText(rec["saved_as"].get<std::string>());
    EXPECT_EQ(rec["sha256"], Sha256Hex(echo_text)) << rec.dump();
    nlohmann::json echo = nlohmann::json::parse(echo_text);
    EXPECT_EQ(echo["method"], "POST");
    EXPECT_EQ(echo["body_bytes"], body.size());
    EXPECT_EQ(echo["body_sha256"], Sha256Hex(body));
    std::map<std::string, std::string> headers;
    for (const auto& h : echo["headers"]) headers[h[0].get<std::string>()] = h[1].get<std::string>();
    EXPECT_EQ(headers["Content-Type"], "application/json") << echo_text;
    EXPECT_EQ(headers["X-Trace"], "t 1") << echo_text;
    EXPECT_EQ(headers["Content-Length"], std::to_string(body.size())) << echo_text;
  }
}

// Workers are SIGKILLed at random while they download into --save: the
// tutorial's 90 pages and 20 slow drips (each a second long, so kills land
// mid-body). Every file under a final name is whole.
TEST_F(UrlClientTest, SavedDownloadsAreWholeFilesWhateverKillsTheWorkers) {
  std::string lines;
  for (int i = 0; i < 90; ++i) lines += "url " + Url("/page/" + std::to_string(i % 3 + 1) + "?delay=100") + "\n";
  for (int i = 0; i < 20; ++i) lines += "url " + Url("/drip?bytes=40&interval_ms=25") + "\n";
  std::string tasks = dir_.Write("t.txt", lines);
  std::string out = dir_.File("out.jsonl");
  std::string saved = dir_.File("pages");
  Subprocess p(Coordinator({"--workers", "3", "--concurrency", "4", "--retries", "20", "--cacert", ca_.ca_file,
                            "--tasks", tasks, "--save", saved, "--output", out, "-q"}));
  ASSERT_EQ(WaitForChildren(p.pid(), 3).size(), 3u);
  std::mt19937 rng(7);
  int kills = 0;
  for (int i = 0; i < 12 && p.Running(); ++i) {
    std::this_thread::sleep_for(milliseconds(250));
    std::vector<pid_t> kids = LiveChildren(p.pid());
    if (kids.empty()) continue;
    kill(kids[rng() % kids.size()], SIGKILL);
    ++kills;
  }
  EXPECT_GE(kills, 6) << "the run ended too soon to test anything";
  ProcessResult r = p.Wait(seconds(120));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 110);
  std::set<std::string> names = FinalNames(saved);
  EXPECT_EQ(names.size(), 110u);
  std::string pages[3];
  for (int k = 0; k < 3; ++k) pages[k] = Fetch(Url("/page/" + std::to_string(k + 1)), ca_.ca_file);
  std::string drip;
  for (int i = 0; i < 40; ++i) drip.push_back(testserver::FillerByte(i));
  for (auto& [id, rec] : by_id) {
    std::string name = std::to_string(id);
    ASSERT_TRUE(names.count(name)) << name;
    EXPECT_EQ(rec["saved_as"], saved + "/" + name);
    std::string file = ReadText(saved + "/" + name);
    EXPECT_EQ(file, id < 90 ? pages[id % 3] : drip) << "task " << id << ": a partial file under its final name";
    EXPECT_EQ(rec["sha256"], Sha256Hex(file));
  }
}

// A worker started by hand saves bodies only when its owner says so: --save
// lets the coordinator choose where the worker's user writes files.
TEST_F(UrlClientTest, ARemoteWorkerSavesDownloadsOnlyWithAllowSave) {
  std::string tasks = dir_.Write("t.txt", Repeat("url " + Url("/page/1"), 3));
  for (bool allow : {false, true}) {
    SCOPED_TRACE(allow ? "with --allow-save" : "without --allow-save");
    std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
    std::string out = dir_.File(allow ? "allowed.jsonl" : "refused.jsonl");
    std::string saved = dir_.File(allow ? "allowed" : "refused");
    Subprocess c(Coordinator({"--workers", "0", "--bind", endpoint, "--wait-workers", "30", "--tasks", tasks, "--save",
                              saved, "--output", out, "-q"}));
    std::vector<std::string> worker{BinaryPath("worker"), "--connect", endpoint, "--name", "rw",
                                    "--cacert",           ca_.ca_file};
    if (allow) worker.push_back("--allow-save");
    Subprocess w(worker);
    ProcessResult r = c.Wait(seconds(60));
    ASSERT_FALSE(r.timed_out);
    EXPECT_EQ(r.exit_code, allow ? 0 : 1) << r.err;
    auto by_id = ById(ReadJsonLines(out), 3);
    for (auto& [id, rec] : by_id) {
      if (allow) {
        EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
      } else {
        EXPECT_EQ(rec["error_code"], "permission_denied") << rec.dump();
        EXPECT_EQ(rec["error"], "worker rw does not save downloads (--save); start it with --allow-save to allow it");
        EXPECT_EQ(rec["attempts"], 1) << "a refusal is no reason to try again";
      }
    }
    EXPECT_EQ(FinalNames(saved).size(), allow ? 3u : 0u);
    EXPECT_EQ(w.Wait(seconds(10)).exit_code, 0);
  }
}

// A 2 GB body streams to disk through a worker whose memory does not grow
// with it, and its digest is the body's.
TEST_F(UrlClientTest, TwoGigabyteDownloadKeepsTheWorkersMemoryFlat) {
  constexpr uint64_t kSize = uint64_t{2} << 30;
  std::string tasks = dir_.Write("t.txt", "url " + Url("/bytes/" + std::to_string(kSize)) + "\n");
  std::string out = dir_.File("out.jsonl");
  std::string saved = dir_.File("big");
  Subprocess p(Coordinator({"--workers", "1", "--max-body", "3000000000", "--cacert", ca_.ca_file, "--tasks", tasks,
                            "--save", saved, "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(240));
  ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
  auto by_id = ById(ReadJsonLines(out), 1);
  const nlohmann::json& rec = by_id[0];
  EXPECT_EQ(rec["bytes"].get<uint64_t>(), kSize);
  struct stat st {};
  ASSERT_EQ(stat((saved + "/0").c_str(), &st), 0);
  EXPECT_EQ(static_cast<uint64_t>(st.st_size), kSize);
  Sha256Hasher filler;
  std::string chunk;
  for (uint64_t i = 0; i < 26 * 40960; ++i) chunk.push_back(testserver::FillerByte(i));
  for (uint64_t done = 0; done < kSize; done += chunk.size()) {
    filler.Update(
        std::string_view(chunk).substr(0, static_cast<size_t>(std::min<uint64_t>(chunk.size(), kSize - done))));
  }
  std::string expected = filler.Hex();
  EXPECT_EQ(rec["sha256"], expected);
  // The worker's own high-water mark: libraries and buffers, not the body.
  EXPECT_LT(rec["worker_max_rss_kb"].get<uint64_t>(), 64u * 1024) << rec.dump();
  std::remove((saved + "/0").c_str());
}

// The demo over HTTPS: its own CA, trusted by the workers it starts.
TEST(UrlClientDemoTest, TheDemoOverHttpsVerifiesEveryPageAgainstTheRunsOwnCa) {
  ScratchDir dir;
  std::string out = dir.File("out.jsonl");
  Subprocess p(Coordinator({"--workers", "2", "--demo-https", "--demo-delay", "0", "--output", out, "-q"}));
  ProcessResult r = p.Wait(seconds(60));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  int pages = 0;
  for (const nlohmann::json& rec : ReadJsonLines(out)) {
    if (rec["kind"] != "url") continue;
    ++pages;
    EXPECT_TRUE(rec["ok"].get<bool>()) << rec.dump();
    EXPECT_EQ(rec["url"].get<std::string>().rfind("https://127.0.0.1:", 0), 0u) << rec.dump();
    if (rec["timings"]["new_connections"] == 1) {
      EXPECT_GT(rec["timings"]["tls_ms"].get<double>(), 0) << rec.dump();
    }
  }
  EXPECT_EQ(pages, 90);
}

}  // namespace
}  // namespace taskfarm::testing
