// Shell words without a shell: the `exec PROGRAM ARG...` task line is split
// the way /bin/sh would split it (quotes removed, nothing expanded), and any
// argv can be written back as text that both this splitter and /bin/sh read
// as exactly that argv.
//
//   ShellSplit split = SplitShellWords(R"(gzip -9 'my file.txt')");  // {"gzip", "-9", "my file.txt"}
//   if (!split.error.empty()) return split.error;  // for "gzip 'my": "unbalanced ' quote (opened at column 6)"
//   std::string line = "exec " + JoinShellWords(split.words);       // exec gzip -9 'my file.txt'
//   if (HasShellSyntax("gzip < {} > {}.gz")) ...;                    // true: only /bin/sh can run it
//
// All functions are pure, never throw, take any bytes (NUL and invalid
// UTF-8 included) and run in time linear in their input: they run once per
// task line.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace taskfarm {

struct ShellSplit {
  std::vector<std::string> words;
  // Non-empty when the text is not valid (words is then empty), e.g.
  // "unbalanced ' quote (opened at column 7)". Columns count bytes from 1.
  std::string error;
};

// Splits like a POSIX shell's word splitting with quote removal, but performs
// NO expansion ($, `, globs, ~ stay literal characters):
//   '...' is literal; in "..." a backslash escapes only $ ` " \ and newline
//   (before anything else it stays); outside quotes a backslash escapes the
//   next byte. A backslash before a newline (outside '...') is a line
//   continuation, removed with the newline, as /bin/sh does.
//   Blanks (space, tab, CR, LF, VT, FF) separate words; "" and '' make an
//   empty word; an unquoted `#` at the start of a word begins a comment that
//   runs to the end of the text.
// Errors: an unbalanced ' or " quote (which one, and the column it opened
// at) and a trailing backslash.
[[nodiscard]] ShellSplit SplitShellWords(std::string_view text);

// One word for /bin/sh and SplitShellWords: unchanged when it is non-empty,
// consists only of [A-Za-z0-9_@%+=:,./-] and does not read as an assignment
// (NAME=..., which /bin/sh would take for one as a command's first word);
// otherwise wrapped in '...' with each ' written as '\'' ("" -> '').
// SplitShellWords(ShellQuote(w)).words == {w} for every byte string w. A NUL
// byte survives that round trip but not /bin/sh: no argv string holds one.
[[nodiscard]] std::string ShellQuote(std::string_view word);

// The words, each through ShellQuote, joined with single spaces: the text
// SplitShellWords reads back as `words`. {} -> "".
[[nodiscard]] std::string JoinShellWords(const std::vector<std::string>& words);

// Whether `text` uses syntax only /bin/sh can carry out, so running its
// split words directly would not do what the shell would: outside quotes
// | & ; < > ( ) ` $ * ? [ or a newline, or a ~ starting a word; inside "..."
// an unescaped $ or `; a first word that is an assignment (FOO=1 cmd) or a
// reserved word (!, if, for, {, ...). Plain words, quoting, backslashes and
// comments alone are not shell syntax. Text after an unbalanced quote is
// taken as quoted.
[[nodiscard]] bool HasShellSyntax(std::string_view text);

}  // namespace taskfarm
