// What a new user types, against the real binaries: --version, a typo, a
// duration with a unit, --workers 0 without --bind, more workers than the
// open-file limit holds, keygen into a fresh directory, a worker started by
// hand saying what it does, and the TLS flags (a CA file checked at start,
// HTTPS tasks trusting what they are told).
#include <signal.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/shell_words.h"
#include "tests/support/farm_test_util.h"
#include "testserver/test_ca.h"

namespace taskfarm::testing {
namespace {

using std::chrono::seconds;

ProcessResult RunToEnd(std::vector<std::string> argv, seconds timeout = seconds(60)) {
  Subprocess p(std::move(argv));
  return p.Wait(timeout);
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(CliTest, BothProgramsSayTheirVersion) {
  for (std::string program : {"coordinator", "worker"}) {
    ProcessResult r = RunToEnd({BinaryPath(program), "--version"});
    EXPECT_EQ(r.exit_code, 0) << program << ": " << r.err;
    EXPECT_EQ(r.out, program + " (taskfarm) " TASKFARM_VERSION "\n");
    EXPECT_EQ(r.err, "");
  }
}

TEST(CliTest, AMisspelledOptionNamesTheRightOne) {
  ProcessResult c = RunToEnd(Coordinator({"--wokers", "2"}));
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(c.err,
            "coordinator: unknown option '--wokers' (did you mean '--workers'?)\n"
            "Run with --help for the options.\n");
  ProcessResult w = RunToEnd({BinaryPath("worker"), "--conect", "tcp://127.0.0.1:5555"});
  EXPECT_EQ(w.exit_code, 2);
  EXPECT_EQ(w.err,
            "worker: unknown option '--conect' (did you mean '--connect'?)\n"
            "Run with --help for the options.\n");
  ProcessResult k = RunToEnd(Coordinator({"compare", "--rnus", "2"}));
  EXPECT_EQ(k.exit_code, 2);
  EXPECT_EQ(k.err,
            "coordinator compare: unknown option '--rnus' (did you mean '--runs'?)\n"
            "Run with --help for the options.\n");
}

TEST(CliTest, ATaskTimeoutWithAUnitIsHonouredInThatUnit) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "noop\nsleep 10\nsleep 5000\n");
  std::string out = dir.File("r.jsonl");
  auto start = std::chrono::steady_clock::now();
  ProcessResult r = RunToEnd(Coordinator({"--workers", "1", "--task-timeout", "500ms", "--retries", "0", "--tasks",
                                          tasks, "--output", out, "-q", "--no-progress"}));
  double took_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(r.exit_code, 1) << r.err;  // the 5 s sleep was stopped: 500 ms, not 500 s
  auto by_id = ById(ReadJsonLines(out), 3);
  EXPECT_TRUE(by_id[0]["ok"].get<bool>());
  EXPECT_TRUE(by_id[1]["ok"].get<bool>());
  EXPECT_EQ(by_id[2].value("error_code", ""), "deadline_exceeded") << by_id[2].dump();
  EXPECT_LT(took_s, 4.5);

  ProcessResult ok = RunToEnd(Coordinator({"--workers", "1", "--task-timeout", "5s", "--tasks",
                                           dir.Write("ok.txt", "sleep 10\nnoop\n"), "-q", "--no-progress"}));
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
}

TEST(CliTest, WorkersZeroWithoutBindIsRefusedBeforeAnythingRuns) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "noop\n");
  auto start = std::chrono::steady_clock::now();
  ProcessResult r = RunToEnd(Coordinator({"--workers", "0", "--tasks", tasks}), seconds(20));
  EXPECT_FALSE(r.timed_out);
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--workers 0 starts no local worker"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("give --bind ENDPOINT"), std::string::npos) << r.err;
  EXPECT_LT(std::chrono::steady_clock::now() - start, seconds(5));
}

// A connection per worker: a farm the descriptor limit cannot hold is
// refused at start, naming the limit, instead of failing mid-run.
TEST(CliTest, MoreWorkersThanTheOpenFileLimitHoldsAreRefusedAtStart) {
  ScratchDir dir;
  std::string tasks = dir.Write("t.txt", "noop\n");
  // sh's ulimit lowers both limits for the coordinator alone.
  auto limited = [](std::vector<std::string> args) {
    args.insert(args.begin(), {"/bin/sh", "-c", "ulimit -n 150 && exec \"$0\" \"$@\""});
    return args;
  };
  ProcessResult local = RunToEnd(limited(Coordinator({"--workers", "100", "--tasks", tasks})), seconds(20));
  EXPECT_EQ(local.exit_code, 2) << local.err;
  EXPECT_NE(local.err.find("--workers 100 needs about 264 open files"), std::string::npos) << local.err;
  EXPECT_NE(local.err.find("may open only 150"), std::string::npos) << local.err;
  ProcessResult remote = RunToEnd(
      limited(Coordinator({"--workers", "0", "--bind", "tcp://127.0.0.1:*", "--min-workers", "300", "--tasks", tasks})),
      seconds(20));
  EXPECT_EQ(remote.exit_code, 2) << remote.err;
  EXPECT_NE(remote.err.find("--min-workers 300 needs about 364 open files"), std::string::npos) << remote.err;
  // Within the limit, the same run goes ahead.
  ProcessResult fits = RunToEnd(limited(Coordinator({"--workers", "2", "--tasks", tasks, "-q"})), seconds(30));
  EXPECT_EQ(fits.exit_code, 0) << fits.err;
}

