// glob_match against Redis 7.0's stringmatchlen: documented syntax, Redis's quirks, and a
// differential run against a straightforward recursive model of Redis's algorithm.
#include "broker/core/glob.h"

#include <doctest/doctest.h>

#include <cctype>
#include <random>
#include <string>

namespace sluice::core {
namespace {

char lower(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

// Redis's algorithm as written in util.c, transcribed as plainly as possible: recursion at each
// '*' over every suffix of the text, a class scanned left to right, the 1000-deep limit.
bool model(std::string_view p, std::string_view s, bool nocase, int nesting = 0) {
  if (nesting > 1000) return false;
  size_t i = 0, j = 0;
  auto eq = [&](char a, char b) { return nocase ? lower(a) == lower(b) : a == b; };
  while (i < p.size() && j < s.size()) {
    char pc = p[i];
    if (pc == '*') {
      while (i + 1 < p.size() && p[i + 1] == '*') ++i;
      if (i + 1 == p.size()) return true;
      for (size_t k = j; k < s.size(); ++k) {
        if (model(p.substr(i + 1), s.substr(k), nocase, nesting + 1)) return true;
      }
      return false;
    }
    if (pc == '?') {
      ++j;
    } else if (pc == '[') {
      ++i;
      bool negate = i < p.size() && p[i] == '^';
      if (negate) ++i;
      bool match = false;
      while (true) {
        if (i < p.size() && p[i] == '\\' && p.size() - i >= 2) {
          ++i;
          if (p[i] == s[j]) match = true;
        } else if (i < p.size() && p[i] == ']') {
          break;
        } else if (i >= p.size()) {
          --i;  // the class ran off the end: the outer loop's step consumes the last char
          break;
        } else if (p.size() - i >= 3 && p[i + 1] == '-') {
          char lo = p[i], hi = p[i + 2], c = s[j];
          if (lo > hi) std::swap(lo, hi);
          if (nocase) {
            lo = lower(lo);
            hi = lower(hi);
            c = lower(c);
          }
          i += 2;
          if (c >= lo && c <= hi) match = true;
        } else if (eq(p[i], s[j])) {
          match = true;
        }
        ++i;
      }
      if (negate) match = !match;
      if (!match) return false;
      ++j;
    } else {
      if (pc == '\\' && p.size() - i >= 2) ++i;
      if (!eq(p[i], s[j])) return false;
      ++j;
    }
    ++i;
    if (j == s.size()) {
      while (i < p.size() && p[i] == '*') ++i;
      break;
    }
  }
  return i == p.size() && j == s.size();
}

}  // namespace

TEST_SUITE("core.glob") {
  TEST_CASE("stars, question marks and literals match as in Redis") {
    CHECK(glob_match("*", "anything"));
    CHECK(glob_match("h?llo", "hello"));
    CHECK(glob_match("h*llo", "heeeello"));
    CHECK(glob_match("h*llo", "hllo"));
    CHECK_FALSE(glob_match("h?llo", "hllo"));
    CHECK(glob_match("news.*", "news.art"));
    CHECK_FALSE(glob_match("news.*", "news"));
    CHECK(glob_match("a*b*c", "aXbYc"));
    CHECK_FALSE(glob_match("a*b*c", "aXbY"));
    CHECK(glob_match("a**", "a"));
  }

  TEST_CASE("character classes take ranges, negation and escapes") {
    CHECK(glob_match("h[ae]llo", "hallo"));
    CHECK_FALSE(glob_match("h[ae]llo", "hillo"));
    CHECK(glob_match("h[^e]llo", "hallo"));
    CHECK_FALSE(glob_match("h[^e]llo", "hello"));
    CHECK(glob_match("h[a-b]llo", "hbllo"));
    CHECK(glob_match("h[b-a]llo", "hallo"));  // reversed bounds are swapped
    CHECK(glob_match("[\\]]", "]"));
    CHECK(glob_match("[a-]", "-") == model("[a-]", "-", false));
  }

  TEST_CASE("a backslash makes the next character literal") {
    CHECK(glob_match("a\\*b", "a*b"));
    CHECK_FALSE(glob_match("a\\*b", "aXb"));
    CHECK(glob_match("a\\?", "a?"));
    CHECK(glob_match("a\\", "a\\"));  // a trailing backslash is itself
  }

  TEST_CASE("an unterminated class runs to the end of the pattern") {
    CHECK(glob_match("[abc", "b"));
    CHECK(glob_match("[^", "x"));
    CHECK_FALSE(glob_match("a[", "a"));
  }

  TEST_CASE("an empty text matches only the empty pattern, as PSUBSCRIBE * ignores PUBLISH \"\"") {
    CHECK(glob_match("", ""));
    CHECK_FALSE(glob_match("*", ""));
    CHECK_FALSE(glob_match("**", ""));
    CHECK_FALSE(glob_match("", "a"));
  }

  TEST_CASE("case folding folds literals and ranges but not escapes inside a class") {
    CHECK(glob_match("HELLO*", "hello world", true));
    CHECK(glob_match("[A-C]x", "bX", true));
    CHECK_FALSE(glob_match("[\\A]", "a", true));
    CHECK(glob_match("\\A", "a", true));
    CHECK_FALSE(glob_match("HELLO", "hello"));
  }

  TEST_CASE("more than 1000 nested star groups never match, as Redis's recursion limit") {
    std::string text(1100, 'a');
    std::string ok, over;
    for (int i = 0; i < 1001; ++i) ok += "a*";
    for (int i = 0; i < 1002; ++i) over += "a*";
    CHECK(glob_match(ok, text));  // the trailing star does not recurse
    CHECK_FALSE(glob_match(over, text));
  }

  TEST_CASE("pathological patterns finish and give the right answer") {
    std::string text(20000, 'a');
    std::string pattern;
    for (int i = 0; i < 30; ++i) pattern += "*a";
    CHECK(glob_match(pattern, text));
    CHECK_FALSE(glob_match(pattern + "b", text));
    CHECK_FALSE(glob_match("*?*?*?*?*?*?*?*?*?*?*?*?*b", text));
  }

  TEST_CASE("random patterns agree with a model of Redis's recursive algorithm") {
    std::mt19937 rng(12345);
    const std::string pattern_chars = "ab*?[]^-\\A";
    const std::string text_chars = "abB-]^\\*";
    auto random_string = [&](const std::string& alphabet, size_t max_len) {
      std::string s(rng() % (max_len + 1), ' ');
      for (char& c : s) c = alphabet[rng() % alphabet.size()];
      return s;
    };
    int disagreements = 0;
    for (int n = 0; n < 50000; ++n) {
      std::string p = random_string(pattern_chars, 9);
      std::string s = random_string(text_chars, 7);
      bool nocase = rng() % 4 == 0;
      if (glob_match(p, s, nocase) != model(p, s, nocase)) {
        if (++disagreements <= 5) {
          INFO("pattern=" << p << " text=" << s << " nocase=" << nocase);
          CHECK(glob_match(p, s, nocase) == model(p, s, nocase));
        }
      }
    }
    CHECK(disagreements == 0);
  }
}

}  // namespace sluice::core
