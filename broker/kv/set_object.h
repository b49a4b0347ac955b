// SetObject: the set type. It mimics Redis 7.0's two set encodings because clients see them,
// through OBJECT ENCODING and through the order SMEMBERS, SSCAN and SRANDMEMBER return members:
//
//   "intset"     every member is an integer (string2ll: no '+', no leading zero, no "-0") and
//                there are at most set-max-intset-entries of them. Kept as a sorted vector of
//                int64, so members come out in numeric order exactly as from Redis's intset, a
//                lookup is a binary search and a random member is one index.
//   "hashtable"  for good once a member is not an integer or the set grows past the limit (a
//                set never goes back while it lives; a restart may re-encode it, see
//                set_records.cc). A ScanTable, so SSCAN cursors survive resizes as Redis's do.
//
// Members are handed out as string_views; an intset member is formatted into a caller's
// MemberBuf. A view of a table member stays valid until that member is removed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/object.h"
#include "broker/core/scan_table.h"

namespace sluice::kv {

// Redis's default set-max-intset-entries, and the cap it applies to any configured value.
inline constexpr size_t kSetMaxIntsetEntries = 512;
inline constexpr size_t kSetIntsetHardLimit = size_t{1} << 30;

// Room for any int64 in decimal.
using MemberBuf = std::array<char, 24>;

// `v` formatted into `buf`, as Redis prints an intset member.
std::string_view format_member(int64_t v, MemberBuf& buf);

class SetObject final : public core::Object {
 public:
  struct NoValue {};
  using Table = core::ScanTable<NoValue>;

  // An empty set in the encoding Redis's setTypeCreate picks for its first member: intset when
  // it is an integer.
  static std::unique_ptr<SetObject> create_for(std::string_view first_member);
  explicit SetObject(bool intset = true) : core::Object(core::ObjectType::kSet), intset_(intset) {}

  size_t size() const { return intset_ ? ints_.size() : table_.size(); }
  bool empty() const { return size() == 0; }
  bool is_intset() const { return intset_; }
  std::string_view encoding() const override { return intset_ ? "intset" : "hashtable"; }

  bool contains(std::string_view member) const;
  bool contains_int(int64_t member) const;
  // Adds a member; returns whether it was new. `max_intset_entries` is set-max-intset-entries:
  // an intset that grows past it becomes a hash table (Redis checks only when a member is
  // actually added).
  bool add(std::string_view member, size_t max_intset_entries);
  bool add_int(int64_t member, size_t max_intset_entries);
  bool remove(std::string_view member);
  void convert_to_table();
  // Exchanges the members and encodings (not the TTL) with `other`.
  void swap_contents(SetObject& other);
  // A deep copy in the same encoding, TTL excluded.
  std::unique_ptr<SetObject> clone() const;

  // The intset's members in order (empty for a table).
  const std::vector<int64_t>& ints() const { return ints_; }

  // Visits every member in the encoding's order: fn(std::string_view). No writes inside.
  template <typename F>
  void for_each(F&& fn) const {
    if (intset_) {
      MemberBuf buf;
      for (int64_t v : ints_) fn(format_member(v, buf));
    } else {
      table_.for_each([&](const Table::Entry& e) { fn(std::string_view(e.key)); });
    }
  }

  // A random member (the set must not be empty): uniform for an intset, a random bucket's random
  // member for a table (Redis's dictGetFairRandomKey is the same approximation). `rnd` returns
  // uniform 64-bit values.
  template <typename Rng>
  std::string_view random_member(Rng&& rnd, MemberBuf& buf) const {
    if (intset_) return format_member(ints_[rnd() % ints_.size()], buf);
    const Table::Entry* e = table_.random_entry(rnd);
    return e ? std::string_view(e->key) : std::string_view();
  }

  // One SSCAN step over the table encoding (an intset is returned whole by the caller); returns
  // the next cursor, 0 when the scan is complete.
  template <typename F>
  uint64_t scan_step(uint64_t cursor, F&& fn) const {
    return table_.scan_step(cursor, [&](const Table::Entry& e) { fn(std::string_view(e.key)); });
  }

 private:
  bool intset_;
  std::vector<int64_t> ints_;  // sorted, unique: the intset encoding
  Table table_;                // the hashtable encoding
};

}  // namespace sluice::kv