TEST(CliTest, KeygenMakesMissingDirectoriesPrivateAndNeverOverwrites) {
  ScratchDir dir;
  std::string base = dir.File("keys/site/coord");
  ProcessResult r = RunToEnd(Coordinator({"keygen", base}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ModeOf(dir.File("keys")), 0700u);
  EXPECT_EQ(ModeOf(dir.File("keys/site")), 0700u);
  EXPECT_EQ(ModeOf(base + ".key"), 0600u);
  EXPECT_EQ(ModeOf(base + ".pub"), 0644u);
  std::ifstream in(base + ".key");
  std::string secret;
  in >> secret;

  ProcessResult again = RunToEnd(Coordinator({"keygen", base}));
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_EQ(again.err, "coordinator keygen: " + base + ".key already exists (keygen never overwrites a key)\n");
  std::ifstream still(base + ".key");
  std::string unchanged;
  still >> unchanged;
  EXPECT_EQ(unchanged, secret);
}

TEST(CliTest, KeygenRefusesADirectoryOrANameWithItsExtension) {
  ScratchDir dir;
  ProcessResult slash = RunToEnd(Coordinator({"keygen", dir.File("keys") + "/"}));
  EXPECT_EQ(slash.exit_code, 1);
  EXPECT_NE(slash.err.find("names a directory"), std::string::npos) << slash.err;
  ProcessResult ext = RunToEnd(Coordinator({"keygen", dir.File("host1.key")}));
  EXPECT_EQ(ext.exit_code, 1);
  EXPECT_NE(ext.err.find("give the name without .key"), std::string::npos) << ext.err;
  EXPECT_FALSE(std::filesystem::exists(dir.File("keys/.key")));
  EXPECT_FALSE(std::filesystem::exists(dir.File("host1.key.key")));
}

// The README's remote-worker steps on loopback: keys from keygen, a CURVE
// coordinator on tcp://127.0.0.1, one worker started by hand.
TEST(CliTest, AWorkerStartedByHandSaysWhatItDoesAndLocalOnesKeepQuiet) {
  ScratchDir dir;
  ASSERT_EQ(RunToEnd(Coordinator({"keygen", dir.File("keys/coord")})).exit_code, 0);
  ASSERT_EQ(RunToEnd(Coordinator({"keygen", dir.File("keys/host1")})).exit_code, 0);
  ASSERT_EQ(mkdir(dir.File("keys/authorized").c_str(), 0700), 0);
  std::ifstream pub(dir.File("keys/host1.pub"));
  std::ofstream(dir.File("keys/authorized/host1.pub")) << pub.rdbuf();
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());
  std::string tasks = dir.Write("t.txt", Repeat("sleep 20", 5));
  Subprocess c(Coordinator({"--workers", "0", "--bind", endpoint, "--curve-secret", dir.File("keys/coord.key"),
                            "--authorized-keys", dir.File("keys/authorized"), "--wait-workers", "30s", "--tasks", tasks,
                            "-q", "--no-progress"}));
  Subprocess w({BinaryPath("worker"), "--connect", endpoint, "--name", "host1", "--curve-secret",
                dir.File("keys/host1.key"), "--server-key", dir.File("keys/coord.pub")});
  ProcessResult cr = c.Wait(seconds(60));
  ASSERT_EQ(cr.exit_code, 0) << cr.err;
  ProcessResult wr = w.Wait(seconds(20));
  EXPECT_EQ(wr.exit_code, 0) << wr.err;
  std::vector<std::string> expected{
      "worker: connecting to " + endpoint + " (CURVE, server key " + dir.File("keys/coord.pub") + ")",
      "worker: registered as host1 (concurrency 32, threads 1, processes 1)",
      "worker: run over: 5 tasks done; exiting",
  };
  EXPECT_EQ(Lines(wr.err), expected) << wr.err;

  // The coordinator's own workers say nothing of the kind on its stderr.
  ProcessResult local = RunToEnd(Coordinator({"--workers", "2", "--tasks", tasks, "-q", "--no-progress"}));
  EXPECT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(local.err.find("worker"), std::string::npos) << local.err;
}

