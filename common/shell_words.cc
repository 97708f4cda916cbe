// POSIX word splitting and quoting, by hand: one pass over the bytes, no
// regex, no allocation beyond the words themselves.
#include "common/shell_words.h"

#include <array>
#include <utility>

namespace taskfarm {
namespace {

// The task parser's blanks (task_parser.cc): a stray CR from a file edited on
// Windows separates words instead of ending up inside one.
bool IsBlank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f'; }

bool IsAsciiAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'); }

bool IsNameChar(char c) { return IsAsciiAlnum(c) || c == '_'; }

// Bytes that mean nothing to /bin/sh or to SplitShellWords in any position.
bool IsSafe(char c) {
  constexpr std::string_view kSafePunctuation = "_@%+=:,./-";
  return IsAsciiAlnum(c) || kSafePunctuation.find(c) != std::string_view::npos;
}

// NAME= at the start: /bin/sh takes such a first word for an assignment.
bool StartsWithAssignment(std::string_view word) {
  if (word.empty() || !IsNameChar(word[0]) || (word[0] >= '0' && word[0] <= '9')) return false;
  size_t i = 1;
  while (i < word.size() && IsNameChar(word[i])) ++i;
  return i < word.size() && word[i] == '=';
}

// Outside quotes, these make /bin/sh do something a plain argv cannot.
bool IsOperatorOrExpansion(char c) {
  constexpr std::string_view kSpecial = "|&;<>()`$*?[";
  return kSpecial.find(c) != std::string_view::npos;
}

// POSIX reserved words: as a first word they start a compound command.
bool IsReservedWord(std::string_view word) {
  static constexpr std::array<std::string_view, 16> kReserved = {
      "!", "{", "}", "case", "do", "done", "elif", "else", "esac", "fi", "for", "if", "in", "then", "until", "while"};
  for (std::string_view reserved : kReserved) {
    if (word == reserved) return true;
  }
  return false;
}

// The first word as written (quotes and all), up to the first blank.
std::string_view FirstRawWord(std::string_view text) {
  size_t start = 0;
  while (start < text.size() && IsBlank(text[start])) ++start;
  size_t end = start;
  while (end < text.size() && !IsBlank(text[end])) ++end;
  return text.substr(start, end - start);
}

ShellSplit Error(std::string message) { return ShellSplit{{}, std::move(message)}; }

std::string Unbalanced(char quote, size_t index) {
  return std::string("unbalanced ") + quote + " quote (opened at column " + std::to_string(index + 1) + ")";
}

}  // namespace

ShellSplit SplitShellWords(std::string_view text) {
  ShellSplit result;
  std::string word;
  bool in_word = false;  // a word has begun, even if it is still empty ('')
  const size_t n = text.size();
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\\' && i + 1 < n && text[i + 1] == '\n') {
      i += 2;  // a line continuation: neither a byte of a word nor a blank
      continue;
    }
    if (IsBlank(c)) {
      if (in_word) result.words.push_back(std::move(word));
      word.clear();
      in_word = false;
      ++i;
      continue;
    }
    if (c == '#' && !in_word) break;
    in_word = true;
    if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return Error(Unbalanced('\'', i));
      word.append(text.substr(i + 1, close - i - 1));
      i = close + 1;
    } else if (c == '"') {
      const size_t open = i++;
      while (true) {
        if (i >= n) return Error(Unbalanced('"', open));
        const char d = text[i];
        if (d == '"') break;
        if (d == '\\' && i + 1 < n) {
          const char next = text[i + 1];
          if (next == '\n') {
            i += 2;
            continue;
          }
          if (next == '$' || next == '`' || next == '"' || next == '\\') {
            word += next;
            i += 2;
            continue;
          }
        }
        word += d;
        ++i;
      }
      ++i;  // the closing quote
    } else if (c == '\\') {
      if (i + 1 >= n) return Error("trailing backslash at column " + std::to_string(i + 1) + " escapes nothing");
      word += text[i + 1];
      i += 2;
    } else {
      word += c;
      ++i;
    }
  }
  if (in_word) result.words.push_back(std::move(word));
  return result;
}

std::string ShellQuote(std::string_view word) {
  bool safe = !word.empty() && !StartsWithAssignment(word);
  for (size_t i = 0; safe && i < word.size(); ++i) safe = IsSafe(word[i]);
  if (safe) return std::string(word);
  std::string out;
  out.reserve(word.size() + 2);
  out += '\'';
  for (char c : word) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  out += '\'';
  // "it's" reads better as 'it'\''s' than ''\''it'\''s'': drop the empty ''
  // a leading or trailing ' leaves at either end (GNU parallel does too).
  if (!word.empty() && word.front() == '\'') out.erase(0, 2);
  if (!word.empty() && word.back() == '\'') out.resize(out.size() - 2);
  return out;
}

std::string JoinShellWords(const std::vector<std::string>& words) {
  std::string out;
  for (size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += ' ';
    out += ShellQuote(words[i]);
  }
  return out;
}

bool HasShellSyntax(std::string_view text) {
  const std::string_view first = FirstRawWord(text);
  if (IsReservedWord(first) || StartsWithAssignment(first)) return true;
  const size_t n = text.size();
  bool word_start = true;
  size_t i = 0;
  while (i < n) {
    const char c = text[i];
    if (c == '\n') return true;  // a command separator; caught before IsBlank takes it
    if (IsBlank(c)) {
      word_start = true;
      ++i;
      continue;
    }
    // A comment runs to the end of the text for SplitShellWords, but only to
    // the end of its line for /bin/sh, which then runs the next line.
    if (word_start && c == '#') return text.find('\n', i) != std::string_view::npos;
    if (word_start && c == '~') return true;
    word_start = false;
    if (IsOperatorOrExpansion(c)) return true;
    if (c == '\\') {
      i += 2;  // the escaped byte, whatever it is, is literal
    } else if (c == '\'') {
      const size_t close = text.find('\'', i + 1);
      if (close == std::string_view::npos) return false;
      i = close + 1;
    } else if (c == '"') {
      for (++i; i < n && text[i] != '"'; ++i) {
        if (text[i] == '$' || text[i] == '`') return true;
        if (text[i] == '\\') ++i;  // skips an escaped $ ` " \; any other byte is literal anyway
      }
      ++i;
    } else {
      ++i;
    }
  }
  return false;
}

}  // namespace taskfarm
