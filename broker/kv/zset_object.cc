#include "broker/kv/zset_object.h"

#include <bit>
#include <cstddef>
#include <cstdlib>
#include <functional>
#include <new>

#include "broker/core/memory.h"

namespace sluice::kv {
namespace {

constexpr size_t kMinSlots = 16;
// A member's three low address bits carry its distance from home (malloc'd, holds a double).
static_assert(alignof(ZMember) >= 8 && alignof(std::max_align_t) >= 8);

uintptr_t* alloc_slots(size_t n) {
  void* p = core::counted_calloc(n, sizeof(uintptr_t));
  if (!p) throw std::bad_alloc();
  return static_cast<uintptr_t*>(p);
}

}  // namespace

ZMemberIndex::~ZMemberIndex() { clear(); }

uint64_t ZMemberIndex::hash(std::string_view s) { return std::hash<std::string_view>{}(s); }

void ZMemberIndex::clear() {
  core::counted_free(slots_);
  slots_ = nullptr;
  mask_ = 0;
  size_ = 0;
}

ZMember* ZMemberIndex::find(std::string_view member, uint64_t h) const {
  if (!slots_) return nullptr;
  const uintptr_t tag = h & 0xffff;
  for (size_t i = home(h);; i = (i + 1) & mask_) {
    uintptr_t s = slots_[i];
    if (s == 0) return nullptr;
    if ((s >> kTagShift) == tag) {
      auto* m = reinterpret_cast<ZMember*>(s & kPtrMask);
      if (m->view() == member) return m;
    }
  }
}

void ZMemberIndex::insert(ZMember* m, uint64_t h) {
  // Grow past 70% full: linear probing stays short below that.
  if (!slots_ || (size_ + 1) * 10 > (mask_ + 1) * 7) {
    size_t n = slots_ ? (mask_ + 1) * 2 : kMinSlots;
    while ((size_ + 1) * 10 > n * 7) n *= 2;
    resize(n);
  }
  size_t i = home(h);
  while (slots_[i] != 0) i = (i + 1) & mask_;
  slots_[i] = slot_for(m, h, i);
  ++size_;
}

void ZMemberIndex::resize(size_t n) {
  const size_t old_n = slots_ ? mask_ + 1 : 0;
  uintptr_t* old = slots_;
  slots_ = alloc_slots(n);
  mask_ = n - 1;
  shift_ = 64 - std::countr_zero(n);
  for (size_t k = 0; k < old_n; ++k) {
    uintptr_t s = old[k];
    if (s == 0) continue;
    const ZMember* m = member_of(s);
    const uint64_t h = hash(m->view());
    size_t i = home(h);
    while (slots_[i] != 0) i = (i + 1) & mask_;
    slots_[i] = slot_for(m, h, i);
  }
  core::counted_free(old);
}

void ZMemberIndex::erase(const ZMember* m, uint64_t h) {
  const auto target = reinterpret_cast<uintptr_t>(m) & kPtrMask;
  size_t i = home(h);
  while ((slots_[i] & kPtrMask) != target) i = (i + 1) & mask_;
  // Backward-shift deletion: move later entries of the probe run into the hole when their home
  // slot does not lie (cyclically) between the hole and themselves.
  for (size_t j = (i + 1) & mask_;; j = (j + 1) & mask_) {
    uintptr_t s = slots_[j];
    if (s == 0) break;
    const size_t h_j = home_of(s, j);
    bool stays = i <= j ? (i < h_j && h_j <= j) : (i < h_j || h_j <= j);
    if (stays) continue;
    // Moved back to i: its distance shrinks by j - i.
    const size_t dist = (i - h_j) & mask_;
    slots_[i] = (s & ~kDistMask) | (dist < kDistMask ? dist : kDistMask);
    i = j;
  }
  slots_[i] = 0;
  --size_;
  // Shrink when mostly empty (after pops), keeping room to grow back.
  const size_t n = mask_ + 1;
  if (n > kMinSlots && size_ * 10 < n) resize(n / 4 > kMinSlots ? n / 4 : kMinSlots);
}

ZSetObject::~ZSetObject() {
  for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) ZMember::destroy(p.member());
}

ZMember* ZSetObject::find(std::string_view member) const {
  if (index_.active()) return index_.find(member, ZMemberIndex::hash(member));
  for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) {
    if (p.member()->view() == member) return p.member();
  }
  return nullptr;
}

ZMember* ZSetObject::insert(std::string_view member, double score, const ZSetLimits& limits) {
  if (listpack_ &&
      (size() + 1 > limits.max_listpack_entries || member.size() > limits.max_listpack_value)) {
    listpack_ = false;
  }
  score = stored_score(score);
  ZMember* m = ZMember::create(member, score);
  tree_.insert(score, m);
  if (index_.active()) {
    index_.insert(m, ZMemberIndex::hash(member));
  } else if (size() > kIndexFrom) {
    build_index();
  }
  return m;
}

void ZSetObject::build_index() {
  for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) {
    index_.insert(p.member(), ZMemberIndex::hash(p.member()->view()));
  }
}

void ZSetObject::update(ZMember* m, double score) {
  tree_.erase(m->score, m);
  m->score = stored_score(score);
  tree_.insert(m->score, m);
}

void ZSetObject::erase(ZMember* m) {
  tree_.erase(m->score, m);
  if (index_.active()) index_.erase(m, ZMemberIndex::hash(m->view()));
  ZMember::destroy(m);
  if (size() == 0) index_.clear();
}

bool ZSetObject::erase(std::string_view member) {
  ZMember* m = find(member);
  if (!m) return false;
  erase(m);
  return true;
}

void ZSetObject::erase_at_rank(size_t rank) {
  ZMember* m = tree_.erase_at_rank(rank);
  if (index_.active()) index_.erase(m, ZMemberIndex::hash(m->view()));
  ZMember::destroy(m);
  if (size() == 0) index_.clear();
}

void ZSetObject::convert_if_small(const ZSetLimits& limits) {
  if (listpack_ || size() > limits.max_listpack_entries) return;
  for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) {
    if (p.member()->view().size() > limits.max_listpack_value) return;
  }
  listpack_ = true;
  // A listpack holds no -0: the order is the same (-0 == 0), only the printed sign changes.
  for (ZTree::Pos p = tree_.first(); p.valid(); p = ZTree::next(p)) {
    if (p.score() == 0) {
      p.leaf->scores()[p.i] = 0.0;
      p.member()->score = 0.0;
    }
  }
}

size_t ZSetObject::memory_bytes() const {
  size_t n = sizeof(*this) + tree_.node_bytes() + index_.bytes();
  for_each([&](const ZMember& m) { n += m.alloc_bytes(); });
  return n;
}

}  // namespace sluice::kv
