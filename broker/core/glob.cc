// Glob matching with the results of Redis 7.0's stringmatchlen, found by the classic "remember
// the last star" loop: every token but '*' consumes exactly one character, so retrying from the
// last star is enough and the cost stays O(pattern * text) for any pattern. Redis's quirks are
// kept because clients see them: an empty text matches only an empty pattern (PSUBSCRIBE * does
// not receive PUBLISH ""), an escape inside a class compares case-sensitively even when folding,
// and a pattern needing more than 1000 nested stars never matches (Redis's recursion limit).
#include "broker/core/glob.h"

#include <cctype>
#include <cstddef>
#include <utility>

namespace sluice::core {
namespace {

// Redis recurses once per star group it passes with text left to match, and gives up when it
// is nested more than this deep.
constexpr size_t kMaxNestedStars = 1000;

char fold(char c, bool nocase) {
  return nocase ? static_cast<char>(std::tolower(static_cast<unsigned char>(c))) : c;
}

// Matches one non-star token of `pattern` at p against character c. On return *next is the
// index after the token, whatever c is. Returns whether it matched.
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
  // Character class. As Redis: a missing ']' makes the class run to the end of the pattern, and
  // "x-y" takes three characters even when y is the ']' that would have closed the class.
  size_t i = p + 1;
  bool negate = false;
  if (i < n && pattern[i] == '^') {
    negate = true;
    ++i;
  }
  bool matched = false;
  while (i < n && pattern[i] != ']') {
    if (pattern[i] == '\\' && i + 1 < n) {
      if (pattern[i + 1] == c) matched = true;
      i += 2;
    } else if (i + 2 < n && pattern[i + 1] == '-') {
      // Compared as (signed) char, with the bounds swapped if reversed, as Redis does.
      char lo = pattern[i];
      char hi = pattern[i + 2];
      if (lo > hi) std::swap(lo, hi);
      char cc = c;
      if (nocase) {
        lo = fold(lo, true);
        hi = fold(hi, true);
        cc = fold(cc, true);
      }
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

// Star groups (runs of '*') that are not at the very end of the pattern: how deep Redis's
// recursion goes on a successful match.
size_t inner_star_groups(std::string_view pattern) {
  size_t groups = 0;
  size_t p = 0;
  while (p < pattern.size()) {
    if (pattern[p] == '*') {
      while (p < pattern.size() && pattern[p] == '*') ++p;
      if (p < pattern.size()) ++groups;
      continue;
    }
    size_t next = 0;
    match_token(pattern, p, '\0', false, &next);
    p = next;
  }
  return groups;
}

}  // namespace

bool glob_match(std::string_view pattern, std::string_view text, bool nocase) {
  if (text.empty()) return pattern.empty();
  // Each inner star group needs a non-star token after it, so only long patterns can exceed it.
  if (pattern.size() > 2 * kMaxNestedStars && inner_star_groups(pattern) > kMaxNestedStars) {
    return false;
  }
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
