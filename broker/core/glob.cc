// Glob matching as Redis's stringmatchlen, with the classic "remember the last star" loop:
// every token but '*' consumes exactly one character, so retrying from the last star is enough.
#include "broker/core/glob.h"

#include <cctype>
#include <cstddef>

namespace sluice::core {
namespace {

char fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// Matches one non-star token of `pattern` at p against character c. On return *next is the
// index after the token. Returns whether it matched.
bool match_token(std::string_view pattern, size_t p, char c, bool nocase, size_t* next) {
  const size_t n = pattern.size();
  char pc = pattern[p];
  if (pc == '?') {
    *next = p + 1;
    return true;
  }
  if (pc == '\\' && p + 1 < n) {
    *next = p + 2;
    return fold(pattern[p + 1], nocase) == fold(c, nocase);
  }
  if (pc != '[') {
    *next = p + 1;
    return fold(pc, nocase) == fold(c, nocase);
  }
  // Character class. As Redis: a missing ']' makes the class run to the end of the pattern.
  size_t i = p + 1;
  bool negate = false;
  if (i < n && pattern[i] == '^') {
    negate = true;
    ++i;
  }
  bool matched = false;
  while (i < n && pattern[i] != ']') {
    if (pattern[i] == '\\' && i + 1 < n) {
      ++i;
      if (fold(pattern[i], nocase) == fold(c, nocase)) matched = true;
      ++i;
    } else if (i + 2 < n && pattern[i + 1] == '-') {
      char lo = fold(pattern[i], nocase);
      char hi = fold(pattern[i + 2], nocase);
      if (lo > hi) std::swap(lo, hi);
      char cc = fold(c, nocase);
      if (cc >= lo && cc <= hi) matched = true;
      i += 3;
    } else {
      if (fold(pattern[i], nocase) == fold(c, nocase)) matched = true;
      ++i;
    }
  }
  *next = i < n ? i + 1 : i;  // skip ']'
  return negate ? !matched : matched;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  size_t p = 0, t = 0;
  size_t star_p = std::string_view::npos, star_t = 0;
  while (t < text.size()) {
    if (p < pattern.size() && pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      if (p == pattern.size()) return true;
      star_p = p;
      star_t = t;
      continue;
    }
    size_t next = 0;
    if (p < pattern.size() && match_token(pattern, p, text[t], nocase, &next)) {
      p = next;
      ++t;
      continue;
    }
    if (star_p == std::string_view::npos) return false;
    p = star_p;
    t = ++star_t;
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

}  // namespace sluice::core
