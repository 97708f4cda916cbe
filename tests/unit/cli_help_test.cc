// The command-line conventions both programs share: near-miss suggestions,
// durations with units, --version, help from the kinds table. CLI11 apps
// built here, parsed in-process.
#include "common/cli_help.h"

#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <regex>
#include <sstream>

#include "common/task_kind.h"

namespace taskfarm {
namespace {

using ::testing::internal::CaptureStderr;
using ::testing::internal::CaptureStdout;
using ::testing::internal::GetCapturedStderr;
using ::testing::internal::GetCapturedStdout;

TEST(EditDistanceTest, CountsEditsAndSwapsOfNeighbours) {
  EXPECT_EQ(EditDistance("workers", "workers"), 0u);
  EXPECT_EQ(EditDistance("wokers", "workers"), 1u);  // a letter left out
  EXPECT_EQ(EditDistance("bacth", "batch"), 1u);     // two swapped
  EXPECT_EQ(EditDistance("wrokers", "workers"), 1u);
  EXPECT_EQ(EditDistance("kitten", "sitting"), 3u);
  EXPECT_EQ(EditDistance("", "abc"), 3u);
  EXPECT_EQ(EditDistance("abc", ""), 3u);
}

TEST(NearestOfTest, NamesTheOptionATypoMeant) {
  std::vector<std::string> names{"--workers",      "-w",      "--workdir",     "--worker-bin", "--tasks", "-t",
                                 "--task-timeout", "--batch", "--batch-delay", "--runs"};
  EXPECT_EQ(NearestOf("--wokers", names), "--workers");
  EXPECT_EQ(NearestOf("--tsks", names), "--tasks");
  EXPECT_EQ(NearestOf("--bacth", names), "--batch");
  EXPECT_EQ(NearestOf("--batch-delay-ms", names), "--batch-delay");  // the old name
  EXPECT_EQ(NearestOf("--task-timout", names), "--task-timeout");
  EXPECT_EQ(NearestOf("--rnus", names), "--runs");
}

TEST(NearestOfTest, GuessesNothingWhenNothingIsNear) {
  std::vector<std::string> names{"--workers", "-w", "--tasks", "-t"};
  EXPECT_EQ(NearestOf("--zzzzzz", names), "");
  EXPECT_EQ(NearestOf("--output", names), "");
  EXPECT_EQ(NearestOf("-x", names), "");  // one letter: any other letter is one edit away
  EXPECT_EQ(NearestOf("--wo", names), "");
  EXPECT_EQ(NearestOf("--wokers", {}), "");
}

// A small program with the shape of the coordinator: options, a
// fallthrough `run`, and a subcommand with options of its own.
class CommandLineTest : public ::testing::Test {
 protected:
  CommandLineTest() {
    app_.add_option("--workers,-w", workers_, "Workers")->required();
    app_.add_option("--tasks", tasks_, "Task file");
    AddDuration(app_, "--grace", &grace_s_, "Grace (seconds)", {.max_s = 3600});
    AddDuration(app_, "--task-timeout", &task_timeout_s_, "Limit (0: none)", {.nonzero_min_s = 1e-3});
    AddDuration(app_, "--coordinator-timeout", &timeout_s_, "Silence (seconds)", {.min_s = 0.1, .bare_was_ms = true});
    AddVersionFlag(app_);
    app_.add_subcommand("run", "Run (the default)")->fallthrough();
    CLI::App* compare = app_.add_subcommand("compare", "Compare");
    compare->add_option("--runs", runs_, "Runs");
    AddDuration(*compare, "--delay", &delay_s_, "Server delay (ms)", {.max_s = 60, .bare_ms = true});
  }

  // Parses `words` after the program name; stderr and stdout are kept.
  std::optional<int> Parse(std::vector<std::string> words) {
    std::vector<char*> argv{name_.data()};
    for (std::string& w : words) argv.push_back(w.data());
    CaptureStderr();
    CaptureStdout();
    std::optional<int> code = ParseCommandLine(app_, static_cast<int>(argv.size()), argv.data(), "a hint");
    err_ = GetCapturedStderr();
    out_ = GetCapturedStdout();
    return code;
  }