TEST(CliTest, AWorkerWithNoCoordinatorSaysSoOnceNotAtEveryRetry) {
  std::string endpoint = "tcp://127.0.0.1:" + std::to_string(FreePort());  // nobody listens
  Subprocess w({BinaryPath("worker"), "--connect", endpoint, "--coordinator-timeout", "300ms"});
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // several timeouts
  w.Signal(SIGINT);
  ProcessResult r = w.Wait(seconds(10));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> expected{
      "worker: connecting to " + endpoint + " (no CURVE keys: not encrypted)",
      "worker: no answer from " + endpoint + " in 300ms (is a coordinator running there?); still trying",
      "worker: signal 2, handing back 0 tasks and leaving",
  };
  EXPECT_EQ(Lines(r.err), expected) << r.err;
}

// A url line is checked like every other line: one that cannot be sent as
// written stops the run before anything starts, named by FILE:LINE. -d @FILE
// is read from the coordinator's working directory, as curl reads it.
TEST(CliTest, ABadUrlLineStopsTheRunBeforeAnythingStartsNamingItsFileAndLine) {
  ScratchDir dir;
  dir.Write("body.json", "{}");
  dir.Write("big.bin", std::string(1024 * 1024 + 1, 'x'));
  dir.Write("t.txt",
            "url -d @body.json http://127.0.0.1:1/ok\n"
            "url -X 'P OST' http://127.0.0.1:1/\n"
            "url -d @big.bin http://127.0.0.1:1/\n"
            "url --heder 'A: b' http://127.0.0.1:1/\n"
            "url -d @missing.json http://127.0.0.1:1/\n");
  ProcessResult r = RunToEnd({"/bin/sh", "-c",
                              "cd " + ShellQuote(dir.path()) + " && exec " + ShellQuote(BinaryPath("coordinator")) +
                                  " --workers 1 --tasks t.txt --output r.jsonl --no-progress"},
                             seconds(20));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("t.txt:2: 'url': -X: the method must be an HTTP token (letters, digits and "
                       "!#$%&'*+-.^_`|~, RFC 9110), not 'P OST'\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("t.txt:3: 'url': the body file 'big.bin' is 1,048,577 bytes; the limit is 1 MiB "
                       "(1,048,576 bytes)\n"),
            std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("t.txt:4: 'url': unknown option '--heder' (did you mean '--header'?)\n"), std::string::npos)
      << r.err;
  EXPECT_NE(r.err.find("t.txt:5: 'url': the body file 'missing.json' cannot be opened: No such file or directory\n"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("t.txt:1:"), std::string::npos) << r.err;
  std::ifstream records(dir.File("r.jsonl"));
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(records), {}), "") << "nothing ran";
}

// --dry-run shows each url task as it would be sent: its own options and
// the run's --method and --header folded in, in the line language.
TEST(CliTest, ADryRunPrintsUrlTasksWithTheirOptionsAndTheRunsDefaults) {
  ScratchDir dir;
  dir.Write("body.json", "{\"a\": 1}");
  dir.Write("t.txt",
            "url http://h/page?a=1&b=2\n"
            "url http://h/api -d @body.json -H 'Content-Type: application/json'  # a POST\n");
  auto run = [&](const std::string& args) {
    return RunToEnd({"/bin/sh", "-c",
                     "cd " + ShellQuote(dir.path()) + " && exec " + ShellQuote(BinaryPath("coordinator")) +
                         " --dry-run --tasks t.txt " + args},
                    seconds(20));
  };
  ProcessResult plain = run("");
  EXPECT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(plain.out,
            "url http://h/page?a=1&b=2\n"
            "url -H 'Content-Type: application/json' -d @body.json http://h/api\n");
  ProcessResult defaults = run("--method PUT --header 'Authorization: Bearer t0k3n' --expect 200,201");
  EXPECT_EQ(defaults.exit_code, 0) << defaults.err;
  EXPECT_EQ(defaults.out,
            "url -X PUT -H 'Authorization: Bearer t0k3n' --expect 200,201 http://h/page?a=1&b=2\n"
            "url -X PUT -H 'Authorization: Bearer t0k3n' -H 'Content-Type: application/json' -d @body.json "
            "--expect 200,201 http://h/api\n");
  ProcessResult bad = run("--header 'Authorization Bearer t0k3n'");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_EQ(bad.err, "coordinator: --header: a header is 'Name: value', not 'Authorization Bearer t0k3n'\n");
  ProcessResult stray = run("--header 'A: 1' 'B: 2'");
  EXPECT_EQ(stray.exit_code, 2);
  EXPECT_NE(stray.err.find("unexpected argument 'B: 2'"), std::string::npos) << stray.err;
}

