// GNU parallel's replacement strings over an argument, and the exec/sh task
// line built from them. The template is cut into pieces once, in Parse, so a
// task line costs one pass over the pieces.
#include "common/exec_template.h"

#include <array>
#include <utility>

#include "common/quote.h"
#include "common/shell_words.h"

namespace taskfarm {
namespace {

// File::Basename's Unix fileparse: everything up to and including the last
// '/' ("./" when there is none), and the rest.
std::pair<std::string_view, std::string_view> FileParse(std::string_view path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string_view::npos) return {"./", path};
  return {path.substr(0, slash + 1), path.substr(slash + 1)};
}

// File::Basename's _strip_trailing_sep: trailing slashes off, but never the
// first byte ("/" stays "/").
std::string_view StripTrailingSlashes(std::string_view path) {
  while (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  return path;
}

// File::Basename's dirname, which GNU parallel's {//} calls: a path ending in
// '/' names its last component, so "a/b/" -> "a" and "dir/" -> ".".
std::string_view DirName(std::string_view path) {
  auto [dir, base] = FileParse(path);
  dir = StripTrailingSlashes(dir);
  if (base.empty()) dir = StripTrailingSlashes(FileParse(dir).first);
  return dir;
}

// GNU parallel's s:\.[^/.]*$:: — the last '.' counts only if no '/' follows.
std::string_view WithoutExtension(std::string_view path) {
  const size_t last = path.find_last_of("./");
  if (last == std::string_view::npos || path[last] != '.') return path;
  return path.substr(0, last);
}

// GNU parallel's s:.*/::
std::string_view BaseName(std::string_view path) {
  const size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

}  // namespace

ExecTemplate::Pieces ExecTemplate::Cut(std::string_view text) {
  // Every replacement string ends at its first '}', so none is a prefix of
  // another and the first that matches is the one.
  static constexpr std::array<std::pair<std::string_view, Kind>, 6> kReplacements = {{
      {"{}", Kind::kArg},
      {"{.}", Kind::kNoExtension},
      {"{/}", Kind::kBasename},
      {"{//}", Kind::kDirname},
      {"{/.}", Kind::kBasenameNoExtension},
      {"{#}", Kind::kNumber},
  }};
  Pieces pieces;
  size_t literal_start = 0;
  for (size_t i = text.find('{'); i != std::string_view::npos; i = text.find('{', i)) {
    const std::string_view rest = text.substr(i);
    bool matched = false;
    for (const auto& [token, kind] : kReplacements) {
      if (rest.substr(0, token.size()) != token) continue;
      if (i > literal_start)
        pieces.push_back({Kind::kLiteral, std::string(text.substr(literal_start, i - literal_start))});
      pieces.push_back({kind, ""});
      i += token.size();
      literal_start = i;
      matched = true;
      break;
    }
    if (!matched) ++i;
  }
  if (literal_start < text.size()) pieces.push_back({Kind::kLiteral, std::string(text.substr(literal_start))});
  return pieces;
}

std::string ExecTemplate::Value(Kind kind, std::string_view arg, uint64_t number) {
  switch (kind) {
    case Kind::kLiteral:
      break;
    case Kind::kArg:
      return std::string(arg);
    case Kind::kNoExtension:
      return std::string(WithoutExtension(arg));
    case Kind::kBasename:
      return std::string(BaseName(arg));
    case Kind::kDirname:
      return std::string(DirName(arg));
    case Kind::kBasenameNoExtension:
      return std::string(WithoutExtension(BaseName(arg)));
    case Kind::kNumber:
      return std::to_string(number);
  }
  return "";
}

StatusOr<ExecTemplate> ExecTemplate::Parse(std::string_view text) {
  ShellSplit split = SplitShellWords(text);
  if (!split.error.empty())
    return InvalidArgument("the exec template " + Quote(text) + " does not split into words: " + split.error);
  if (split.words.empty()) return InvalidArgument("the exec template " + Quote(text) + " holds no command");

  auto has_replacement = [](const Pieces& pieces) {
    for (const Piece& piece : pieces) {
      if (piece.kind != Kind::kLiteral) return true;
    }
    return false;
  };
  ExecTemplate result;
  result.uses_shell_ = HasShellSyntax(text);
  if (result.uses_shell_) {
    result.command_line_ = Cut(text);
    if (!has_replacement(result.command_line_)) {
      result.command_line_.push_back({Kind::kLiteral, " "});
      result.command_line_.push_back({Kind::kArg, ""});
    }
  } else {
    bool any = false;
    for (const std::string& word : split.words) {
      result.words_.push_back(Cut(word));
      any = any || has_replacement(result.words_.back());
    }
    // A word of its own, not " {}" on the text: a trailing comment in the
    // template must not swallow the argument.
    if (!any) result.words_.push_back({{Kind::kArg, ""}});
  }
  return result;
}

std::string ExecTemplate::TaskLine(std::string_view arg, uint64_t number) const {
  if (uses_shell_) {
    std::string command_line;
    for (const Piece& piece : command_line_) {
      command_line += piece.kind == Kind::kLiteral ? piece.literal : ShellQuote(Value(piece.kind, arg, number));
    }
    return "sh " + ShellQuote(command_line);
  }
  std::string line = "exec";
  for (const Pieces& pieces : words_) {
    std::string word;
    for (const Piece& piece : pieces)
      word += piece.kind == Kind::kLiteral ? piece.literal : Value(piece.kind, arg, number);
    line += ' ';
    line += ShellQuote(word);
  }
  return line;
}

}  // namespace taskfarm
