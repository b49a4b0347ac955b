#include "broker/stream/stream_node.h"

#include <cstring>

namespace sluice::stream {
namespace {

constexpr uint64_t kListpackMaxSize = uint64_t{1} << 30;  // STREAM_LISTPACK_MAX_SIZE
constexpr uint64_t kEmptyListpack = 7;                    // header (6) and end byte
constexpr int64_t kSameFields = 2;                        // STREAM_ITEM_FLAG_SAMEFIELDS

// Bytes of an integer's encoding (listpack.c lpEncodeIntegerGetType).
uint64_t int_encoding(int64_t v) {
  if (v >= 0 && v <= 127) return 1;
  if (v >= -4096 && v <= 4095) return 2;
  if (v >= -32768 && v <= 32767) return 3;
  if (v >= -8388608 && v <= 8388607) return 4;
  if (v >= INT32_MIN && v <= INT32_MAX) return 5;
  return 9;
}

// Bytes of an element's back length.
uint64_t backlen(uint64_t l) {
  if (l <= 127) return 1;
  if (l < 16383) return 2;
  if (l < 2097151) return 3;
  if (l < 268435455) return 4;
  return 5;
}

uint64_t int_element(int64_t v) {
  const uint64_t e = int_encoding(v);
  return e + backlen(e);
}

// A string that listpack stores as an integer (lpStringToInt64: no sign but '-', no leading
// zero, fits in int64).
bool as_integer(std::string_view s, int64_t* out) {
  if (s.empty() || s.size() >= 21) return false;
  if (s == "0") {
    *out = 0;
    return true;
  }
  size_t i = 0;
  const bool negative = s[0] == '-';
  if (negative) i = 1;
  if (i == s.size() || s[i] < '1' || s[i] > '9') return false;
  uint64_t v = 0;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(s[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  if (negative) {
    if (v > uint64_t{1} << 63) return false;
    *out = v == uint64_t{1} << 63 ? INT64_MIN : -static_cast<int64_t>(v);
  } else {
    if (v > static_cast<uint64_t>(INT64_MAX)) return false;
    *out = static_cast<int64_t>(v);
  }
  return true;
}

uint64_t string_element(std::string_view s) {
  int64_t v;
  if (as_integer(s, &v)) return int_element(v);
  const uint64_t n = s.size();
  const uint64_t e = n < 64 ? 1 + n : n < 4096 ? 2 + n : 5 + n;
  return e + backlen(e);
}

}  // namespace

bool NodeModel::add(StreamId id, std::span<const std::string_view> fields, int64_t max_entries,
                    int64_t max_bytes, bool force_new) {
  const size_t nfields = fields.size() / 2;
  uint64_t element_bytes = 0;
  for (std::string_view f : fields) element_bytes += f.size();
  uint64_t node_max_bytes = max_bytes > 0 ? static_cast<uint64_t>(max_bytes) : kListpackMaxSize;
  if (node_max_bytes > kListpackMaxSize) node_max_bytes = kListpackMaxSize;
  bool starts = force_new || !open_;
  if (!starts) {
    starts = bytes_ + element_bytes >= node_max_bytes ||
             (max_entries > 0 && valid_ + deleted_ >= static_cast<uint64_t>(max_entries));
  }
  bool same_fields;
  if (starts) {
    open_ = true;
    master_id_ = id;
    master_fields_.clear();
    valid_ = 1;
    deleted_ = 0;
    bytes_ = kEmptyListpack + int_element(1) + int_element(0) +
             int_element(static_cast<int64_t>(nfields)) + int_element(0);
    for (size_t i = 0; i < nfields; ++i) {
      master_fields_.emplace_back(fields[2 * i]);
      bytes_ += string_element(fields[2 * i]);
    }
    same_fields = true;
  } else {
    bytes_ -= int_element(static_cast<int64_t>(valid_));
    ++valid_;
    bytes_ += int_element(static_cast<int64_t>(valid_));
    same_fields = nfields == master_fields_.size();
    for (size_t i = 0; same_fields && i < nfields; ++i) {
      same_fields = fields[2 * i] == master_fields_[i];
    }
  }
  // flags, ms and seq differences to the master ID, [count], [fields], values, lp-count.
  bytes_ += int_element(same_fields ? kSameFields : 0);
  bytes_ += int_element(static_cast<int64_t>(id.ms - master_id_.ms));
  bytes_ += int_element(static_cast<int64_t>(id.seq - master_id_.seq));
  if (!same_fields) bytes_ += int_element(static_cast<int64_t>(nfields));
  for (size_t i = 0; i < nfields; ++i) {
    if (!same_fields) bytes_ += string_element(fields[2 * i]);
    bytes_ += string_element(fields[2 * i + 1]);
  }
  const int64_t lp_count = static_cast<int64_t>(nfields + 3 + (same_fields ? 0 : nfields + 1));
  bytes_ += int_element(lp_count);
  return starts;
}

void NodeModel::entry_deleted(StreamId id) {
  if (!open_ || id < master_id_ || valid_ == 0) return;
  bytes_ -= int_element(static_cast<int64_t>(valid_)) + int_element(static_cast<int64_t>(deleted_));
  --valid_;
  ++deleted_;
  bytes_ += int_element(static_cast<int64_t>(valid_)) + int_element(static_cast<int64_t>(deleted_));
  if (valid_ == 0) open_ = false;
}

void NodeModel::add_missing(uint64_t n, uint64_t bytes_each) {
  if (!open_ || n == 0) return;
  bytes_ -= int_element(static_cast<int64_t>(deleted_));
  deleted_ += n;
  bytes_ += int_element(static_cast<int64_t>(deleted_)) + n * bytes_each;
}

}  // namespace sluice::stream
