#include "broker/kv/list_object.h"

#include <algorithm>
#include <charconv>
#include <new>

#include "broker/core/memory.h"
#include "wire/stream_id.h"

namespace sluice::kv {

ListLimits ListLimits::from_config(int64_t fill) {
  ListLimits l;
  if (fill >= 0) {
    // Redis: a positive fill caps the count; 0 leaves one element per node.
    l.max_count = fill == 0 ? 1 : static_cast<uint32_t>(std::min<int64_t>(fill, UINT32_MAX));
    l.max_bytes = 8192;
  } else {
    const int64_t level = std::min<int64_t>(-fill, 5);
    l.max_bytes = 4096u << (level - 1);
  }
  return l;
}

namespace list_codec {

Encoded encode(std::string_view s) {
  Encoded e;
  const size_t n = s.size();
  int64_t v = 0;
  // A one-character number is as short as a string (2 bytes): keep it a string.
  if (n >= 2 && n <= 20 && (s[0] == '-' || (s[0] >= '1' && s[0] <= '9')) &&
      wire::parse_i64(s, &v)) {
    if (v >= -4096 && v <= 4095) {
      const auto u = static_cast<uint32_t>(v + 4096);
      e.header[0] = static_cast<unsigned char>(0xC0 | (u >> 8));
      e.header[1] = static_cast<unsigned char>(u & 0xFF);
      e.header_len = 2;
    } else if (v >= INT16_MIN && v <= INT16_MAX) {
      e.header[0] = 0xE0;
      const auto x = static_cast<int16_t>(v);
      std::memcpy(e.header + 1, &x, 2);
      e.header_len = 3;
    } else if (v >= -(1 << 23) && v < (1 << 23)) {
      e.header[0] = 0xE1;
      const auto u = static_cast<uint32_t>(v);
      e.header[1] = static_cast<unsigned char>(u & 0xFF);
      e.header[2] = static_cast<unsigned char>((u >> 8) & 0xFF);
      e.header[3] = static_cast<unsigned char>((u >> 16) & 0xFF);
      e.header_len = 4;
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
      e.header[0] = 0xE2;
      const auto x = static_cast<int32_t>(v);
      std::memcpy(e.header + 1, &x, 4);
      e.header_len = 5;
    } else {
      e.header[0] = 0xE3;
      std::memcpy(e.header + 1, &v, 8);
      e.header_len = 9;
    }
    return e;
  }
  e.payload = s;
  if (n < 128) {
    e.header[0] = static_cast<unsigned char>(n);
    e.header_len = 1;
  } else if (n < 128 + (1u << 14)) {
    const auto x = static_cast<uint32_t>(n - 128);
    e.header[0] = static_cast<unsigned char>(0x80 | (x >> 8));
    e.header[1] = static_cast<unsigned char>(x & 0xFF);
    e.header_len = 2;
  } else {
    e.header[0] = 0xF0;
    const auto x = static_cast<uint32_t>(n);
    std::memcpy(e.header + 1, &x, 4);
    e.header_len = 5;
  }
  return e;
}

std::string_view decode_slow(const char* p, char* num) {
  const auto* u = reinterpret_cast<const unsigned char*>(p);
  const unsigned h = u[0];
  if (h < 0xC0) {
    const size_t len = 128 + (((h & 0x3Fu) << 8) | u[1]);
    return {p + 2, len};
  }
  int64_t v = 0;
  if (h < 0xE0) {
    v = static_cast<int64_t>(((h & 0x1Fu) << 8) | u[1]) - 4096;
  } else if (h == 0xE0) {
    int16_t x;
    std::memcpy(&x, p + 1, 2);
    v = x;
  } else if (h == 0xE1) {
    uint32_t x = static_cast<uint32_t>(u[1]) | (static_cast<uint32_t>(u[2]) << 8) |
                 (static_cast<uint32_t>(u[3]) << 16);
    if (x & 0x800000u) x |= 0xFF000000u;  // sign-extend 24 bits
    v = static_cast<int32_t>(x);
  } else if (h == 0xE2) {
    int32_t x;
    std::memcpy(&x, p + 1, 4);
    v = x;
  } else if (h == 0xE3) {
    std::memcpy(&v, p + 1, 8);
  } else {
    uint32_t len;
    std::memcpy(&len, p + 1, 4);
    return {p + 5, len};
  }
  auto [end, ec] = std::to_chars(num, num + kNumBufBytes, v);
  return {num, static_cast<size_t>(end - num)};
}

}  // namespace list_codec

namespace {

using list_codec::entry_size;

// Node lists at most this long find their last element by scanning rather than the cache.
constexpr uint32_t kScanTailMax = 12;

uint32_t round16(uint64_t n) {
  return static_cast<uint32_t>(std::min<uint64_t>((n + 15) & ~uint64_t{15}, UINT32_MAX));
}

// Offset just past `k` elements starting at `off`.
uint32_t skip(const char* data, uint32_t off, uint32_t k) {
  for (uint32_t i = 0; i < k; ++i) off += entry_size(data + off);
  return off;
}

}  // namespace

// ------------------------------------------------------------------------------- NodeRing

void ListObject::NodeRing::grow() {
  const uint32_t new_cap = cap_ == 0 ? 1 : cap_ * 2;
  auto* fresh = static_cast<Node*>(core::counted_malloc(sizeof(Node) * new_cap));
  if (!fresh) throw std::bad_alloc();
  for (uint32_t i = 0; i < size_; ++i) fresh[i] = (*this)[i];
  core::counted_free(buf_);
  buf_ = fresh;
  cap_ = new_cap;
  head_ = 0;
}

void ListObject::NodeRing::push_front(const Node& n) {
  if (size_ == cap_) grow();
  head_ = (head_ + cap_ - 1) & (cap_ - 1);
  buf_[head_] = n;
  ++size_;
}

void ListObject::NodeRing::push_back(const Node& n) {
  if (size_ == cap_) grow();
  buf_[(head_ + size_) & (cap_ - 1)] = n;
  ++size_;
}

void ListObject::NodeRing::pop_front() {
  head_ = (head_ + 1) & (cap_ - 1);
  --size_;
}

void ListObject::NodeRing::pop_back() { --size_; }

void ListObject::NodeRing::insert(size_t i, const Node& n) {
  push_back(n);
  for (size_t j = size_ - 1; j > i; --j) (*this)[j] = (*this)[j - 1];
  (*this)[i] = n;
}

void ListObject::NodeRing::erase(size_t i) {
  for (size_t j = i; j + 1 < size_; ++j) (*this)[j] = (*this)[j + 1];
  --size_;
}

// ------------------------------------------------------------------------------- nodes

ListObject::ListObject(ListLimits limits)
    : core::Object(core::ObjectType::kList), limits_(limits) {}

ListObject::~ListObject() {
  for (size_t i = 0; i < nodes_.size(); ++i) core::counted_free(nodes_[i].data);
}

ListObject::Node ListObject::new_node(uint32_t capacity) const {
  Node n;
  n.data = static_cast<char*>(core::counted_malloc(capacity));
  if (!n.data) throw std::bad_alloc();
  n.capacity = capacity;
  return n;
}

void ListObject::free_node(Node& n) {
  forget_cache(n);
  core::counted_free(n.data);
  n.data = nullptr;
}

void ListObject::remove_node(size_t ni) {
  size_ -= nodes_[ni].count;
  free_node(nodes_[ni]);
  if (ni == 0) {
    nodes_.pop_front();
  } else if (ni + 1 == nodes_.size()) {
    nodes_.pop_back();
  } else {
    nodes_.erase(ni);
  }
}

void ListObject::relayout(Node& n, uint32_t new_cap, uint32_t new_begin) {
  forget_cache(n);
  const uint32_t used = n.used();
  if (new_cap != n.capacity) {
    if (new_begin == n.begin) {
      char* grown = static_cast<char*>(core::counted_realloc(n.data, new_cap));
      if (!grown) throw std::bad_alloc();
      n.data = grown;
    } else {
      char* fresh = static_cast<char*>(core::counted_malloc(new_cap));
      if (!fresh) throw std::bad_alloc();
      if (used > 0) std::memcpy(fresh + new_begin, n.data + n.begin, used);
      core::counted_free(n.data);
      n.data = fresh;
    }
    n.capacity = new_cap;
  } else if (new_begin != n.begin && used > 0) {
    std::memmove(n.data + new_begin, n.data + n.begin, used);
  }
  n.begin = new_begin;
  n.end = new_begin + used;
}

void ListObject::make_room(size_t ni, uint32_t front, uint32_t back) {
  Node& n = nodes_[ni];
  const bool head = ni == 0;
  const bool tail = ni + 1 == nodes_.size();
  const uint64_t used = n.used();
  const uint64_t need = used + front + back;
  // An end node of a longer list only grows outwards: its free bytes all go there. A lone node
  // grows both ways.
  if (need <= n.capacity) {
    const uint32_t extra = n.capacity - static_cast<uint32_t>(need);
    uint32_t lead = front;
    if (head && tail) {
      lead += extra / 2;
    } else if (head) {
      lead += extra;
    }
    relayout(n, n.capacity, lead);
    return;
  }
  const uint64_t cap_limit = std::max<uint64_t>(limits_.max_bytes, need);
  const uint32_t new_cap =
      round16(std::max<uint64_t>(need, std::min<uint64_t>(uint64_t{n.capacity} * 2, cap_limit)));
  const uint32_t extra = new_cap - static_cast<uint32_t>(need);
  // The new room goes to the side that asked for it.
  relayout(n, new_cap, front > 0 ? front + extra : front);
}

uint32_t ListObject::last_offset(const Node& n) const {
  if (n.count <= kScanTailMax) return skip(n.data, n.begin, n.count - 1);
  if (!tail_cache_) tail_cache_ = std::make_unique<TailCache>();
  TailCache& c = *tail_cache_;
  if (!c.covers(n)) {
    c.clear();
    c.data = n.data;
    c.offsets.reserve(n.count);
    uint32_t off = n.begin;
    for (uint32_t i = 0; i < n.count; ++i) {
      c.offsets.push_back(off);
      off += entry_size(n.data + off);
    }
  }
  return c.offsets.back();
}

void ListObject::locate(size_t index, size_t* node, uint32_t* off) const {
  size_t ni = 0;
  size_t within = index;
  if (index < size_ / 2) {
    while (within >= nodes_[ni].count) within -= nodes_[ni++].count;
  } else {
    ni = nodes_.size() - 1;
    size_t from_back = size_ - 1 - index;
    while (from_back >= nodes_[ni].count) from_back -= nodes_[ni--].count;
    within = nodes_[ni].count - 1 - from_back;
  }
  const Node& n = nodes_[ni];
  *node = ni;
  *off =
      within + 1 == n.count ? last_offset(n) : skip(n.data, n.begin, static_cast<uint32_t>(within));
}

// ------------------------------------------------------------------------------- reads

std::string_view ListObject::front(char* num) const {
  const Node& n = nodes_.front();
  return list_codec::decode(n.data + n.begin, num);
}

std::string_view ListObject::back(char* num) const {
  const Node& n = nodes_.back();
  return list_codec::decode(n.data + last_offset(n), num);
}

std::string_view ListObject::at(size_t index, char* num) const {
  size_t ni;
  uint32_t off;
  locate(index, &ni, &off);
  return list_codec::decode(nodes_[ni].data + off, num);
}

ListObject::Iterator ListObject::iterate_from(size_t index) const {
  if (index >= size_) return Iterator(this, nodes_.size(), 0);
  size_t ni;
  uint32_t off;
  locate(index, &ni, &off);
  return Iterator(this, ni, off);
}

int64_t ListObject::find_first(std::string_view value) const {
  std::vector<int64_t> found;
  positions(value, 1, 1, 0, &found);
  return found.empty() ? -1 : found.front();
}

void ListObject::positions(std::string_view value, int64_t rank, size_t count, size_t maxlen,
                           std::vector<int64_t>* out) const {
  const list_codec::Encoded e = list_codec::encode(value);
  // Matches to pass over before reporting: |rank| - 1, computed without negating INT64_MIN.
  uint64_t pass = rank > 0 ? static_cast<uint64_t>(rank) - 1 : static_cast<uint64_t>(-(rank + 1));
  size_t compared = 0;
  auto visit = [&](const char* p, int64_t index) {
    if (maxlen != 0 && compared == maxlen) return false;
    ++compared;
    if (!list_codec::matches(p, e)) return true;
    if (pass > 0) {
      --pass;
      return true;
    }
    out->push_back(index);
    return count == 0 || out->size() < count;
  };
  if (rank > 0) {
    int64_t index = 0;
    for (size_t ni = 0; ni < nodes_.size(); ++ni) {
      const Node& n = nodes_[ni];
      for (uint32_t off = n.begin; off < n.end; off += entry_size(n.data + off)) {
        if (!visit(n.data + off, index++)) return;
      }
    }
    return;
  }
  std::vector<uint32_t> offsets;
  auto index = static_cast<int64_t>(size_) - 1;
  for (size_t ni = nodes_.size(); ni-- > 0;) {
    const Node& n = nodes_[ni];
    offsets.clear();
    for (uint32_t off = n.begin; off < n.end; off += entry_size(n.data + off)) {
      offsets.push_back(off);
    }
    for (size_t k = offsets.size(); k-- > 0;) {
      if (!visit(n.data + offsets[k], index--)) return;
    }
  }
}

// ------------------------------------------------------------------------------- writes

void ListObject::push(End end, std::string_view value) {
  const list_codec::Encoded e = list_codec::encode(value);
  const uint32_t sz = e.size();
  const bool head = end == End::kHead;
  if (nodes_.empty() || !fits(head ? nodes_.front() : nodes_.back(), sz)) {
    // The first node starts small and grows; a list that filled a node gets full-size ones.
    const uint32_t cap = nodes_.empty() ? round16(sz) : std::max(limits_.max_bytes, round16(sz));
    Node n = new_node(cap);
    n.begin = n.end = head ? cap : 0;
    if (head) {
      nodes_.push_front(n);
    } else {
      nodes_.push_back(n);
    }
  }
  if (head) {
    Node* n = &nodes_.front();
    if (n->begin < sz) {
      make_room(0, sz, 0);
      n = &nodes_.front();
    }
    n->begin -= sz;
    list_codec::write(n->data + n->begin, e);
    ++n->count;
  } else {
    const size_t last = nodes_.size() - 1;
    Node* n = &nodes_.back();
    if (n->capacity - n->end < sz) {
      make_room(last, 0, sz);
      n = &nodes_.back();
    }
    list_codec::write(n->data + n->end, e);
    if (tail_cache_ && tail_cache_->covers(*n)) tail_cache_->offsets.push_back(n->end);
    n->end += sz;
    ++n->count;
  }
  ++size_;
}

void ListObject::pop(End end) {
  if (end == End::kHead) {
    Node& n = nodes_.front();
    if (tail_cache_ && tail_cache_->covers(n) &&
        tail_cache_->offsets[tail_cache_->first] == n.begin) {
      ++tail_cache_->first;
    }
    n.begin += entry_size(n.data + n.begin);
    --n.count;
    --size_;
    if (n.count == 0) {
      free_node(n);
      nodes_.pop_front();
    }
    return;
  }
  Node& n = nodes_.back();
  const uint32_t off = last_offset(n);
  if (tail_cache_ && tail_cache_->covers(n)) tail_cache_->offsets.pop_back();
  n.end = off;
  --n.count;
  --size_;
  if (n.count == 0) {
    free_node(n);
    nodes_.pop_back();
  }
}

void ListObject::set(size_t index, std::string_view value) {
  size_t ni;
  uint32_t off;
  locate(index, &ni, &off);
  const Node& n = nodes_[ni];
  splice(ni, off, entry_size(n.data + off), list_codec::encode(value), 0);
}

void ListObject::insert(size_t index, std::string_view value) {
  if (index == 0) return push(End::kHead, value);
  if (index >= size_) return push(End::kTail, value);
  size_t ni;
  uint32_t off;
  locate(index, &ni, &off);
  splice(ni, off, 0, list_codec::encode(value), 1);
}

void ListObject::splice(size_t ni, uint32_t off, uint32_t old_len, const list_codec::Encoded& e,
                        int count_delta) {
  Node& n = nodes_[ni];
  forget_cache(n);
  const uint32_t sz = e.size();
  const uint64_t new_used = uint64_t{n.used()} - old_len + sz;
  const uint32_t new_count = n.count + static_cast<uint32_t>(count_delta);
  if ((new_count <= limits_.max_count && new_used <= limits_.max_bytes) || new_count == 1) {
    const uint32_t rest = off + old_len;  // first byte after the replaced element
    if (sz > old_len) {
      const uint32_t d = sz - old_len;
      if (n.capacity - n.end >= d) {
        std::memmove(n.data + rest + d, n.data + rest, n.end - rest);
        n.end += d;
      } else if (n.begin >= d) {
        std::memmove(n.data + n.begin - d, n.data + n.begin, off - n.begin);
        n.begin -= d;
        off -= d;
      } else {
        // Grow into a new buffer with the gap for e in place, room split evenly around.
        const uint32_t cap = round16(std::max<uint64_t>(
            new_used, std::min<uint64_t>(uint64_t{n.capacity} * 2,
                                         std::max<uint64_t>(limits_.max_bytes, new_used))));
        char* fresh = static_cast<char*>(core::counted_malloc(cap));
        if (!fresh) throw std::bad_alloc();
        const auto begin = static_cast<uint32_t>((cap - new_used) / 2);
        const uint32_t before = off - n.begin;
        std::memcpy(fresh + begin, n.data + n.begin, before);
        std::memcpy(fresh + begin + before + sz, n.data + rest, n.end - rest);
        core::counted_free(n.data);
        n.data = fresh;
        n.capacity = cap;
        n.begin = begin;
        n.end = begin + static_cast<uint32_t>(new_used);
        off = begin + before;
      }
    } else if (sz < old_len) {
      std::memmove(n.data + off + sz, n.data + rest, n.end - rest);
      n.end -= old_len - sz;
    }
    list_codec::write(n.data + off, e);
    n.count = new_count;
    size_ += static_cast<size_t>(count_delta);
    return;
  }
  // Split: the bytes before `off` stay in this node, the bytes after the replaced element move to
  // a new node after it, and e goes to the end of the first part, the front of the second, or a
  // node of its own between them, whichever fits.
  const uint32_t rest = off + old_len;
  const uint32_t tail_bytes = n.end - rest;
  uint32_t left_count = 0;
  for (uint32_t p = n.begin; p < off; p += entry_size(n.data + p)) ++left_count;
  const uint32_t right_count = n.count - left_count - (old_len > 0 ? 1 : 0);
  const uint32_t left_bytes = off - n.begin;
  const bool to_left = left_count == 0 || (left_count + 1 <= limits_.max_count &&
                                           uint64_t{left_bytes} + sz <= limits_.max_bytes);
  const bool to_right = !to_left && right_count > 0 && right_count + 1 <= limits_.max_count &&
                        uint64_t{tail_bytes} + sz <= limits_.max_bytes;
  Node right;
  if (right_count > 0) {
    const uint32_t lead = to_right ? sz : 0;
    right = new_node(round16(uint64_t{tail_bytes} + lead));
    std::memcpy(right.data + lead, n.data + rest, tail_bytes);
    right.begin = lead;
    right.end = lead + tail_bytes;
    right.count = right_count;
  }
  n.end = off;
  n.count = left_count;
  Node mid;
  if (to_left) {
    if (n.capacity - n.end < sz) {
      const uint32_t cap = round16(uint64_t{n.end} + sz);
      char* grown = static_cast<char*>(core::counted_realloc(n.data, cap));
      if (!grown) throw std::bad_alloc();
      n.data = grown;
      n.capacity = cap;
    }
    list_codec::write(n.data + n.end, e);
    n.end += sz;
    ++n.count;
  } else if (to_right) {
    right.begin -= sz;
    list_codec::write(right.data + right.begin, e);
    ++right.count;
  } else {
    mid = new_node(round16(sz));
    list_codec::write(mid.data, e);
    mid.end = sz;
    mid.count = 1;
  }
  size_t at = ni + 1;
  if (mid.data) nodes_.insert(at++, mid);
  if (right.data) nodes_.insert(at, right);
  size_ += static_cast<size_t>(count_delta);
}

void ListObject::erase_bytes(size_t ni, uint32_t from, uint32_t to, uint32_t k) {
  Node& n = nodes_[ni];
  if (k == n.count) return remove_node(ni);
  forget_cache(n);
  const uint32_t gap = to - from;
  if (from == n.begin) {
    n.begin = to;
  } else if (to == n.end) {
    n.end = from;
  } else if (from - n.begin < n.end - to) {
    std::memmove(n.data + n.begin + gap, n.data + n.begin, from - n.begin);
    n.begin += gap;
  } else {
    std::memmove(n.data + from, n.data + to, n.end - to);
    n.end -= gap;
  }
  n.count -= k;
  size_ -= k;
}

size_t ListObject::maybe_merge(size_t ni) {
  auto can_join = [&](const Node& a, const Node& b) {
    return uint64_t{a.count} + b.count <= limits_.max_count &&
           uint64_t{a.used()} + b.used() <= limits_.max_bytes;
  };
  // Join into the node on the left so only one buffer may need to grow.
  size_t left = SIZE_MAX;
  if (ni > 0 && can_join(nodes_[ni - 1], nodes_[ni])) {
    left = ni - 1;
  } else if (ni + 1 < nodes_.size() && can_join(nodes_[ni], nodes_[ni + 1])) {
    left = ni;
  }
  if (left == SIZE_MAX) return SIZE_MAX;
  Node& a = nodes_[left];
  Node& b = nodes_[left + 1];
  forget_cache(a);
  forget_cache(b);
  if (a.capacity - a.end < b.used()) {
    relayout(a, round16(uint64_t{a.used()} + b.used()), 0);
  }
  std::memcpy(a.data + a.end, b.data + b.begin, b.used());
  a.end += b.used();
  a.count += b.count;
  core::counted_free(b.data);
  nodes_.erase(left + 1);
  return left;
}

size_t ListObject::remove(std::string_view value, int64_t count) {
  const list_codec::Encoded e = list_codec::encode(value);
  const bool from_tail = count < 0;
  // |count| without negating INT64_MIN; 0 = every match.
  const uint64_t limit =
      from_tail ? static_cast<uint64_t>(-(count + 1)) + 1 : static_cast<uint64_t>(count);
  uint64_t removed = 0;
  std::vector<uint32_t> offsets;
  std::vector<uint8_t> drop;
  size_t ni = from_tail ? nodes_.size() : 0;
  while (limit == 0 || removed < limit) {
    if (from_tail) {
      if (ni == 0) break;
      --ni;
    } else if (ni >= nodes_.size()) {
      break;
    }
    Node& n = nodes_[ni];
    offsets.clear();
    for (uint32_t off = n.begin; off < n.end; off += entry_size(n.data + off)) {
      offsets.push_back(off);
    }
    drop.assign(offsets.size(), 0);
    uint32_t k = 0;
    for (size_t j = 0; j < offsets.size() && (limit == 0 || removed < limit); ++j) {
      const size_t idx = from_tail ? offsets.size() - 1 - j : j;
      if (list_codec::matches(n.data + offsets[idx], e)) {
        drop[idx] = 1;
        ++k;
        ++removed;
      }
    }
    if (k == 0) {
      if (!from_tail) ++ni;
      continue;
    }
    if (k == n.count) {
      remove_node(ni);
      continue;  // forward: ni now names the next node
    }
    // Compact: copy the kept elements down over the dropped ones.
    forget_cache(n);
    uint32_t w = n.begin;
    for (size_t j = 0; j < offsets.size(); ++j) {
      const uint32_t len = (j + 1 < offsets.size() ? offsets[j + 1] : n.end) - offsets[j];
      if (drop[j]) continue;
      if (w != offsets[j]) std::memmove(n.data + w, n.data + offsets[j], len);
      w += len;
    }
    n.end = w;
    n.count -= k;
    size_ -= k;
    // After a merge the joined node is scanned again: its already scanned elements hold no match
    // (every match there was dropped), so only the elements it took over can count.
    const size_t joined = maybe_merge(ni);
    if (joined != SIZE_MAX) {
      ni = from_tail ? joined + 1 : joined;
    } else if (!from_tail) {
      ++ni;
    }
  }
  return static_cast<size_t>(removed);
}

void ListObject::trim(size_t front, size_t back) {
  if (front + back >= size_) {
    while (!nodes_.empty()) remove_node(nodes_.size() - 1);
    return;
  }
  while (front > 0 && front >= nodes_.front().count) {
    front -= nodes_.front().count;
    remove_node(0);
  }
  if (front > 0) {
    const Node& n = nodes_.front();
    erase_bytes(0, n.begin, skip(n.data, n.begin, static_cast<uint32_t>(front)),
                static_cast<uint32_t>(front));
  }
  while (back > 0 && back >= nodes_.back().count) {
    back -= nodes_.back().count;
    remove_node(nodes_.size() - 1);
  }
  if (back > 0) {
    const Node& n = nodes_.back();
    const uint32_t keep = n.count - static_cast<uint32_t>(back);
    erase_bytes(nodes_.size() - 1, skip(n.data, n.begin, keep), n.end, static_cast<uint32_t>(back));
  }
}

// ------------------------------------------------------------------------------- whole list

std::unique_ptr<ListObject> ListObject::clone() const {
  auto copy = std::make_unique<ListObject>(limits_);
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    Node c = copy->new_node(round16(n.used()));
    std::memcpy(c.data, n.data + n.begin, n.used());
    c.end = n.used();
    c.count = n.count;
    copy->nodes_.push_back(c);
  }
  copy->size_ = size_;
  return copy;
}