TEST(CliTest, ACaFileThatCannotBeUsedStopsEitherProgramAtStart) {
  ScratchDir dir;
  std::string missing = dir.File("missing.pem");
  std::string tasks = dir.Write("t.txt", "noop\n");
  ProcessResult c = RunToEnd(Coordinator({"--workers", "1", "--cacert", missing, "--tasks", tasks}));
  EXPECT_EQ(c.exit_code, 2);
  EXPECT_EQ(c.err, "coordinator: --cacert " + missing + ": cannot read it: No such file or directory\n");
  std::string key = dir.Write("server.key", "-----BEGIN PRIVATE KEY-----\n");
  ProcessResult w = RunToEnd({BinaryPath("worker"), "--connect", "tcp://127.0.0.1:1", "--cacert", key});
  EXPECT_EQ(w.exit_code, 2);
  EXPECT_EQ(w.err, "worker: --cacert " + key + ": no PEM certificate in it (-----BEGIN CERTIFICATE-----)\n");
  ProcessResult both = RunToEnd(Coordinator({"--cacert", key, "--insecure-tls", "--tasks", tasks}));
  EXPECT_EQ(both.exit_code, 2);
  EXPECT_EQ(both.err, "coordinator: --cacert and --insecure-tls contradict each other: give one\n");
}

// The TLS flags reach the coordinator's own workers: HTTPS against the
// test server with its CA given, without it, and unverified.
TEST(CliTest, HttpsTasksTrustTheGivenCaAndNothingElseUnlessTold) {
  ScratchDir dir;
  testserver::TestCa ca = testserver::MakeTestCa(dir.path());
  testserver::Options tls;
  tls.tls_cert_file = ca.cert_file;
  tls.tls_key_file = ca.key_file;
  testserver::HttpTestServer server(tls);
  std::string tasks = dir.Write("t.txt", Repeat("url " + server.BaseUrl() + "/page/1", 2));
  std::string out = dir.File("r.jsonl");
  ProcessResult r = RunToEnd(Coordinator({"--workers", "1", "--concurrency", "1", "--cacert", ca.ca_file, "--tasks",
                                          tasks, "--output", out, "-q", "--no-progress"}));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto by_id = ById(ReadJsonLines(out), 2);
  for (auto& [id, record] : by_id) {
    EXPECT_TRUE(record.value("ok", false)) << record.dump();
    EXPECT_EQ(record.value("bytes", 0u), testserver::kTutorialPageSizes[0]);
  }
  EXPECT_GT(by_id[0]["timings"].value("tls_ms", 0.0), 0) << by_id[0].dump();
  EXPECT_EQ(by_id[0]["timings"].value("new_connections", 0), 1);
  EXPECT_EQ(by_id[1]["timings"].value("new_connections", 1), 0) << "the second reuses the first's connection";

  ProcessResult untrusted =
      RunToEnd(Coordinator({"--workers", "1", "--tasks", tasks, "--output", out, "-q", "--no-progress"}));
  EXPECT_EQ(untrusted.exit_code, 1);
  for (auto& [id, record] : ById(ReadJsonLines(out), 2)) {
    EXPECT_EQ(record.value("attempts", 0), 1) << "not retried: " << record.dump();
    EXPECT_NE(record.value("error", "").find("the server's certificate is not trusted"), std::string::npos)
        << record.dump();
  }

  ProcessResult insecure =
      RunToEnd(Coordinator({"--workers", "3", "--insecure-tls", "--tasks", tasks, "-q", "--no-progress"}));
  EXPECT_EQ(insecure.exit_code, 0) << insecure.err;
  EXPECT_EQ(CountLines(insecure.err, "certificates are not verified"), 1) << "said once, not per worker:\n"
                                                                          << insecure.err;
}

TEST(CliTest, HelpFitsTheTerminalAndRunsHelpIsTheCoordinators) {
  ProcessResult top = RunToEnd(Coordinator({"--help"}));
  ASSERT_EQ(top.exit_code, 0);
  ProcessResult run = RunToEnd(Coordinator({"run", "--help"}));
  EXPECT_EQ(run.exit_code, 0);
  EXPECT_EQ(run.out, top.out);
  EXPECT_NE(top.out.find("--wait-workers DURATION=0"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("0: forever"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("Task lines"), std::string::npos) << top.out;
  EXPECT_NE(top.out.find("Exit status: 0"), std::string::npos) << top.out;
  for (std::vector<std::string> argv :
       {Coordinator({"--help"}), Coordinator({"compare", "--help"}), Coordinator({"keygen", "--help"}),
        std::vector<std::string>{BinaryPath("worker"), "--help"}}) {
    ProcessResult r = RunToEnd(argv);
    EXPECT_EQ(r.exit_code, 0) << argv[1];
    for (const std::string& line : Lines(r.out)) EXPECT_LE(line.size(), 100u) << argv[1] << ": " << line;
  }
}

}  // namespace
}  // namespace taskfarm::testing
