// The process-wide allocation counter behind used_memory(), and the replacement operator new
// and delete that feed it. They live in this file so that any program that reads the counter
// also links the operators that keep it.
#include "broker/core/memory.h"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <new>

namespace sluice::core {
namespace {

// Relaxed: a statistic read by the loop thread; the thread pool and the forked snapshot child
// allocate too, and only the total matters. Each thread adds to its own counter and moves it to
// the shared one past kFlushBytes (no locked instruction per allocation); used_memory() first
// moves the calling thread's, so the loop thread's figure is exact and another thread's is off
// by less than kFlushBytes.
std::atomic<int64_t> g_used{0};
std::atomic<int64_t> g_peak{0};
thread_local int64_t t_pending = 0;
constexpr int64_t kFlushBytes = 64 << 10;

inline void add_bytes(int64_t n) {
  t_pending += n;
  if (t_pending > kFlushBytes || t_pending < -kFlushBytes) {
    g_used.fetch_add(t_pending, std::memory_order_relaxed);
    t_pending = 0;
  }
}

inline void count_block(void* p) {
  if (p) add_bytes(static_cast<int64_t>(malloc_usable_size(p)));
}
inline void uncount_block(void* p) {
  if (p) add_bytes(-static_cast<int64_t>(malloc_usable_size(p)));
}

int64_t used_now() {
  if (t_pending != 0) {
    g_used.fetch_add(t_pending, std::memory_order_relaxed);
    t_pending = 0;
  }
  return g_used.load(std::memory_order_relaxed);
}

void* new_block(size_t n) {
  void* p = std::malloc(n == 0 ? 1 : n);
  if (!p) throw std::bad_alloc();
  count_block(p);
  return p;
}

void* new_aligned_block(size_t n, std::align_val_t al) {
  size_t align = static_cast<size_t>(al);
  if (align < sizeof(void*)) align = sizeof(void*);
  size_t size = (n + align - 1) / align * align;
  void* p = std::aligned_alloc(align, size == 0 ? align : size);
  if (!p) throw std::bad_alloc();
  count_block(p);
  return p;
}

void delete_block(void* p) noexcept {
  uncount_block(p);
  std::free(p);
}

}  // namespace

uint64_t used_memory() {
  int64_t v = used_now();
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

uint64_t peak_used_memory() {
  int64_t v = g_peak.load(std::memory_order_relaxed);
  return v < 0 ? 0 : static_cast<uint64_t>(v);
}

void note_peak_memory() {
  int64_t v = used_now();
  if (v > g_peak.load(std::memory_order_relaxed)) g_peak.store(v, std::memory_order_relaxed);
}

void* counted_malloc(size_t bytes) {
  void* p = std::malloc(bytes);
  count_block(p);
  return p;
}

void* counted_calloc(size_t count, size_t size) {
  void* p = std::calloc(count, size);
  count_block(p);
  return p;
}

void* counted_realloc(void* ptr, size_t bytes) {
  const int64_t before = ptr ? static_cast<int64_t>(malloc_usable_size(ptr)) : 0;
  void* p = std::realloc(ptr, bytes);
  if (!p) return nullptr;  // the old block stays, and stays counted
  add_bytes(static_cast<int64_t>(malloc_usable_size(p)) - before);
  return p;
}

void counted_free(void* ptr) {
  uncount_block(ptr);
  std::free(ptr);
}

}  // namespace sluice::core

// Replacements of the global allocation functions ([new.delete]): every form routes to the
// counted blocks above.
void* operator new(size_t n) { return sluice::core::new_block(n); }
void* operator new[](size_t n) { return sluice::core::new_block(n); }
void* operator new(size_t n, const std::nothrow_t&) noexcept {
  try {
    return sluice::core::new_block(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](size_t n, const std::nothrow_t&) noexcept {
  try {
    return sluice::core::new_block(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new(size_t n, std::align_val_t al) { return sluice::core::new_aligned_block(n, al); }
void* operator new[](size_t n, std::align_val_t al) {
  return sluice::core::new_aligned_block(n, al);
}
void operator delete(void* p) noexcept { sluice::core::delete_block(p); }
void operator delete[](void* p) noexcept { sluice::core::delete_block(p); }
void operator delete(void* p, size_t) noexcept { sluice::core::delete_block(p); }
void operator delete[](void* p, size_t) noexcept { sluice::core::delete_block(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { sluice::core::delete_block(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { sluice::core::delete_block(p); }
void operator delete(void* p, std::align_val_t) noexcept { sluice::core::delete_block(p); }
void operator delete[](void* p, std::align_val_t) noexcept { sluice::core::delete_block(p); }
void operator delete(void* p, size_t, std::align_val_t) noexcept { sluice::core::delete_block(p); }
void operator delete[](void* p, size_t, std::align_val_t) noexcept {
  sluice::core::delete_block(p);
}
