// Memory accounting: Redis's used_memory. Every allocation of the process is counted at the
// allocator, as Redis's zmalloc counts its own: operator new and delete are replaced (memory.cc)
// and the few modules that call malloc themselves (list nodes, sorted-set trees) go through
// counted_malloc & co. The count is the allocator's usable size of each live block, so it moves
// with every write of every type without any per-type bookkeeping, and freeing a key lowers it
// by what the key really held. Lua's own allocator is not counted (INFO used_memory_lua), as in
// Redis.
#pragma once

#include <cstddef>
#include <cstdint>

namespace sluice::core {

// Bytes in live blocks allocated by this process (all threads).
uint64_t used_memory();
// The highest used_memory() seen by note_peak_memory() (INFO used_memory_peak).
uint64_t peak_used_memory();
void note_peak_memory();

// malloc/realloc/free that keep used_memory() right. A block from counted_malloc must be freed
// with counted_free (and the other way round).
void* counted_malloc(size_t bytes);
void* counted_calloc(size_t count, size_t size);
void* counted_realloc(void* ptr, size_t bytes);
void counted_free(void* ptr);

}  // namespace sluice::core
