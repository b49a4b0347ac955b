// Object: a value in the keyspace. Each type lives in its own module (kv/ for strings, hashes,
// lists, sets and sorted sets, stream/ for streams); the keyspace only knows the type tag, the
// TTL, the access time and the encoding name OBJECT ENCODING prints.
#pragma once

#include <cstdint>
#include <string_view>

namespace sluice::core {

enum class ObjectType : uint8_t { kString, kHash, kStream, kList, kSet, kZSet };

// Every type, in the order TYPE filters are matched.
inline constexpr ObjectType kAllObjectTypes[] = {ObjectType::kString, ObjectType::kHash,
                                                 ObjectType::kStream, ObjectType::kList,
                                                 ObjectType::kSet,    ObjectType::kZSet};

// The name TYPE prints.
std::string_view type_name(ObjectType type);

class Object {
 public:
  explicit Object(ObjectType type) : type_(type) {}
  virtual ~Object() = default;
  Object(const Object&) = delete;
  Object& operator=(const Object&) = delete;

  ObjectType type() const { return type_; }
  // OBJECT ENCODING: the encoding Redis 7.0 would report for this value ("listpack", ...).
  virtual std::string_view encoding() const = 0;

  int64_t expire_at_ms = 0;    // absolute unix time in ms; 0 = no TTL
  int64_t last_access_ms = 0;  // LRU: the last access (0 = not since loaded)
  // LFU: Redis's logarithmic access counter (core/eviction.h); it decays from last_access_ms.
  uint8_t lfu_counter = 5;

 private:
  ObjectType type_;
};

}  // namespace sluice::core
