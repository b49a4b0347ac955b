// ListObject: a Redis list kept as a deque of packed nodes, Redis's quicklist idea with an
// encoding of our own. Each node is one malloc'd buffer of encoded elements laid out back to
// back between a begin and an end offset, with its element count, so
//   - a push or pop at either end touches one node and allocates nothing per element (a node
//     fills from the middle of its buffer outwards, so LPUSH writes in front of `begin`);
//   - an index lookup skips whole nodes by their counts, then walks one node;
//   - memory per element is its bytes plus a one-byte length for short strings, and integers
//     in canonical form take 2-9 bytes, as in Redis's listpack (which also spends a back-length
//     byte per element; we do not: RPOP finds the last element of the tail node through a
//     cached table of its element offsets, built once per node by a forward scan).
// OBJECT ENCODING is "quicklist" for every list, as Redis 7.0 reports.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>
#include <vector>

#include "broker/core/memory.h"
#include "broker/core/object.h"

namespace sluice::kv {

// Node limits from list-max-listpack-size, as Redis reads it: -1..-5 cap a node at 4, 8, 16, 32
// or 64 KiB (below -5: 64 KiB); a positive value caps the element count, with 8 KiB as a safety
// cap on bytes. A node holding a single element may be larger than the cap.
struct ListLimits {
  uint32_t max_bytes = 8192;
  uint32_t max_count = UINT32_MAX;
  static ListLimits from_config(int64_t list_max_listpack_size);
};

// The byte encoding of one element inside a node. First byte h:
//   0x00-0x7F          a string of h bytes (0-127) follows
//   0x80-0xBF, b1      a string of 128 + ((h & 0x3F) << 8 | b1) bytes (128-16511) follows
//   0xC0-0xDF, b1      the integer ((h & 0x1F) << 8 | b1) - 4096 (-4096..4095)
//   0xE0/E1/E2/E3      a little-endian signed integer of 2/3/4/8 bytes follows
//   0xF0, u32 LE       a string of that many bytes follows
// A string is stored as an integer only when it is the integer's canonical decimal form (what
// Redis's string2ll accepts) and the integer encoding is shorter, so the encoding is a function
// of the string: two elements are equal exactly when their encoded bytes are.
namespace list_codec {

inline constexpr size_t kNumBufBytes = 24;  // room for a formatted int64
inline constexpr uint32_t kMaxElementBytes = 0xFFFF0000u;

struct Encoded {
  unsigned char header[9];
  uint32_t header_len = 0;
  std::string_view payload;  // the string bytes; empty for integers
  uint32_t size() const { return header_len + static_cast<uint32_t>(payload.size()); }
};

Encoded encode(std::string_view s);
// Writes e at dst (e.size() bytes).
inline void write(char* dst, const Encoded& e) {
  std::memcpy(dst, e.header, e.header_len);
  if (!e.payload.empty()) std::memcpy(dst + e.header_len, e.payload.data(), e.payload.size());
}

// Total encoded bytes of the element at p.
inline uint32_t entry_size(const char* p) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  const unsigned h = u[0];
  if (h < 0x80) return 1 + h;
  if (h < 0xC0) return 2 + 128 + (((h & 0x3Fu) << 8) | u[1]);
  if (h < 0xE0) return 2;
  switch (h) {
    case 0xE0:
      return 3;
    case 0xE1:
      return 4;
    case 0xE2:
      return 5;
    case 0xE3:
      return 9;
    default: {
      uint32_t n;
      std::memcpy(&n, p + 1, 4);
      return 5 + n;
    }
  }
}

std::string_view decode_slow(const char* p, char* num);
// The element at p; integers are formatted into num (kNumBufBytes).
inline std::string_view decode(const char* p, char* num) {
  const auto h = static_cast<unsigned char>(p[0]);
  if (h < 0x80) return {p + 1, h};
  return decode_slow(p, num);
}

// Whether the element at p is the one encoded as e.
inline bool matches(const char* p, const Encoded& e) {
  // The first byte fixes the header's length, so only then is it safe to read all of it (the
  // element at p may be shorter than e's header).
  if (static_cast<unsigned char>(p[0]) != e.header[0]) return false;
  if (std::memcmp(p + 1, e.header + 1, e.header_len - 1) != 0) return false;
  return e.payload.empty() ||
         std::memcmp(p + e.header_len, e.payload.data(), e.payload.size()) == 0;
}

}  // namespace list_codec

class ListObject final : public core::Object {
 public:
  enum class End : uint8_t { kHead, kTail };

  explicit ListObject(ListLimits limits = {});
  ~ListObject() override;

  std::string_view encoding() const override { return "quicklist"; }
  size_t size() const { return size_; }
  const ListLimits& limits() const { return limits_; }
  // Limits for nodes filled from now on (list-max-listpack-size may have changed).
  void set_limits(ListLimits limits) { limits_ = limits; }

  // The element at an end (the list must not be empty): a view into the node, or into `num`
  // (list_codec::kNumBufBytes) for an integer, valid until the next change of the list.
  std::string_view front(char* num) const;
  std::string_view back(char* num) const;
  std::string_view peek(End end, char* num) const {
    return end == End::kHead ? front(num) : back(num);
  }
  // Element `index` (< size()).
  std::string_view at(size_t index, char* num) const;

  // Element sizes must not exceed list_codec::kMaxElementBytes.
  void push(End end, std::string_view value);
  // Drops the element at an end (the list must not be empty).
  void pop(End end);
  // Replaces element `index` (< size()).
  void set(size_t index, std::string_view value);
  // Inserts before element `index` (index == size() appends).
  void insert(size_t index, std::string_view value);
  // LREM: removes elements equal to `value`, at most |count| (0 = all), from the head when
  // count >= 0, from the tail when count < 0. Returns how many.
  size_t remove(std::string_view value, int64_t count);
  // Drops `front` elements from the head and `back` from the tail (LTRIM).
  void trim(size_t front, size_t back);

