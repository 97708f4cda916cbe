// GNU parallel's command template, for `coordinator --exec 'gzip -9 {}'
// --args files.txt`: one task line per argument line.
//
//   StatusOr<ExecTemplate> t = ExecTemplate::Parse("gzip -9 {}");
//   if (!t.ok()) return t.status();
//   t->TaskLine("my file.txt", 1);    // exec gzip -9 'my file.txt'
//   ExecTemplate::Parse("gzip < {} > {.}.gz")->TaskLine("a b.txt", 2);
//                                     // sh 'gzip < '\''a b.txt'\'' > '\''a b'\''.gz'
//
// Replacement strings, as GNU parallel computes them (its --rpl table and
// File::Basename's dirname): {} the argument; {.} without its extension
// (the last '.' with neither '.' nor '/' after it, and what follows it:
// a.tar.gz -> a.tar, dir.d/file unchanged, .bashrc -> ""); {/} the basename
// (after the last '/'; "dir/" -> ""); {//} the dirname ("." when there is no
// '/', "/x" -> "/", "a/b/" -> "a"); {/.} the basename without its extension;
// {#} the task number. Any other {...} ({print $1}, {%}, {1}) is left as is.
// Immutable once parsed: TaskLine may be called from any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace taskfarm {

class ExecTemplate {
 public:
  // Parses the template; InvalidArgument (a sentence naming the problem)
  // when it does not split (an unbalanced quote, a trailing backslash) or
  // holds no command (empty, blank or a comment).
  static StatusOr<ExecTemplate> Parse(std::string_view text);

  // The task line for one argument (one input line, without its newline) as
  // task number `number` (1-based, {#}):
  //   without shell syntax: "exec WORD...". The template's words, each with
  //     its replacement strings replaced by their values (so an argument stays
  //     inside ONE word whatever spaces or quotes it holds), re-quoted with
  //     ShellQuote: SplitShellWords of the line after "exec " is that argv.
  //   with shell syntax (HasShellSyntax): "sh " + ShellQuote(CMDLINE), where
  //     CMDLINE is the template text with each replacement string replaced by
  //     ShellQuote(value), as GNU parallel does, so `gzip < {} > {}.gz` works
  //     for any name. Inside '...' or "..." in the template that quoting
  //     nests wrongly, in GNU parallel too: leave replacement strings unquoted.
  // A template with no replacement string gets " {}" appended (GNU
  // parallel's habit: `--exec gzip` gzips each argument).
  [[nodiscard]] std::string TaskLine(std::string_view arg, uint64_t number) const;

  // Whether task lines are `sh` lines (the template has shell syntax).
  [[nodiscard]] bool uses_shell() const { return uses_shell_; }

 private:
  enum class Kind { kLiteral, kArg, kNoExtension, kBasename, kDirname, kBasenameNoExtension, kNumber };
  // A run of literal text or one replacement string.
  struct Piece {
    Kind kind = Kind::kLiteral;
    std::string literal;
  };
  using Pieces = std::vector<Piece>;

  static Pieces Cut(std::string_view text);
  static std::string Value(Kind kind, std::string_view arg, uint64_t number);

  bool uses_shell_ = false;
  std::vector<Pieces> words_;  // exec mode: one Pieces per word
  Pieces command_line_;        // shell mode: the template text
};

}  // namespace taskfarm
