#include "broker/kv/list_object.h"

#include <doctest/doctest.h>

#include <deque>
#include <random>
#include <string>
#include <vector>

namespace sluice::kv {
namespace {

using End = ListObject::End;

std::string str(std::string_view v) { return std::string(v); }

std::vector<std::string> contents(const ListObject& l) {
  std::vector<std::string> out;
  auto it = l.iterate_from(0);
  std::string_view v;
  while (it.next(&v)) out.emplace_back(v);
  return out;
}

std::vector<std::string> model_contents(const std::deque<std::string>& m) {
  return {m.begin(), m.end()};
}

// Elements of every encoding: short and long strings, numbers in and out of canonical form.
std::string random_element(std::mt19937_64& rng) {
  switch (rng() % 10) {
    case 0:
      return std::to_string(static_cast<int64_t>(rng() % 9000) - 4500);
    case 1:
      return std::to_string(static_cast<int64_t>(rng()));
    case 2:
      return std::to_string(static_cast<int32_t>(rng()));
    case 3:
      return std::string(1 + rng() % 400, static_cast<char>('a' + rng() % 26));
    case 4:
      return "0" + std::to_string(rng() % 100);  // not canonical: stays a string
    case 5:
      return std::string(1, static_cast<char>('a' + rng() % 3));
    case 6:
      return "";
    default:
      return "e" + std::to_string(rng() % 50);
  }
}

// LREM on the model.
size_t model_remove(std::deque<std::string>& m, const std::string& v, int64_t count) {
  size_t removed = 0;
  const size_t limit = count == 0 ? SIZE_MAX : static_cast<size_t>(count < 0 ? -count : count);
  if (count >= 0) {
    for (auto it = m.begin(); it != m.end() && removed < limit;) {
      if (*it == v) {
        it = m.erase(it);
        ++removed;
      } else {
        ++it;
      }
    }
  } else {
    for (size_t i = m.size(); i-- > 0 && removed < limit;) {
      if (m[i] == v) {
        m.erase(m.begin() + static_cast<std::ptrdiff_t>(i));
        ++removed;
      }
    }
  }
  return removed;
}

std::vector<int64_t> model_positions(const std::deque<std::string>& m, const std::string& v,
                                     int64_t rank, size_t count, size_t maxlen) {
  std::vector<int64_t> out;
  size_t pass = static_cast<size_t>(rank > 0 ? rank - 1 : -rank - 1);
  const size_t n = m.size();
  for (size_t k = 0; k < n; ++k) {
    if (maxlen != 0 && k >= maxlen) break;
    const size_t i = rank > 0 ? k : n - 1 - k;
    if (m[i] != v) continue;
    if (pass > 0) {
      --pass;
      continue;
    }
    out.push_back(static_cast<int64_t>(i));
    if (count != 0 && out.size() == count) break;
  }
  return out;
}

void run_random(uint64_t seed, ListLimits limits, int steps, size_t max_len) {
  std::mt19937_64 rng(seed);
  ListObject l(limits);
  std::deque<std::string> m;
  char num[list_codec::kNumBufBytes];
  for (int step = 0; step < steps; ++step) {
    const unsigned op = static_cast<unsigned>(rng() % 100);
    const bool grow = m.size() < max_len;
    if (op < 30 && grow) {
      std::string v = random_element(rng);
      if (rng() % 2) {
        l.push(End::kHead, v);
        m.push_front(v);
      } else {
        l.push(End::kTail, v);
        m.push_back(v);
      }
    } else if (op < 55 && !m.empty()) {
      if (rng() % 2) {
        REQUIRE(str(l.front(num)) == m.front());
        l.pop(End::kHead);
        m.pop_front();
      } else {
        REQUIRE(str(l.back(num)) == m.back());
        l.pop(End::kTail);
        m.pop_back();
      }
    } else if (op < 62 && !m.empty()) {
      size_t i = rng() % m.size();
      std::string v = random_element(rng);
      l.set(i, v);
      m[i] = v;
    } else if (op < 70 && grow) {
      size_t i = rng() % (m.size() + 1);
      std::string v = random_element(rng);
      l.insert(i, v);
      m.insert(m.begin() + static_cast<std::ptrdiff_t>(i), v);
    } else if (op < 76 && !m.empty()) {
      std::string v = rng() % 2 ? m[rng() % m.size()] : random_element(rng);
      int64_t count = static_cast<int64_t>(rng() % 7) - 3;
      REQUIRE(l.remove(v, count) == model_remove(m, v, count));
    } else if (op < 79 && !m.empty()) {
      size_t front = rng() % (m.size() / 4 + 2);
      size_t back = rng() % (m.size() / 4 + 2);
      l.trim(front, back);
      if (front + back >= m.size()) {
        m.clear();
      } else {
        m.erase(m.begin(), m.begin() + static_cast<std::ptrdiff_t>(front));
        m.erase(m.end() - static_cast<std::ptrdiff_t>(back), m.end());
      }
    } else if (op < 86 && !m.empty()) {
      size_t i = rng() % m.size();
      REQUIRE(str(l.at(i, num)) == m[i]);
    } else if (op < 92 && !m.empty()) {
      std::string v = rng() % 2 ? m[rng() % m.size()] : random_element(rng);
      int64_t rank = static_cast<int64_t>(rng() % 5) + 1;
      if (rng() % 2) rank = -rank;
      size_t count = rng() % 4;
      size_t maxlen = rng() % 3 == 0 ? rng() % (m.size() + 1) : 0;
      std::vector<int64_t> got;
      l.positions(v, rank, count, maxlen, &got);
      REQUIRE(got == model_positions(m, v, rank, count, maxlen));
    } else if (!m.empty()) {
      // A range from a random start, as LRANGE walks it.
      size_t start = rng() % m.size();
      size_t len = 1 + rng() % 120;
      auto it = l.iterate_from(start);
      std::string_view v;
      for (size_t i = start; i < m.size() && i < start + len; ++i) {
        REQUIRE(it.next(&v));
        REQUIRE(str(v) == m[i]);
      }
    }
    REQUIRE(l.size() == m.size());
    if (step % 64 == 0 || m.size() < 40) REQUIRE(l.check());
  }
  REQUIRE(l.check());
  CHECK(contents(l) == model_contents(m));
  auto copy = l.clone();
  CHECK(copy->check());
  CHECK(contents(*copy) == model_contents(m));
}

TEST_SUITE("kv.list_object") {
  TEST_CASE("random pushes, pops, sets, inserts, removes, trims and ranges agree with a deque") {
    SUBCASE("small lists in one node") { run_random(1, ListLimits{}, 20000, 30); }
    SUBCASE("lists crossing many 8 KiB nodes") { run_random(2, ListLimits{}, 30000, 3000); }
    SUBCASE("tiny 4 KiB nodes and long lists") {
      run_random(3, ListLimits::from_config(-1), 30000, 6000);
    }
    SUBCASE("nodes capped at 5 elements") { run_random(4, ListLimits::from_config(5), 30000, 500); }
    SUBCASE("one element per node") { run_random(5, ListLimits::from_config(0), 10000, 200); }
    SUBCASE("64 KiB nodes") { run_random(6, ListLimits::from_config(-5), 20000, 4000); }
  }

  TEST_CASE("a queue fed at the head and drained from the tail keeps its order across nodes") {
    ListObject l;
    char num[list_codec::kNumBufBytes];
    for (int i = 0; i < 100000; ++i) l.push(End::kHead, "job-" + std::to_string(i));
    CHECK(l.node_count() > 10);
    for (int i = 0; i < 100000; ++i) {
      REQUIRE(str(l.back(num)) == "job-" + std::to_string(i));
      l.pop(End::kTail);
      if (i % 5000 == 0) REQUIRE(l.check());
    }
    CHECK(l.size() == 0);
    CHECK(l.node_count() == 0);
  }

  TEST_CASE("canonical integers are stored compactly and read back as the same text") {
    ListObject l;
    char num[list_codec::kNumBufBytes];
    const std::vector<std::string> values = {"0",
                                             "7",
                                             "-1",
                                             "4095",
                                             "-4096",
                                             "4096",
                                             "-4097",
                                             "32767",
                                             "-32768",
                                             "32768",
                                             "8388607",
                                             "-8388608",
                                             "8388608",
                                             "2147483647",
                                             "-2147483648",
                                             "2147483648",
                                             "9223372036854775807",
                                             "-9223372036854775808",
                                             "9223372036854775808",
                                             "-0",
                                             "01",
                                             "+1",
                                             "1.5",
                                             " 1",
                                             "1 "};
    for (const auto& v : values) l.push(End::kTail, v);
    for (size_t i = 0; i < values.size(); ++i) CHECK(str(l.at(i, num)) == values[i]);
    CHECK(list_codec::encode("12").size() == 2);
    CHECK(list_codec::encode("1000000").size() == 4);
    CHECK(list_codec::encode("100000000").size() == 5);
    CHECK(list_codec::encode("1234567890123").size() == 9);
    CHECK(list_codec::encode("-0").size() == 3);  // not canonical: a 2-byte string
    CHECK(l.find_first("-8388608") == 11);
    CHECK(l.find_first("8388608") == 12);
    CHECK(l.find_first("08388608") == -1);
  }

  TEST_CASE("an element larger than a node gets a node of its own") {
    ListObject l;
    char num[list_codec::kNumBufBytes];
    std::string big(50000, 'x');
    l.push(End::kTail, "a");
    l.push(End::kTail, big);
    l.push(End::kTail, "b");
    l.insert(1, big + "y");
    l.set(0, big + "z");
    CHECK(l.check());
    CHECK(l.size() == 4);
    CHECK(str(l.at(0, num)) == big + "z");
    CHECK(str(l.at(1, num)) == big + "y");
    CHECK(str(l.at(2, num)) == big);
    CHECK(str(l.at(3, num)) == "b");
  }

  TEST_CASE("a million short elements cost about their bytes plus one") {
    ListObject l;
    size_t payload = 0;
    for (int i = 0; i < 1000000; ++i) {
      std::string v = "element:" + std::to_string(i);
      payload += v.size();
      l.push(End::kTail, v);
    }
    const double per_element = static_cast<double>(l.allocated_bytes()) / 1e6;
    const double data = static_cast<double>(payload) / 1e6;
    MESSAGE("bytes per element: " << per_element << " (payload " << data << ")");
    CHECK(per_element < data + 1.2);
  }
}

}  // namespace
}  // namespace sluice::kv
