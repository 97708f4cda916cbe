// The command-line conventions both programs share, on top of CLI11.
#include "common/cli_help.h"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <iostream>
#include <vector>

#include "common/duration.h"
#include "common/task_kind.h"

#ifndef TASKFARM_VERSION
#error "TASKFARM_VERSION comes from CMake's project(VERSION) (common/CMakeLists.txt)"
#endif

namespace taskfarm {
namespace {

// "coordinator compare": the words that name the (sub)command.
std::string ProgramOf(const CLI::App& app) {
  std::string name = app.get_name();
  for (const CLI::App* p = app.get_parent(); p; p = p->get_parent()) name = p->get_name() + " " + name;
  return name;
}

// The option names a user of `app` may type, hidden ones aside.
std::vector<std::string> OptionNames(const CLI::App& app) {
  std::vector<std::string> names;
  for (const CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;
    for (const std::string& n : o->get_lnames()) names.push_back("--" + n);
    for (const std::string& n : o->get_snames()) names.push_back("-" + n);
  }
  return names;
}

bool HasOption(const CLI::App& app, const std::string& name) {
  std::vector<std::string> names = OptionNames(app);
  return std::find(names.begin(), names.end(), name) != names.end();
}

// Another (sub)command of the same program that has `name`, or nullptr:
// `coordinator --runs 5` is a compare option given to the wrong command.
const CLI::App* OwnerElsewhere(const CLI::App& app, const std::string& name) {
  const CLI::App* root = &app;
  while (root->get_parent()) root = root->get_parent();
  std::vector<const CLI::App*> todo{root};
  while (!todo.empty()) {
    const CLI::App* a = todo.back();
    todo.pop_back();
    if (a != &app && HasOption(*a, name)) return a;
    for (const CLI::App* sub : a->get_subcommands([](const CLI::App*) { return true; })) todo.push_back(sub);
  }
  return nullptr;
}

// The (sub)commands the parse selected, outermost first.
std::vector<const CLI::App*> Selected(const CLI::App& app) {
  std::vector<const CLI::App*> chain{&app};
  while (!chain.back()->get_subcommands().empty()) chain.push_back(chain.back()->get_subcommands().front());
  return chain;
}

// Explains the first word CLI11 could not place (`app` allows extras, so it
// keeps them instead of throwing). False if every word found its place.
bool ReportStrayWords(const CLI::App& app, std::string_view hint) {
  for (const CLI::App* a : Selected(app)) {
    std::vector<std::string> words = a->remaining(false);
    if (words.empty()) continue;
    std::string program = ProgramOf(*a);
    // An unknown option first: a word after it is most likely its value.
    auto option =
        std::find_if(words.begin(), words.end(), [](const std::string& w) { return w.size() > 1 && w[0] == '-'; });
    if (option != words.end()) {
      std::string name = option->substr(0, option->find('='));
      std::vector<std::string> names = OptionNames(*a);
      std::string why;
      if (std::string near = NearestOf(name, names); !near.empty()) {
        why = " (did you mean '" + near + "'?)";
      } else if (const CLI::App* owner = OwnerElsewhere(*a, name)) {
        why = " (it is an option of '" + ProgramOf(*owner) + "')";
      }
      std::fprintf(stderr, "%s: unknown option '%s'%s\n", program.c_str(), name.c_str(), why.c_str());
    } else {
      std::vector<std::string> commands;
      for (const CLI::App* sub : a->get_subcommands([](const CLI::App*) { return true; })) {
        if (!sub->get_name().empty()) commands.push_back(sub->get_name());
      }
      if (std::string near = NearestOf(words.front(), commands); !near.empty()) {
        std::fprintf(stderr, "%s: unknown command '%s' (did you mean '%s'?)\n", program.c_str(), words.front().c_str(),
                     near.c_str());
      } else {
        std::string why = a->get_parent() == nullptr && !hint.empty() ? " (" + std::string(hint) + ")"
                                                                      : ": not an option, nor an option's value";
        std::fprintf(stderr, "%s: unexpected argument '%s'%s\n", program.c_str(), words.front().c_str(), why.c_str());
      }
    }
    std::fprintf(stderr, "Run with --help for the options.\n");
    return true;
  }
  return false;
}

// --help of the selected (sub)command. A fallthrough subcommand (`run`) is
// another way to write its parent, so it shows the parent's help.
void PrintHelp(const CLI::App& app) {
  const CLI::App* shown = Selected(app).back();
  while (shown->get_parent() && shown->get_fallthrough()) shown = shown->get_parent();
  std::cout << shown->get_formatter()->make_help(shown, ProgramOf(*shown), CLI::AppFormatMode::Normal) << std::flush;
}

}  // namespace

std::string VersionLine(std::string_view program) { return std::string(program) + " (taskfarm) " TASKFARM_VERSION; }

size_t EditDistance(std::string_view a, std::string_view b) {
  // Three rows of the dynamic-programming table: the swap looks two back.
  std::vector<size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string NearestOf(std::string_view word, std::span<const std::string> candidates) {
  auto bare = [](std::string_view w) { return w.substr(std::min(w.find_first_not_of('-'), w.size())); };
  std::string_view stem = bare(word);
  if (stem.size() < 3) return "";
  size_t limit = std::max<size_t>(1, stem.size() / 3);
  std::string best;
  size_t best_distance = limit + 1;
  for (const std::string& c : candidates) {
    size_t d = EditDistance(stem, bare(c));
    if (d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  return best;
}

CLI::Option* AddDuration(CLI::App& app, const std::string& name, double* seconds, const std::string& help,
                         const DurationRules& rules) {
  auto check = [&app, name, rules](std::string& text) -> std::string {
    std::optional<double> s = ParseSeconds(text, rules.bare_ms ? 1e-3 : 1);
    if (!s) {
      return "'" + text + "' is not a duration (" + (rules.bare_ms ? "milliseconds" : "seconds") +
             ", or a number with ms, s, m or h: 200ms, 5s, 1m)";
    }
    if (*s > 0 && *s < rules.nonzero_min_s) {
      return "'" + text + "' is below " + FormatDuration(rules.nonzero_min_s) + " (0: no limit)";
    }
    if (*s < rules.min_s || *s > rules.max_s) {
      return "'" + text + "' is outside " + FormatDuration(rules.min_s) + " to " + FormatDuration(rules.max_s);
    }
    if (rules.bare_was_ms && IsBareNumber(text) && *s >= 1000) {
      const CLI::App* root = &app;
      while (root->get_parent()) root = root->get_parent();
      std::fprintf(stderr, "%s: %s %s means %s seconds; write %sms for milliseconds\n", root->get_name().c_str(),
                   name.c_str(), text.c_str(), text.c_str(), text.c_str());
    }
    char buf[64];
    std::snprintf(buf, sizeof(buf), "%.17g", *s);
    text = buf;
    return "";
  };
  return app.add_option(name, *seconds, help)
      ->transform(CLI::Validator(check, ""))
      ->type_name("DURATION")
      ->default_str(FormatDuration(*seconds));
}

namespace {
template <typename T>
CLI::Option* AddRangeOption(CLI::App& app, const std::string& name, T* value, const std::string& help, T min, T max) {
  return app.add_option(name, *value, help)->capture_default_str()->check(CLI::Range(min, max));
}
}  // namespace

CLI::Option* AddNumber(CLI::App& app, const std::string& name, int* value, const std::string& help, int min, int max) {
  return AddRangeOption(app, name, value, help, min, max);
}
CLI::Option* AddNumber(CLI::App& app, const std::string& name, uint32_t* value, const std::string& help, uint32_t min,
                       uint32_t max) {
  return AddRangeOption(app, name, value, help, min, max);
}
CLI::Option* AddNumber(CLI::App& app, const std::string& name, uint64_t* value, const std::string& help, uint64_t min,
                       uint64_t max) {
  return AddRangeOption(app, name, value, help, min, max);
}

void AddVersionFlag(CLI::App& app) {
  app.set_version_flag("--version", VersionLine(app.get_name()), "Print the version and exit");
}

std::optional<int> ParseCommandLine(CLI::App& app, int argc, char** argv, std::string_view stray_word_hint) {
  // Extras are kept, not thrown: ReportStrayWords explains them better than
  // CLI11's "The following arguments were not expected".
  app.allow_extras();
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) sub->allow_extras();
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp&) {
    PrintHelp(app);
    return 0;
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);
    // A typo explains what follows from it ("--conect" leaves --connect
    // missing): the stray word is the thing to say.
    if (ReportStrayWords(app, stray_word_hint)) return 2;
    const CLI::App* where = Selected(app).back();
    while (where->get_parent() && where->get_fallthrough()) where = where->get_parent();
    std::fprintf(stderr, "%s: %s\nRun with --help for the options.\n", ProgramOf(*where).c_str(), e.what());
    return 2;
  }
  if (ReportStrayWords(app, stray_word_hint)) return 2;
  return std::nullopt;
}

std::string TaskLanguageHelp() {
  size_t width = 0;
  for (const TaskKind* k : AllKinds()) {
    if (!k->test_only) width = std::max(width, k->text.usage.size());
  }
  std::string pad(width + 4, ' ');
  std::string text =
      "Task lines (--tasks FILE): one task a line; blank lines are skipped, and a '#' that starts\n"
      "a word starts a comment (to the end of the line). A file is checked whole before anything\n"
      "runs; a pipe or FIFO runs each task as its line arrives (a bad line is said and skipped).\n";
  for (const TaskKind* k : AllKinds()) {
    if (k->test_only) continue;
    text += "  " + std::string(k->text.usage) + std::string(width + 2 - k->text.usage.size(), ' ') +
            std::string(k->text.summary) + "\n";
    if (k->text.example != k->text.usage) text += pad + "e.g. " + std::string(k->text.example) + "\n";
    for (std::string_view rest = k->text.options; !rest.empty();) {
      size_t end = rest.find('\n');
      text += pad + std::string(rest.substr(0, end)) + "\n";
      rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    }
    if (!k->worker_flag.empty()) {
      text += pad + "(a worker you start yourself runs these only with " + std::string(k->worker_flag) + ")\n";
    }
  }
  return text;
}

}  // namespace taskfarm
