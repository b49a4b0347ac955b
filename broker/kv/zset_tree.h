// ZTree: the order of a sorted set — a counted B+tree of (score, member) entries, so that
// lookups by score, by member (lex) and by rank, inserts and removals all cost O(log n), and
// ranges walk linked leaves. It replaces Redis's skiplist with spans: one entry costs 16 bytes in
// a leaf (score inline for cache-friendly searches, plus a pointer to the member's bytes, which
// ZMember holds once for the tree and the member index) instead of a 40-70 byte skiplist node.
//
// Leaves hold up to kLeafCap entries as two arrays (scores, then members), linked both ways.
// Inner nodes hold up to kFan children with, per child, the entry count of its subtree (ranks)
// and its first entry (routing). Separators are exact: keys[i] is the first entry of child i for
// every i > 0, so they always point at live members (keys[0] is never read). A lone root leaf
// starts small and doubles up to kLeafCap, so small sets stay small.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace sluice::kv {

// One member of a sorted set: its score and bytes in one allocation, shared by the tree and the
// member index. Layout: score (8 bytes), length (1 byte, or 0xff then 4 bytes), the bytes.
class ZMember {
 public:
  static ZMember* create(std::string_view bytes, double score);
  static void destroy(ZMember* m);

  double score;

  std::string_view view() const {
    const auto* p = reinterpret_cast<const unsigned char*>(this) + sizeof(double);
    if (p[0] != 0xff) return {reinterpret_cast<const char*>(p + 1), p[0]};
    uint32_t len;
    std::memcpy(&len, p + 1, sizeof(len));
    return {reinterpret_cast<const char*>(p + 5), len};
  }
  // Bytes of the allocation (MEMORY USAGE-like accounting).
  size_t alloc_bytes() const;
};

// Redis's order: by score, then by member bytes (memcmp, shorter first on a common prefix).
inline int compare_members(std::string_view a, std::string_view b) {
  size_t n = a.size() < b.size() ? a.size() : b.size();
  int c = n ? std::memcmp(a.data(), b.data(), n) : 0;
  if (c != 0) return c;
  return a.size() < b.size() ? -1 : (a.size() > b.size() ? 1 : 0);
}
inline bool entry_less(double s1, std::string_view m1, double s2, std::string_view m2) {
  if (s1 != s2) return s1 < s2;
  return compare_members(m1, m2) < 0;
}

// (s1, m1) < (s2, m2), reading member bytes only on a score tie.
inline bool key_less(double s1, const ZMember* m1, double s2, const ZMember* m2) {
  if (s1 != s2) return s1 < s2;
  return m1 != m2 && compare_members(m1->view(), m2->view()) < 0;
}

class ZTree {
 public:
  static constexpr uint32_t kLeafCap = 64;
  static constexpr uint32_t kFan = 64;

  struct Leaf {
    uint16_t count;
    uint16_t cap;
    Leaf* prev;
    Leaf* next;
    double* scores() { return reinterpret_cast<double*>(this + 1); }
    ZMember** members() { return reinterpret_cast<ZMember**>(scores() + cap); }
  };
  struct Inner {
    uint32_t count;
    void* children[kFan];
    size_t counts[kFan];
    double scores[kFan];
    ZMember* members[kFan];
  };
  // A position: entry `i` of `leaf`; leaf == nullptr is the end.
  struct Pos {
    Leaf* leaf = nullptr;
    uint32_t i = 0;
    bool valid() const { return leaf != nullptr; }
    double score() const { return leaf->scores()[i]; }
    ZMember* member() const { return leaf->members()[i]; }
  };
  struct Seek {
    Pos pos;
    size_t rank;  // entries before pos (== size() at the end)
  };

  ZTree() = default;
  ~ZTree();
  ZTree(const ZTree&) = delete;
  ZTree& operator=(const ZTree&) = delete;

  size_t size() const { return size_; }
  // Adds an entry; (score, m) must not be present.
  void insert(double score, ZMember* m);
  // Removes the entry (score, m), which must be present.
  void erase(double score, ZMember* m);
  // Removes and returns the entry at `rank` (< size()).
  ZMember* erase_at_rank(size_t rank);
  // Frees every node (members are the caller's: visit them first).
  void clear();

  Pos at_rank(size_t rank) const;
  Pos first() const { return size_ ? Pos{first_leaf_, 0} : Pos{}; }
  Pos last() const;
  static Pos next(Pos p) {
    if (++p.i < p.leaf->count) return p;
    return {p.leaf->next, 0};
  }
  static Pos prev(Pos p) {
    if (p.i > 0) return {p.leaf, p.i - 1};
    Leaf* l = p.leaf->prev;
    return l ? Pos{l, static_cast<uint32_t>(l->count - 1)} : Pos{};
  }

  // The first entry e for which before(score, member) is false, with its rank. `before` must be
  // monotone over the tree's order (true on a prefix, false after); it gets the member pointer
  // so that it reads the member's bytes only when the scores tie.
  template <typename Before>
  Seek seek(Before&& before) const {
    if (!root_) return {{}, 0};
    size_t rank = 0;
    void* node = root_;
    for (int h = height_; h > 0; --h) {
      auto* in = static_cast<Inner*>(node);
      uint32_t lo = 1, hi = in->count;  // find the last i >= 1 with before(keys[i]), else 0
      while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;
        if (before(in->scores[mid], in->members[mid])) {
          lo = mid + 1;
        } else {
          hi = mid;
        }
      }
      uint32_t child = lo - 1;
      for (uint32_t c = 0; c < child; ++c) rank += in->counts[c];
      node = in->children[child];
    }
    auto* leaf = static_cast<Leaf*>(node);
    uint32_t lo = 0, hi = leaf->count;
    double* sc = leaf->scores();
    ZMember** mb = leaf->members();
    while (lo < hi) {
      uint32_t mid = (lo + hi) / 2;
      if (before(sc[mid], mb[mid])) {
        lo = mid + 1;
      } else {
        hi = mid;
      }
    }
    rank += lo;
    if (lo == leaf->count) return {{leaf->next, 0}, rank};
    return {{leaf, lo}, rank};
  }
  // The rank of the present entry (score, m).
  size_t rank_of(double score, const ZMember* m) const {
    return seek([&](double s, const ZMember* x) { return key_less(s, x, score, m); }).rank;
  }

  // Bytes of the nodes (not the members).
  size_t node_bytes() const { return node_bytes_; }

 private:
  struct Step {
    Inner* node;
    uint32_t idx;
  };
  struct Path {
    Step steps[32];
    int depth = 0;
  };

  Leaf* new_leaf(uint32_t cap);
  void free_leaf(Leaf* l);
  Inner* new_inner();
  void free_inner(Inner* in);
  void leaf_insert_at(Leaf* leaf, uint32_t pos, double score, ZMember* m);
  void split_and_insert(Path& path, Leaf* leaf, uint32_t pos, double score, ZMember* m);
  void erase_at(Path& path, Leaf* leaf, uint32_t pos);
  void rebalance_leaf(Path& path, Leaf* leaf);
  void rebalance_inner(Path& path, int level);
  void shrink_root();
  void free_subtree(void* node, int height);

  void* root_ = nullptr;
  int height_ = 0;  // inner levels above the leaves
  size_t size_ = 0;
  Leaf* first_leaf_ = nullptr;
  Leaf* last_leaf_ = nullptr;
  size_t node_bytes_ = 0;
};

}  // namespace sluice::kv