  // The index of the first element equal to `value`, or -1.
  int64_t find_first(std::string_view value) const;
  // LPOS: indexes of matches, skipping the first |rank| - 1; rank < 0 scans from the tail.
  // Stops after `count` matches (0 = no limit) or after comparing `maxlen` elements (0 = all).
  void positions(std::string_view value, int64_t rank, size_t count, size_t maxlen,
                 std::vector<int64_t>* out) const;

  // Forward iteration from an index.
  class Iterator {
   public:
    // The next element, or false at the end of the list. The view lives until the next call.
    bool next(std::string_view* out) {
      if (node_ >= list_->nodes_.size()) return false;
      const Node& n = list_->nodes_[node_];
      const char* p = n.data + off_;
      *out = list_codec::decode(p, num_);
      off_ += list_codec::entry_size(p);
      if (off_ >= n.end) {
        if (++node_ < list_->nodes_.size()) off_ = list_->nodes_[node_].begin;
      }
      return true;
    }

   private:
    friend class ListObject;
    Iterator(const ListObject* list, size_t node, uint32_t off)
        : list_(list), node_(node), off_(off) {}
    const ListObject* list_;
    size_t node_;
    uint32_t off_;
    char num_[list_codec::kNumBufBytes];
  };
  Iterator iterate_from(size_t index) const;

  // A deep copy (COPY), nodes compacted to their used bytes.
  std::unique_ptr<ListObject> clone() const;

  // Checks every invariant (counts, offsets, cached tail offsets); for tests.
  bool check() const;
  size_t node_count() const { return nodes_.size(); }
  // Bytes of node buffers (capacity), node table and caches: what the list costs in memory.
  size_t allocated_bytes() const;

 private:
  struct Node {
    char* data = nullptr;
    uint32_t begin = 0;  // offset of the first element
    uint32_t end = 0;    // offset just past the last element
    uint32_t capacity = 0;
    uint32_t count = 0;
    uint32_t used() const { return end - begin; }
  };

  // A ring of nodes (capacity a power of two): O(1) at both ends, O(n) in the middle.
  class NodeRing {
   public:
    NodeRing() = default;
    NodeRing(const NodeRing&) = delete;
    NodeRing& operator=(const NodeRing&) = delete;
    ~NodeRing() { core::counted_free(buf_); }
    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    Node& operator[](size_t i) { return buf_[(head_ + i) & (cap_ - 1)]; }
    const Node& operator[](size_t i) const { return buf_[(head_ + i) & (cap_ - 1)]; }
    Node& front() { return (*this)[0]; }
    Node& back() { return (*this)[size_ - 1]; }
    const Node& front() const { return (*this)[0]; }
    const Node& back() const { return (*this)[size_ - 1]; }
    void push_front(const Node& n);
    void push_back(const Node& n);
    void pop_front();
    void pop_back();
    void insert(size_t i, const Node& n);
    void erase(size_t i);
    size_t capacity() const { return cap_; }

   private:
    void grow();
    Node* buf_ = nullptr;
    uint32_t cap_ = 0;
    uint32_t head_ = 0;
    uint32_t size_ = 0;
  };

  // Offsets of the last elements of the tail node, ascending, so repeated RPOPs find each new
  // last element without scanning the node. Valid while the node's bytes stay where they are.
  // Entries [first, offsets.size()) are the offsets of the node's last elements; LPOP of the
  // node's first element advances `first`.
  struct TailCache {
    const char* data = nullptr;
    std::vector<uint32_t> offsets;
    size_t first = 0;
    bool covers(const Node& n) const { return data == n.data && first < offsets.size(); }
    void clear() {
      offsets.clear();
      first = 0;
    }
  };

  // Where element `index` is: node number and byte offset.
  void locate(size_t index, size_t* node, uint32_t* off) const;
  uint32_t last_offset(const Node& n) const;
  // Ensures room for `front` bytes before begin and `back` bytes after end, reallocating or
  // moving the bytes (which invalidates offsets into the node).
  void make_room(size_t ni, uint32_t front, uint32_t back);
  // Moves node n's bytes to start at new_begin in a buffer of new_cap bytes.
  void relayout(Node& n, uint32_t new_cap, uint32_t new_begin);
  Node new_node(uint32_t capacity) const;
  void free_node(Node& n);
  void forget_cache(const Node& n) const {
    if (tail_cache_ && tail_cache_->data == n.data) tail_cache_->clear();
  }
  bool fits(const Node& n, uint32_t extra_bytes) const {
    return n.count < limits_.max_count && n.used() + extra_bytes <= limits_.max_bytes;
  }
  // Replaces `old_len` bytes at `off` in node ni by e (old_len 0: inserts), splitting the node
  // when the result would break the limits. count_delta is +1 for an insert, 0 for a set.
  void splice(size_t ni, uint32_t off, uint32_t old_len, const list_codec::Encoded& e,
              int count_delta);
  // Drops the elements of node ni in [from, to) byte offsets (k of them).
  void erase_bytes(size_t ni, uint32_t from, uint32_t to, uint32_t k);
  void remove_node(size_t ni);
  // Merges node ni with a neighbour when both together fit in one node; returns the index of
  // the joined node, or SIZE_MAX.
  size_t maybe_merge(size_t ni);

  NodeRing nodes_;
  size_t size_ = 0;
  ListLimits limits_;
  mutable std::unique_ptr<TailCache> tail_cache_;
};

}  // namespace sluice::kv
