#include "broker/kv/set_object.h"

#include <algorithm>
#include <charconv>

#include "wire/stream_id.h"

namespace sluice::kv {

std::string_view format_member(int64_t v, MemberBuf& buf) {
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  (void)ec;  // 24 bytes always hold an int64
  return {buf.data(), static_cast<size_t>(end - buf.data())};
}

std::unique_ptr<SetObject> SetObject::create_for(std::string_view first_member) {
  int64_t v = 0;
  return std::make_unique<SetObject>(wire::parse_i64(first_member, &v));
}

bool SetObject::contains(std::string_view member) const {
  if (!intset_) return table_.find(member) != nullptr;
  int64_t v = 0;
  return wire::parse_i64(member, &v) && std::binary_search(ints_.begin(), ints_.end(), v);
}

bool SetObject::contains_int(int64_t member) const {
  if (intset_) return std::binary_search(ints_.begin(), ints_.end(), member);
  MemberBuf buf;
  return table_.find(format_member(member, buf)) != nullptr;
}

bool SetObject::add(std::string_view member, size_t max_intset_entries) {
  if (intset_) {
    int64_t v = 0;
    if (wire::parse_i64(member, &v)) return add_int(v, max_intset_entries);
    convert_to_table();
  }
  bool created = false;
  table_.insert(member, &created);
  return created;
}

bool SetObject::add_int(int64_t member, size_t max_intset_entries) {
  if (!intset_) {
    MemberBuf buf;
    bool created = false;
    table_.insert(format_member(member, buf), &created);
    return created;
  }
  auto it = std::lower_bound(ints_.begin(), ints_.end(), member);
  if (it != ints_.end() && *it == member) return false;
  ints_.insert(it, member);
  if (ints_.size() > std::min(max_intset_entries, kSetIntsetHardLimit)) convert_to_table();
  return true;
}

bool SetObject::remove(std::string_view member) {
  if (!intset_) return table_.erase(member);
  int64_t v = 0;
  if (!wire::parse_i64(member, &v)) return false;
  auto it = std::lower_bound(ints_.begin(), ints_.end(), v);
  if (it == ints_.end() || *it != v) return false;
  ints_.erase(it);
  return true;
}

void SetObject::convert_to_table() {
  if (!intset_) return;
  intset_ = false;
  MemberBuf buf;
  bool created = false;
  for (int64_t v : ints_) table_.insert(format_member(v, buf), &created);
  ints_.clear();
  ints_.shrink_to_fit();
}

void SetObject::swap_contents(SetObject& other) {
  std::swap(intset_, other.intset_);
  ints_.swap(other.ints_);
  table_.swap(other.table_);
}

std::unique_ptr<SetObject> SetObject::clone() const {
  auto copy = std::make_unique<SetObject>(intset_);
  if (intset_) {
    copy->ints_ = ints_;
  } else {
    bool created = false;
    table_.for_each([&](const Table::Entry& e) { copy->table_.insert(e.key, &created); });
  }
  return copy;
}

}  // namespace sluice::kv
