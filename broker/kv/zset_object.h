// ZSetObject: a sorted set. The order lives in a counted B+tree (ZTree: ranks, score and lex
// ranges in O(log n)); members are found by name through ZMemberIndex, an open-addressing table
// of pointers to the same ZMember allocations, so each member's bytes are stored once. About 60
// bytes per member for a large set (Redis 7.0's skiplist + dict: 100+).
//
// OBJECT ENCODING mimics Redis 7.0, which clients can see: "listpack" while the set never held
// more than zset-max-listpack-entries members nor a member longer than zset-max-listpack-value
// bytes, then "skiplist" for good. A listpack stores a score as text and turns -0 into 0, so
// while the set reports "listpack" a -0 score is stored as 0, as Redis would print it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "broker/core/object.h"
#include "broker/kv/zset_tree.h"

namespace sluice::kv {

// CONFIG zset-max-listpack-entries / zset-max-listpack-value.
struct ZSetLimits {
  size_t max_listpack_entries = 128;
  size_t max_listpack_value = 64;
};

// Member name -> ZMember, open addressing with linear probing. An entry's home slot is given by
// the top bits of its hash, so the table is laid out in hash order: ZSCAN's cursor is a hash
// value, which stays meaningful when the table grows or shrinks (every member present for a
// whole scan is returned). A slot holds the pointer with 16 more bits of the hash in its unused
// top bits, so most mismatches are rejected without touching the member, and the entry's
// distance from its home slot (0-6, 7 for "7 or more") in the pointer's three low bits, which a
// ZMember's 8-byte alignment leaves zero. Deletion shifts later entries back (no tombstones);
// the distance tells it where each of them belongs without loading and rehashing the member,
// which made ZPOPMIN's erase a chain of cache misses.
class ZMemberIndex {
 public:
  ZMemberIndex() = default;
  ~ZMemberIndex();
  ZMemberIndex(const ZMemberIndex&) = delete;
  ZMemberIndex& operator=(const ZMemberIndex&) = delete;

  static uint64_t hash(std::string_view s);
  bool active() const { return slots_ != nullptr; }
  size_t size() const { return size_; }
  size_t bytes() const { return slots_ ? (mask_ + 1) * sizeof(uintptr_t) : 0; }
  ZMember* find(std::string_view member, uint64_t h) const;
  // Adds a member that is not present.
  void insert(ZMember* m, uint64_t h);
  void erase(const ZMember* m, uint64_t h);
  void clear();

  // One ZSCAN step: visits the members whose hash is >= cursor in the next buckets (about
  // `count` members); returns the next cursor, 0 when the scan is complete.
  template <typename F>
  uint64_t scan(uint64_t cursor, size_t count, F&& fn) const {
    if (!slots_ || size_ == 0) return 0;
    const size_t n = mask_ + 1;
    const size_t start = cursor >> shift_;
    size_t end = start;
    for (size_t seen = 0; end < n && seen < count; ++end) seen += slots_[end] != 0;
    auto visit = [&](size_t i) {
      uintptr_t s = slots_[i];
      if (s == 0) return false;
      const ZMember* m = member_of(s);
      uint64_t h = hash(m->view());
      size_t home = h >> shift_;
      if (home >= start && home < end && h >= cursor) fn(*m);
      return true;
    };
    for (size_t i = start; i < end; ++i) visit(i);
    // Members whose home is in the window but that were probed past its end (maybe wrapping).
    for (size_t i = end & mask_, steps = 0; steps < n && visit(i); i = (i + 1) & mask_) ++steps;
    return end >= n ? 0 : static_cast<uint64_t>(end) << shift_;
  }

 private:
  static constexpr int kTagShift = 48;
  static constexpr uintptr_t kDistMask = 7;  // alignof(ZMember) >= 8 (it starts with a double)
  static constexpr uintptr_t kPtrMask = ((uintptr_t{1} << kTagShift) - 1) & ~kDistMask;
  static const ZMember* member_of(uintptr_t slot) {
    return reinterpret_cast<const ZMember*>(slot & kPtrMask);
  }
  size_t home(uint64_t h) const { return h >> shift_; }
  // The entry for `m` placed at slot `i`.
  uintptr_t slot_for(const ZMember* m, uint64_t h, size_t i) const {
    const size_t dist = (i - home(h)) & mask_;
    return (reinterpret_cast<uintptr_t>(m) & kPtrMask) | ((h & 0xffff) << kTagShift) |
           (dist < kDistMask ? dist : kDistMask);
  }
  // The home slot of the entry `s` found at slot `i`.
  size_t home_of(uintptr_t s, size_t i) const {
    const uintptr_t dist = s & kDistMask;
    if (dist != kDistMask) return (i - dist) & mask_;
    return home(hash(member_of(s)->view()));
  }
  void resize(size_t n);

  uintptr_t* slots_ = nullptr;
  size_t mask_ = 0;
  int shift_ = 64;
  size_t size_ = 0;
};

class ZSetObject final : public core::Object {
 public:
  ZSetObject() : core::Object(core::ObjectType::kZSet) {}
  ~ZSetObject() override;

  size_t size() const { return tree_.size(); }
  bool is_listpack() const { return listpack_; }
  std::string_view encoding() const override { return listpack_ ? "listpack" : "skiplist"; }
  // The skiplist encoding, for good (replay of a snapshot, conversion rules).
  void set_skiplist() { listpack_ = false; }
  // A STORE result or a reloaded set reports "listpack" again if it is small enough.
  void convert_if_small(const ZSetLimits& limits);

  ZMember* find(std::string_view member) const;
  // Adds a member that is not present; converts the encoding first if Redis would.
  ZMember* insert(std::string_view member, double score, const ZSetLimits& limits);
  // Gives a present member a new score.
  void update(ZMember* m, double score);
  // Removes (and frees) a present member.
  void erase(ZMember* m);
  bool erase(std::string_view member);
  // Removes and frees the member at `rank`.
  void erase_at_rank(size_t rank);

  size_t rank(const ZMember* m) const { return tree_.rank_of(m->score, m); }
  // One ZSCAN step: a listpack (or a set too small for an index) is visited whole in one call,
  // as Redis returns a listpack whole; returns the next cursor.
  template <typename F>
  uint64_t scan(uint64_t cursor, size_t count, F&& fn) const {
    if (listpack_ || !index_.active()) {
      for_each(fn);
      return 0;
    }
    return index_.scan(cursor, count, fn);
  }
  const ZTree& tree() const { return tree_; }
  // Bytes held (members, tree nodes, index), for MEMORY USAGE and tests.
  size_t memory_bytes() const;

  // Visits members in order: fn(const ZMember&).
  template <typename F>
  void for_each(F&& fn) const {
    for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) fn(*p.member());
  }

 private:
  // Sets keep an index once they pass this many members; smaller ones scan their few entries.
  static constexpr size_t kIndexFrom = 16;
  double stored_score(double score) const { return listpack_ && score == 0 ? 0.0 : score; }
  void build_index();

  ZTree tree_;
  ZMemberIndex index_;
  bool listpack_ = true;
};

}  // namespace sluice::kv