  std::string name_ = "prog";
  CLI::App app_{"a test program", "prog"};
  int workers_ = 0;
  int runs_ = 3;
  std::string tasks_;
  double grace_s_ = 5;
  double task_timeout_s_ = 0;
  double timeout_s_ = 10;
  double delay_s_ = 0.1;
  std::string err_, out_;
};

TEST_F(CommandLineTest, AMisspelledOptionIsAnsweredWithTheRightOne) {
  EXPECT_EQ(Parse({"--wokers", "2"}), 2);
  EXPECT_EQ(err_, "prog: unknown option '--wokers' (did you mean '--workers'?)\nRun with --help for the options.\n");
  EXPECT_EQ(Parse({"--wokers=2"}), 2);
  EXPECT_EQ(err_, "prog: unknown option '--wokers' (did you mean '--workers'?)\nRun with --help for the options.\n");
}

TEST_F(CommandLineTest, TheTypoIsSaidRatherThanTheRequiredOptionItLeftOut) {
  EXPECT_EQ(Parse({"--wrokers", "2"}), 2);
  EXPECT_NE(err_.find("unknown option '--wrokers' (did you mean '--workers'?)"), std::string::npos) << err_;
  EXPECT_EQ(err_.find("required"), std::string::npos) << err_;
}

TEST_F(CommandLineTest, ASubcommandsTyposAreMatchedAgainstItsOwnOptions) {
  EXPECT_EQ(Parse({"-w", "1", "compare", "--rnus", "5"}), 2);
  EXPECT_EQ(err_,
            "prog compare: unknown option '--rnus' (did you mean '--runs'?)\n"
            "Run with --help for the options.\n");
  EXPECT_EQ(Parse({"-w", "1", "--runs", "5"}), 2);
  EXPECT_EQ(err_,
            "prog: unknown option '--runs' (it is an option of 'prog compare')\n"
            "Run with --help for the options.\n");
  EXPECT_EQ(Parse({"-w", "1", "run", "--wokers", "2"}), 2);  // run's options are the program's
  EXPECT_NE(err_.find("prog: unknown option '--wokers' (did you mean '--workers'?)"), std::string::npos) << err_;
}

TEST_F(CommandLineTest, AStrayWordGetsItsOwnSentence) {
  EXPECT_EQ(Parse({"-w", "1", "tasks.txt"}), 2);
  EXPECT_EQ(err_, "prog: unexpected argument 'tasks.txt' (a hint)\nRun with --help for the options.\n");
  EXPECT_EQ(Parse({"-w", "1", "comapre"}), 2);
  EXPECT_EQ(err_, "prog: unknown command 'comapre' (did you mean 'compare'?)\nRun with --help for the options.\n");
}

TEST_F(CommandLineTest, OtherMistakesKeepCli11sSentenceUnderTheProgramsName) {
  EXPECT_EQ(Parse({}), 2);
  EXPECT_EQ(err_, "prog: --workers is required\nRun with --help for the options.\n");
}

TEST_F(CommandLineTest, DurationsTakeUnits) {
  EXPECT_EQ(Parse({"-w", "1", "--grace", "1500ms"}), std::nullopt) << err_;
  EXPECT_EQ(grace_s_, 1.5);
  EXPECT_EQ(Parse({"-w", "1", "--grace", "2m"}), std::nullopt) << err_;
  EXPECT_EQ(grace_s_, 120);
  EXPECT_EQ(Parse({"-w", "1", "--grace", "7"}), std::nullopt) << err_;
  EXPECT_EQ(grace_s_, 7);
  EXPECT_EQ(err_, "");
}

TEST_F(CommandLineTest, ABadOrOutOfRangeDurationNamesTheOption) {
  EXPECT_EQ(Parse({"-w", "1", "--grace", "5x"}), 2);
  EXPECT_NE(err_.find("prog: --grace: '5x' is not a duration (seconds, or a number with ms, s, m or h"),
            std::string::npos)
      << err_;
  EXPECT_EQ(Parse({"-w", "1", "--grace", "2h"}), 2);
  EXPECT_NE(err_.find("--grace: '2h' is outside 0 to 1h"), std::string::npos) << err_;
  EXPECT_EQ(Parse({"-w", "1", "--task-timeout", "0.4ms"}), 2);
  EXPECT_NE(err_.find("--task-timeout: '0.4ms' is below 1ms (0: no limit)"), std::string::npos) << err_;
  EXPECT_EQ(Parse({"-w", "1", "--task-timeout", "0"}), std::nullopt) << err_;
  EXPECT_EQ(Parse({"-w", "1", "--coordinator-timeout", "50ms"}), 2);
  EXPECT_NE(err_.find("'50ms' is outside 100ms to "), std::string::npos) << err_;
}

TEST_F(CommandLineTest, ABareNumberIsMillisecondsOnlyWhereTheOptionSaysSo) {
  EXPECT_EQ(Parse({"-w", "1", "compare", "--delay", "250"}), std::nullopt) << err_;
  EXPECT_EQ(delay_s_, 0.25);
  EXPECT_EQ(Parse({"-w", "1", "compare", "--delay", "2s"}), std::nullopt) << err_;
  EXPECT_EQ(delay_s_, 2);
}

TEST_F(CommandLineTest, ABigBareNumberWhereMillisecondsUsedToBeGetsAWarning) {
  EXPECT_EQ(Parse({"-w", "1", "--coordinator-timeout", "5000"}), std::nullopt) << err_;
  EXPECT_EQ(timeout_s_, 5000);
  EXPECT_EQ(err_, "prog: --coordinator-timeout 5000 means 5000 seconds; write 5000ms for milliseconds\n");
  EXPECT_EQ(Parse({"-w", "1", "--coordinator-timeout", "5000ms"}), std::nullopt) << err_;
  EXPECT_EQ(timeout_s_, 5);
  EXPECT_EQ(err_, "");
  EXPECT_EQ(Parse({"-w", "1", "--coordinator-timeout", "30"}), std::nullopt) << err_;
  EXPECT_EQ(err_, "");
}

TEST_F(CommandLineTest, HelpShowsEachDurationsDefaultAsADuration) {
  EXPECT_EQ(Parse({"--help"}), 0);
  EXPECT_NE(out_.find("--grace DURATION=5s"), std::string::npos) << out_;
  EXPECT_NE(out_.find("--coordinator-timeout DURATION=10s"), std::string::npos) << out_;
  EXPECT_EQ(Parse({"compare", "--help"}), 0);
  EXPECT_NE(out_.find("--delay DURATION=100ms"), std::string::npos) << out_;
}

TEST_F(CommandLineTest, AFallthroughSubcommandsHelpIsItsParents) {
  EXPECT_EQ(Parse({"--help"}), 0);
  std::string top = out_;
  EXPECT_NE(top.find("--workers"), std::string::npos) << top;
  EXPECT_EQ(Parse({"run", "--help"}), 0);
  EXPECT_EQ(out_, top);
}

TEST_F(CommandLineTest, VersionPrintsTheProjectsVersionWithoutTheRequiredOptions) {
  EXPECT_EQ(Parse({"--version"}), 0);
  EXPECT_TRUE(std::regex_match(out_, std::regex("prog \\(taskfarm\\) [0-9]+\\.[0-9]+\\.[0-9]+\n"))) << out_;
  EXPECT_EQ(out_, VersionLine("prog") + "\n");
  EXPECT_EQ(err_, "");
}

TEST(TaskLanguageHelpTest, TeachesEveryKindAUserMayWriteFromTheTable) {
  std::string help = TaskLanguageHelp();
  EXPECT_NE(help.find("'#'"), std::string::npos) << help;
  EXPECT_NE(help.find("blank lines are skipped"), std::string::npos) << help;
  for (const TaskKind* k : AllKinds()) {
    if (k->test_only) {
      EXPECT_EQ(help.find(std::string(k->text.usage)), std::string::npos) << k->name << " is test-only";
      continue;
    }
    EXPECT_FALSE(k->text.summary.empty()) << k->name;
    EXPECT_NE(help.find("  " + std::string(k->text.usage) + " "), std::string::npos) << k->name;
    EXPECT_NE(help.find(std::string(k->text.summary)), std::string::npos) << k->name;
    EXPECT_NE(help.find(std::string(k->text.example)), std::string::npos) << k->name;
  }
  std::istringstream lines(help);
  for (std::string line; std::getline(lines, line);) EXPECT_LE(line.size(), 100u) << line;
}

}  // namespace
}  // namespace taskfarm