bool ListObject::check() const {
  size_t total = 0;
  bool cache_seen = !tail_cache_ || tail_cache_->first >= tail_cache_->offsets.size();
  for (size_t i = 0; i < nodes_.size(); ++i) {
    const Node& n = nodes_[i];
    if (!n.data || n.count == 0 || n.begin > n.end || n.end > n.capacity) return false;
    std::vector<uint32_t> offsets;
    uint32_t off = n.begin;
    while (off < n.end) {
      offsets.push_back(off);
      off += entry_size(n.data + off);
    }
    if (off != n.end || offsets.size() != n.count) return false;
    total += n.count;
    if (tail_cache_ && tail_cache_->covers(n)) {
      const auto& c = *tail_cache_;
      const size_t k = c.offsets.size() - c.first;
      if (k > offsets.size()) return false;
      if (!std::equal(c.offsets.begin() + static_cast<std::ptrdiff_t>(c.first), c.offsets.end(),
                      offsets.end() - static_cast<std::ptrdiff_t>(k))) {
        return false;
      }
      cache_seen = true;
    }
  }
  return total == size_ && cache_seen;
}

size_t ListObject::allocated_bytes() const {
  size_t bytes = sizeof(*this) + nodes_.capacity() * sizeof(Node);
  for (size_t i = 0; i < nodes_.size(); ++i) bytes += nodes_[i].capacity;
  if (tail_cache_) bytes += sizeof(TailCache) + tail_cache_->offsets.capacity() * sizeof(uint32_t);
  return bytes;
}

}  // namespace sluice::kv
