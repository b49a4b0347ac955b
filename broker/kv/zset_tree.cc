#include "broker/kv/zset_tree.h"

#include <cstdlib>
#include <new>

#include "broker/core/memory.h"
#include "wire/check.h"

namespace sluice::kv {
namespace {

// A non-root node below these is merged with a sibling or borrows from it.
constexpr uint32_t kLeafMin = ZTree::kLeafCap / 4;
constexpr uint32_t kInnerMin = ZTree::kFan / 4;

size_t leaf_bytes(uint32_t cap) {
  return sizeof(ZTree::Leaf) + cap * (sizeof(double) + sizeof(ZMember*));
}

void* checked_malloc(size_t n) {
  void* p = core::counted_malloc(n);
  if (!p) throw std::bad_alloc();
  return p;
}

}  // namespace

ZMember* ZMember::create(std::string_view bytes, double score) {
  const size_t header = bytes.size() < 0xff ? 1 : 5;
  auto* raw = static_cast<unsigned char*>(checked_malloc(sizeof(double) + header + bytes.size()));
  auto* m = new (raw) ZMember;
  m->score = score;
  unsigned char* p = raw + sizeof(double);
  if (header == 1) {
    p[0] = static_cast<unsigned char>(bytes.size());
  } else {
    p[0] = 0xff;
    auto len = static_cast<uint32_t>(bytes.size());
    std::memcpy(p + 1, &len, sizeof(len));
  }
  if (!bytes.empty()) std::memcpy(p + header, bytes.data(), bytes.size());
  return m;
}

void ZMember::destroy(ZMember* m) { core::counted_free(m); }

size_t ZMember::alloc_bytes() const {
  size_t len = view().size();
  return sizeof(double) + (len < 0xff ? 1 : 5) + len;
}

ZTree::~ZTree() { clear(); }

ZTree::Leaf* ZTree::new_leaf(uint32_t cap) {
  auto* l = static_cast<Leaf*>(checked_malloc(leaf_bytes(cap)));
  l->count = 0;
  l->cap = static_cast<uint16_t>(cap);
  l->prev = l->next = nullptr;
  node_bytes_ += leaf_bytes(cap);
  return l;
}

void ZTree::free_leaf(Leaf* l) {
  node_bytes_ -= leaf_bytes(l->cap);
  core::counted_free(l);
}

ZTree::Inner* ZTree::new_inner() {
  auto* in = static_cast<Inner*>(checked_malloc(sizeof(Inner)));
  in->count = 0;
  node_bytes_ += sizeof(Inner);
  return in;
}

void ZTree::free_inner(Inner* in) {
  node_bytes_ -= sizeof(Inner);
  core::counted_free(in);
}

void ZTree::free_subtree(void* node, int height) {
  if (height == 0) {
    free_leaf(static_cast<Leaf*>(node));
    return;
  }
  auto* in = static_cast<Inner*>(node);
  for (uint32_t i = 0; i < in->count; ++i) free_subtree(in->children[i], height - 1);
  free_inner(in);
}

void ZTree::clear() {
  if (root_) free_subtree(root_, height_);
  root_ = nullptr;
  height_ = 0;
  size_ = 0;
  first_leaf_ = last_leaf_ = nullptr;
}

void ZTree::leaf_insert_at(Leaf* leaf, uint32_t pos, double score, ZMember* m) {
  double* sc = leaf->scores();
  ZMember** mb = leaf->members();
  const uint32_t tail = leaf->count - pos;
  std::memmove(sc + pos + 1, sc + pos, tail * sizeof(double));
  std::memmove(mb + pos + 1, mb + pos, tail * sizeof(ZMember*));
  sc[pos] = score;
  mb[pos] = m;
  ++leaf->count;
}

namespace {

// Inserts child `c` (subtree count n, first entry (s, m)) at index t of `in` (count < kFan).
void inner_insert_at(ZTree::Inner* in, uint32_t t, void* c, size_t n, double s, ZMember* m) {
  const uint32_t tail = in->count - t;
  std::memmove(in->children + t + 1, in->children + t, tail * sizeof(void*));
  std::memmove(in->counts + t + 1, in->counts + t, tail * sizeof(size_t));
  std::memmove(in->scores + t + 1, in->scores + t, tail * sizeof(double));
  std::memmove(in->members + t + 1, in->members + t, tail * sizeof(ZMember*));
  in->children[t] = c;
  in->counts[t] = n;
  in->scores[t] = s;
  in->members[t] = m;
  ++in->count;
}

void inner_remove_at(ZTree::Inner* in, uint32_t t) {
  const uint32_t tail = in->count - t - 1;
  std::memmove(in->children + t, in->children + t + 1, tail * sizeof(void*));
  std::memmove(in->counts + t, in->counts + t + 1, tail * sizeof(size_t));
  std::memmove(in->scores + t, in->scores + t + 1, tail * sizeof(double));
  std::memmove(in->members + t, in->members + t + 1, tail * sizeof(ZMember*));
  --in->count;
}

// Copies n children with their counts and keys from src[from] to dst[to].
void inner_copy(ZTree::Inner* dst, uint32_t to, const ZTree::Inner* src, uint32_t from,
                uint32_t n) {
  std::memmove(dst->children + to, src->children + from, n * sizeof(void*));
  std::memmove(dst->counts + to, src->counts + from, n * sizeof(size_t));
  std::memmove(dst->scores + to, src->scores + from, n * sizeof(double));
  std::memmove(dst->members + to, src->members + from, n * sizeof(ZMember*));
}

void leaf_copy(ZTree::Leaf* dst, uint32_t to, ZTree::Leaf* src, uint32_t from, uint32_t n) {
  std::memmove(dst->scores() + to, src->scores() + from, n * sizeof(double));
  std::memmove(dst->members() + to, src->members() + from, n * sizeof(ZMember*));
}

// The child of `in` whose range holds (score, m): the last i >= 1 with keys[i] <= it, else 0.
uint32_t route(const ZTree::Inner* in, double score, const ZMember* m) {
  uint32_t lo = 1, hi = in->count;
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (!key_less(score, m, in->scores[mid], in->members[mid])) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo - 1;
}

// The number of entries of `leaf` before (score, m).
uint32_t leaf_lower_bound(ZTree::Leaf* leaf, double score, const ZMember* m) {
  uint32_t lo = 0, hi = leaf->count;
  double* sc = leaf->scores();
  ZMember** mb = leaf->members();
  while (lo < hi) {
    uint32_t mid = (lo + hi) / 2;
    if (key_less(sc[mid], mb[mid], score, m)) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace

void ZTree::insert(double score, ZMember* m) {
  if (!root_) {
    Leaf* l = new_leaf(4);
    root_ = l;
    height_ = 0;
    first_leaf_ = last_leaf_ = l;
  }
  Path path;
  void* node = root_;
  for (int h = height_; h > 0; --h) {
    auto* in = static_cast<Inner*>(node);
    uint32_t child = route(in, score, m);
    ++in->counts[child];
    path.steps[path.depth++] = {in, child};
    node = in->children[child];
  }
  auto* leaf = static_cast<Leaf*>(node);
  uint32_t pos = leaf_lower_bound(leaf, score, m);
  ++size_;
  if (leaf->count < leaf->cap) return leaf_insert_at(leaf, pos, score, m);
  if (height_ == 0 && leaf->cap < kLeafCap) {
    // The lone root leaf doubles until it reaches full size.
    Leaf* grown = new_leaf(leaf->cap * 2 < kLeafCap ? leaf->cap * 2u : kLeafCap);
    leaf_copy(grown, 0, leaf, 0, leaf->count);
    grown->count = leaf->count;
    free_leaf(leaf);
    root_ = grown;
    first_leaf_ = last_leaf_ = grown;
    return leaf_insert_at(grown, pos, score, m);
  }
  split_and_insert(path, leaf, pos, score, m);
}

void ZTree::split_and_insert(Path& path, Leaf* leaf, uint32_t pos, double score, ZMember* m) {
  Leaf* right = new_leaf(kLeafCap);
  const uint32_t n = leaf->count;
  // Appends at the right end (growing scores, e.g. timestamps) and prepends at the left end
  // leave the full leaf as it is instead of two half-empty ones.
  uint32_t split = n / 2;
  bool to_left = pos < split;
  if (pos == n && !leaf->next) {
    split = n;
    to_left = false;
  } else if (pos == 0 && !leaf->prev) {
    split = 0;
    to_left = true;
  }
  leaf_copy(right, 0, leaf, split, n - split);
  right->count = static_cast<uint16_t>(n - split);
  leaf->count = static_cast<uint16_t>(split);
  right->prev = leaf;
  right->next = leaf->next;
  if (leaf->next) {
    leaf->next->prev = right;
  } else {
    last_leaf_ = right;
  }
  leaf->next = right;
  if (to_left) {
    leaf_insert_at(leaf, pos, score, m);
  } else {
    leaf_insert_at(right, pos - split, score, m);
  }

  // Hand the new right node to the parent, splitting inner nodes on the way up as needed.
  void* carry = right;
  size_t carry_count = right->count;
  double carry_score = right->scores()[0];
  ZMember* carry_member = right->members()[0];
  for (int lvl = path.depth - 1; lvl >= 0; --lvl) {
    Inner* in = path.steps[lvl].node;
    const uint32_t i = path.steps[lvl].idx;
    in->counts[i] -= carry_count;
    if (in->count < kFan) {
      inner_insert_at(in, i + 1, carry, carry_count, carry_score, carry_member);
      return;
    }
    bool rightmost = i + 1 == kFan;
    for (int up = 0; up < lvl && rightmost; ++up) {
      rightmost = path.steps[up].idx + 1 == path.steps[up].node->count;
    }
    const uint32_t isplit = rightmost ? kFan : kFan / 2;
    Inner* r = new_inner();
    inner_copy(r, 0, in, isplit, kFan - isplit);
    r->count = kFan - isplit;
    in->count = isplit;
    if (i + 1 <= isplit && isplit != kFan) {
      inner_insert_at(in, i + 1, carry, carry_count, carry_score, carry_member);
    } else {
      inner_insert_at(r, i + 1 - isplit, carry, carry_count, carry_score, carry_member);
    }
    carry = r;
    carry_count = 0;
    for (uint32_t c = 0; c < r->count; ++c) carry_count += r->counts[c];
    carry_score = r->scores[0];
    carry_member = r->members[0];
  }
  Inner* root = new_inner();
  root->count = 2;
  root->children[0] = root_;
  root->counts[0] = size_ - carry_count;
  root->scores[0] = 0;
  root->members[0] = nullptr;
  root->children[1] = carry;
  root->counts[1] = carry_count;
  root->scores[1] = carry_score;
  root->members[1] = carry_member;
  root_ = root;
  ++height_;
}

void ZTree::erase(double score, ZMember* m) {
  Path path;
  void* node = root_;
  SLUICE_CHECK(node != nullptr, "zset tree: erase from an empty tree");
  for (int h = height_; h > 0; --h) {
    auto* in = static_cast<Inner*>(node);
    uint32_t child = route(in, score, m);
    path.steps[path.depth++] = {in, child};
    node = in->children[child];
  }
  auto* leaf = static_cast<Leaf*>(node);
  uint32_t pos = leaf_lower_bound(leaf, score, m);
  SLUICE_CHECK(pos < leaf->count && leaf->members()[pos] == m,
               "zset tree: erased entry not found (pos %u of %u)", pos, unsigned{leaf->count});
  for (int l = 0; l < path.depth; ++l) --path.steps[l].node->counts[path.steps[l].idx];
  erase_at(path, leaf, pos);
}

ZMember* ZTree::erase_at_rank(size_t rank) {
  Path path;
  void* node = root_;
  SLUICE_CHECK(rank < size_, "zset tree: rank %zu out of %zu", rank, size_);
  for (int h = height_; h > 0; --h) {
    auto* in = static_cast<Inner*>(node);
    uint32_t c = 0;
    while (rank >= in->counts[c]) rank -= in->counts[c++];
    --in->counts[c];
    path.steps[path.depth++] = {in, c};
    node = in->children[c];
  }
  auto* leaf = static_cast<Leaf*>(node);
  auto pos = static_cast<uint32_t>(rank);
  ZMember* m = leaf->members()[pos];
  erase_at(path, leaf, pos);
  return m;
}

ZTree::Pos ZTree::at_rank(size_t rank) const {
  if (rank >= size_) return {};
  void* node = root_;
  for (int h = height_; h > 0; --h) {
    auto* in = static_cast<Inner*>(node);
    uint32_t c = 0;
    while (rank >= in->counts[c]) rank -= in->counts[c++];
    node = in->children[c];
  }
  return {static_cast<Leaf*>(node), static_cast<uint32_t>(rank)};
}

ZTree::Pos ZTree::last() const {
  if (!size_) return {};
  return {last_leaf_, static_cast<uint32_t>(last_leaf_->count - 1)};
}

void ZTree::erase_at(Path& path, Leaf* leaf, uint32_t pos) {
  double* sc = leaf->scores();
  ZMember** mb = leaf->members();
  const uint32_t tail = leaf->count - pos - 1;
  std::memmove(sc + pos, sc + pos + 1, tail * sizeof(double));
  std::memmove(mb + pos, mb + pos + 1, tail * sizeof(ZMember*));
  --leaf->count;
  --size_;
  if (pos == 0 && path.depth > 0) {
    // The separators naming the erased entry now name its successor, which is the subtree's
    // new first entry (or, when the subtree became empty, a live entry it will not route to).
    Leaf* holder = leaf->count > 0 ? leaf : leaf->next;
    if (holder) {
      double s = holder->scores()[0];
      ZMember* m = holder->members()[0];
      for (int l = path.depth - 1; l >= 0; --l) {
        Step& st = path.steps[l];
        st.node->scores[st.idx] = s;
        st.node->members[st.idx] = m;
        if (st.idx > 0) break;
      }
    }
  }
  if (leaf->count < kLeafMin || path.depth == 0) rebalance_leaf(path, leaf);
}

void ZTree::rebalance_leaf(Path& path, Leaf* leaf) {
  auto unlink = [this](Leaf* l) {
    if (l->prev) {
      l->prev->next = l->next;
    } else {
      first_leaf_ = l->next;
    }
    if (l->next) {
      l->next->prev = l->prev;
    } else {
      last_leaf_ = l->prev;
    }
  };
  if (path.depth == 0) {
    if (leaf->count == 0) {
      free_leaf(leaf);
      root_ = nullptr;
      first_leaf_ = last_leaf_ = nullptr;
    }
    return;
  }
  Inner* p = path.steps[path.depth - 1].node;
  const uint32_t i = path.steps[path.depth - 1].idx;
  if (p->count == 1) {
    if (leaf->count == 0) {
      unlink(leaf);
      free_leaf(leaf);
      p->count = 0;
    }
    return rebalance_inner(path, path.depth - 1);
  }
  const uint32_t j = i + 1 < p->count ? i : i - 1;
  auto* l = static_cast<Leaf*>(p->children[j]);
  auto* r = static_cast<Leaf*>(p->children[j + 1]);
  if (l->count + r->count <= kLeafCap) {
    leaf_copy(l, l->count, r, 0, r->count);
    l->count = static_cast<uint16_t>(l->count + r->count);
    unlink(r);
    p->counts[j] += p->counts[j + 1];
    inner_remove_at(p, j + 1);
    free_leaf(r);
    return rebalance_inner(path, path.depth - 1);
  }
  const uint32_t total = l->count + r->count;
  const uint32_t target = total / 2;
  if (l->count < target) {
    const uint32_t k = target - l->count;
    leaf_copy(l, l->count, r, 0, k);
    leaf_copy(r, 0, r, k, r->count - k);
    l->count = static_cast<uint16_t>(l->count + k);
    r->count = static_cast<uint16_t>(r->count - k);
  } else {
    const uint32_t k = l->count - target;
    leaf_copy(r, k, r, 0, r->count);
    leaf_copy(r, 0, l, l->count - k, k);
    l->count = static_cast<uint16_t>(l->count - k);
    r->count = static_cast<uint16_t>(r->count + k);
  }
  p->counts[j] = l->count;
  p->counts[j + 1] = r->count;
  p->scores[j + 1] = r->scores()[0];
  p->members[j + 1] = r->members()[0];
}

void ZTree::rebalance_inner(Path& path, int level) {
  Inner* n = path.steps[level].node;
  if (level == 0) return shrink_root();
  if (n->count >= kInnerMin) return;
  Inner* gp = path.steps[level - 1].node;
  const uint32_t i = path.steps[level - 1].idx;
  if (gp->count == 1) {
    if (n->count == 0) {
      free_inner(n);
      gp->count = 0;
    }
    return rebalance_inner(path, level - 1);
  }
  const uint32_t j = i + 1 < gp->count ? i : i - 1;
  auto* l = static_cast<Inner*>(gp->children[j]);
  auto* r = static_cast<Inner*>(gp->children[j + 1]);
  if (l->count + r->count <= kFan) {
    const uint32_t base = l->count;
    inner_copy(l, base, r, 0, r->count);
    if (r->count > 0) {
      // r's own keys[0] may be stale; its exact first entry is gp's separator for it.
      l->scores[base] = gp->scores[j + 1];
      l->members[base] = gp->members[j + 1];
      if (base == 0) {
        gp->scores[j] = gp->scores[j + 1];
        gp->members[j] = gp->members[j + 1];
      }
    }
    l->count += r->count;
    gp->counts[j] += gp->counts[j + 1];
    inner_remove_at(gp, j + 1);
    free_inner(r);
    return rebalance_inner(path, level - 1);
  }
  const uint32_t target = (l->count + r->count) / 2;
  size_t moved = 0;
  if (l->count < target) {
    const uint32_t k = target - l->count;
    r->scores[0] = gp->scores[j + 1];
    r->members[0] = gp->members[j + 1];
    inner_copy(l, l->count, r, 0, k);
    for (uint32_t c = 0; c < k; ++c) moved += r->counts[c];
    inner_copy(r, 0, r, k, r->count - k);
    l->count += k;
    r->count -= k;
    gp->counts[j] += moved;
    gp->counts[j + 1] -= moved;
  } else {
    const uint32_t k = l->count - target;
    r->scores[0] = gp->scores[j + 1];
    r->members[0] = gp->members[j + 1];
    inner_copy(r, k, r, 0, r->count);
    inner_copy(r, 0, l, l->count - k, k);
    for (uint32_t c = 0; c < k; ++c) moved += r->counts[c];
    l->count -= k;
    r->count += k;
    gp->counts[j] -= moved;
    gp->counts[j + 1] += moved;
  }
  gp->scores[j + 1] = r->scores[0];
  gp->members[j + 1] = r->members[0];
}

void ZTree::shrink_root() {
  while (height_ > 0) {
    auto* root = static_cast<Inner*>(root_);
    if (root->count == 0) {
      free_inner(root);
      root_ = nullptr;
      height_ = 0;
      first_leaf_ = last_leaf_ = nullptr;
      return;
    }
    if (root->count > 1) return;
    root_ = root->children[0];
    free_inner(root);
    --height_;
  }
  auto* leaf = static_cast<Leaf*>(root_);
  if (leaf && leaf->count == 0) {
    free_leaf(leaf);
    root_ = nullptr;
    first_leaf_ = last_leaf_ = nullptr;
  }
}

}  // namespace sluice::kv
