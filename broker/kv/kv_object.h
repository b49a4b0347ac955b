// The KV layer's value types: StringObject and HashObject. Hashes mimic Redis's two encodings
// because clients can see them: a small hash keeps its fields in insertion order (a listpack in
// Redis, so HGETALL order matches), and becomes a hash table for good once it passes
// hash-max-listpack-entries fields or a field or value longer than hash-max-listpack-value.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/object.h"
#include "broker/core/scan_table.h"

namespace sluice::kv {

// Redis 7.0's defaults (hash-max-listpack-entries 512, hash-max-listpack-value 64).
inline constexpr size_t kHashMaxListpackEntries = 512;
inline constexpr size_t kHashMaxListpackValue = 64;

// When a listpack hash becomes a table (CONFIG hash-max-listpack-entries / -value), read at
// each write as Redis does.
struct HashLimits {
  size_t max_entries = kHashMaxListpackEntries;
  size_t max_value = kHashMaxListpackValue;
};
inline HashLimits hash_limits(const config::Config& c) {
  return {static_cast<size_t>(c.hash_max_listpack_entries),
          static_cast<size_t>(c.hash_max_listpack_value)};
}
// Redis stores strings of up to 44 bytes in one allocation with their header ("embstr").
inline constexpr size_t kEmbstrMaxBytes = 44;

class StringObject final : public core::Object {
 public:
  StringObject() : core::Object(core::ObjectType::kString) {}
  explicit StringObject(std::string_view v) : core::Object(core::ObjectType::kString), value(v) {}

  std::string value;
  // APPEND and SETRANGE leave a "raw" string in Redis whatever its length or content.
  bool raw = false;

  // OBJECT ENCODING: "int", "embstr" or "raw", as Redis would have encoded this value.
  std::string_view encoding() const override;
};

// Whether Redis would store `s` as an integer (string2ll succeeds and it fits in 20 chars).
bool looks_like_int(std::string_view s, int64_t* out = nullptr);

class HashObject final : public core::Object {
 public:
  HashObject() : core::Object(core::ObjectType::kHash) {}

  size_t size() const { return is_table_ ? table_.size() : small_.size(); }
  bool is_table() const { return is_table_; }
  std::string_view encoding() const override { return is_table_ ? "hashtable" : "listpack"; }

  const std::string* get(std::string_view field) const;
  std::string* get_mut(std::string_view field);
  // Sets a field; returns true if it was new. Past limits.max_entries fields the hash becomes a
  // table.
  bool set(std::string_view field, std::string_view value, const HashLimits& limits = {});
  // Adds a field the caller knows is absent (RESTORE checks a payload's fields first): no lookup
  // in the listpack encoding.
  void add_absent(std::string_view field, std::string_view value, const HashLimits& limits = {});
  bool erase(std::string_view field);
  // Converts to the table encoding if a write of these lengths would make Redis convert (the
  // entry count is checked by set()).
  void prepare_for(size_t field_len, size_t value_len, const HashLimits& limits = {});
  void convert_to_table() { convert(); }

  // Visits every field in the encoding's order: fn(const std::string& field, std::string& value).
  template <typename F>
  void for_each(F&& fn) const {
    if (is_table_) {
      table_.for_each([&](auto& e) { fn(static_cast<const std::string&>(e.key), e.value); });
    } else {
      for (auto& [f, v] : small_) fn(static_cast<const std::string&>(f), v);
    }
  }
  // One HSCAN step over the table encoding; returns the next cursor.
  template <typename F>
  uint64_t scan_step(uint64_t cursor, F&& fn) const {
    return table_.scan_step(cursor, [&](auto& e) {
      fn(static_cast<const std::string&>(e.key), static_cast<const std::string&>(e.value));
    });
  }
  // The i-th field in iteration order for the listpack encoding (HRANDFIELD); table: random.
  std::pair<const std::string*, const std::string*> at(size_t i) const;
  template <typename Rng>
  std::pair<const std::string*, const std::string*> random(Rng&& rnd) const {
    if (!is_table_) return at(rnd() % small_.size());
    auto* e = table_.random_entry(rnd);
    return {&e->key, &e->value};
  }

 private:
  void convert();

  bool is_table_ = false;
  mutable std::vector<std::pair<std::string, std::string>> small_;
  core::ScanTable<std::string> table_;
};

}  // namespace sluice::kv
