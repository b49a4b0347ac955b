// SparseIndex lookups and the .idx sidecar encoding described in sparse_index.h.
#include "broker/storage/sparse_index.h"

#include <algorithm>
#include <cstring>

#include "wire/crc32c.h"

namespace sluice::storage {
namespace {

constexpr char kMagic[4] = {'S', 'L', 'I', 'X'};
constexpr uint32_t kVersion = 1;
constexpr size_t kHeaderBytes = 64;
constexpr size_t kEntryBytes = 24;

void put_u64(std::string* out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 8);
}

void put_u32(std::string* out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out->append(b, 4);
}

uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace

uint64_t SparseIndex::seek(StreamId key) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), key,
                             [](StreamId k, const IndexEntry& e) { return k < e.key; });
  return it == entries_.begin() ? 0 : std::prev(it)->pos;
}

uint64_t SparseIndex::seek_end(StreamId key, uint64_t segment_end) const {
  auto it = std::upper_bound(entries_.begin(), entries_.end(), key,
                             [](StreamId k, const IndexEntry& e) { return k < e.key; });
  return it == entries_.end() ? segment_end : it->pos;
}

size_t SparseIndex::entries_before(uint64_t pos) const {
  auto it = std::lower_bound(entries_.begin(), entries_.end(), pos,
                             [](const IndexEntry& e, uint64_t p) { return e.pos < p; });
  return static_cast<size_t>(it - entries_.begin());
}

std::string encode_index_file(const SegmentSummary& summary, const SparseIndex& index) {
  std::string out;
  out.reserve(kHeaderBytes + kEntryBytes * index.entries().size() + 4);
  out.append(kMagic, 4);
  put_u32(&out, kVersion);
  put_u64(&out, summary.file_bytes);
  put_u64(&out, summary.first_key.ms);
  put_u64(&out, summary.first_key.seq);
  put_u64(&out, summary.last_key.ms);
  put_u64(&out, summary.last_key.seq);
  put_u64(&out, summary.records);
  put_u64(&out, index.entries().size());
  for (const IndexEntry& e : index.entries()) {
    put_u64(&out, e.key.ms);
    put_u64(&out, e.key.seq);
    put_u64(&out, e.pos);
  }
  put_u32(&out, wire::crc32c_mask(wire::crc32c(out.data(), out.size())));
  return out;
}

bool decode_index_file(std::string_view bytes, SegmentSummary* summary, SparseIndex* index) {
  if (bytes.size() < kHeaderBytes + 4) return false;
  const char* p = bytes.data();
  if (std::memcmp(p, kMagic, 4) != 0 || get_u32(p + 4) != kVersion) return false;
  const uint64_t count = get_u64(p + 56);
  if (count > (bytes.size() - kHeaderBytes - 4) / kEntryBytes) return false;
  const size_t body = kHeaderBytes + kEntryBytes * static_cast<size_t>(count);
  if (bytes.size() != body + 4) return false;
  if (wire::crc32c_unmask(get_u32(p + body)) != wire::crc32c(p, body)) return false;

  SegmentSummary s;
  s.file_bytes = get_u64(p + 8);
  s.first_key = {get_u64(p + 16), get_u64(p + 24)};
  s.last_key = {get_u64(p + 32), get_u64(p + 40)};
  s.records = get_u64(p + 48);
  if (s.records == 0 || s.last_key < s.first_key) return false;
  std::vector<IndexEntry> entries;
  entries.reserve(static_cast<size_t>(count));
  for (size_t i = 0; i < count; ++i) {
    const char* e = p + kHeaderBytes + kEntryBytes * i;
    IndexEntry entry{{get_u64(e), get_u64(e + 8)}, get_u64(e + 16)};
    if (entry.pos == 0 || entry.pos >= s.file_bytes || entry.key <= s.first_key ||
        entry.key > s.last_key) {
      return false;
    }
    if (!entries.empty() && (entry.pos <= entries.back().pos || entry.key <= entries.back().key)) {
      return false;
    }
    entries.push_back(entry);
  }
  *summary = s;
  index->entries_ = std::move(entries);
  index->next_pos_ =
      index->entries_.empty() ? index->interval_ : index->entries_.back().pos + index->interval_;
  return true;
}

}  // namespace sluice::storage
