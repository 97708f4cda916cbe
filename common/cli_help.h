// What a person typing either program's command line meets, the same in
// both: --version, a mistyped option answered with the one it was probably
// meant to be, durations with units on every option that is one, and help
// that teaches the task-line language from the kinds table. The glue
// between CLI11 and the two mains.
//
//   CLI::App app{"...", "worker"};
//   AddVersionFlag(app);
//   AddDuration(app, "--grace", &config.grace_s, "Time ... (seconds, or 500ms, 1m)", {.max_s = 3600});
//   if (std::optional<int> code = ParseCommandLine(app, argc, argv)) return *code;
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace taskfarm {

// "worker (taskfarm) 0.1.0": the version is CMake's project(VERSION).
[[nodiscard]] std::string VersionLine(std::string_view program);

// Damerau-Levenshtein distance (optimal string alignment): insertions,
// deletions, substitutions and swaps of two neighbours each cost 1.
[[nodiscard]] size_t EditDistance(std::string_view a, std::string_view b);

// The candidate `word` is most likely a typo of, or "" when none is near:
// within a third of the word's length (at least 1) in EditDistance, leading
// dashes aside. Words of one or two letters (`-x`) get no guess. On a tie,
// the first candidate wins.
[[nodiscard]] std::string NearestOf(std::string_view word, std::span<const std::string> candidates);

// What a duration option accepts. A bare number counts seconds, except on
// options that say `bare_ms` (a server delay written like `?delay=MS`).
struct DurationRules {
  double min_s = 0;
  double max_s = 1e6;
  // 0 means "none" and other values start here: a timeout of 0.4ms would
  // otherwise be a limit nobody can keep, or round to none.
  double nonzero_min_s = 0;
  bool bare_ms = false;
  // The option's bare number was milliseconds in an earlier version: a
  // bare value of 1000 or more gets a one-line warning on stderr.
  bool bare_was_ms = false;
};

// Adds `name` taking a DURATION (`200ms`, `5s`, `1m`, `1h`, or a bare
// number) into `*seconds`; help shows the current value of `*seconds` as
// its default ("=5s"). A value outside the rules' range is a parse error
// naming the option.
CLI::Option* AddDuration(CLI::App& app, const std::string& name, double* seconds, const std::string& help,
                         const DurationRules& rules);

// Adds `name` taking a whole number from `min` to `max` into `*value`;
// help shows its default. Further rules chain on the returned option.
CLI::Option* AddNumber(CLI::App& app, const std::string& name, int* value, const std::string& help, int min, int max);
CLI::Option* AddNumber(CLI::App& app, const std::string& name, uint32_t* value, const std::string& help, uint32_t min,
                       uint32_t max);
CLI::Option* AddNumber(CLI::App& app, const std::string& name, uint64_t* value, const std::string& help, uint64_t min,
                       uint64_t max);

// Adds --version: prints VersionLine(app's name) on stdout, exit 0.
void AddVersionFlag(CLI::App& app);

// Parses the command line. nullopt: go on. Otherwise the exit code to
// return now: 0 after --help or --version (printed on stdout), 2 after a
// mistake, explained on stderr in one sentence plus "Run with --help for
// the options." An unknown option is named with the nearest real one of
// the (sub)command being parsed; a stray word gets `stray_word_hint` (for
// the top-level command: "a task file is given as --tasks FILE").
// `coordinator run --help` (a fallthrough subcommand) shows its parent's help.
[[nodiscard]] std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv,
                                                  std::string_view stray_word_hint = "");

// The task-line language for --help, generated from the kinds table: each
// kind a user may write, its usage, what it does and an example.
[[nodiscard]] std::string TaskLanguageHelp();

// The help's one line on what a DURATION is, the same in both programs.
inline constexpr const char* kDurationHelp = "DURATION: seconds, or a number with a unit: 200ms, 5s, 1m, 1h.\n";

}  // namespace taskfarm
