// The packed blobs Redis puts inside RDB strings (DUMP payloads), written from the formats'
// descriptions. Readers validate every length and return false on anything malformed; writers
// produce what Redis 7.0 writes for the same elements.
//
// listpack: total bytes (u32 LE), element count (u16 LE, 65535 = unknown), elements, 0xFF.
//   Each element is an encoding+data part followed by its "backlen": the part's size in 1-5
//   bytes of 7 bits, read from the right (the last byte holds the low bits; 0x80 set on every
//   byte but the leftmost). Encodings, by first byte:
//     0xxxxxxx             integer 0..127
//     10xxxxxx             string of 0..63 bytes
//     110xxxxx b           13-bit signed integer ((x << 8) | b)
//     1110xxxx b           string of (x << 8) | b bytes
//     11110000 + u32 LE    string of that many bytes
//     0xF1/0xF2/0xF3/0xF4  16/24/32/64-bit signed integer, little endian
// ziplist (read only; Redis < 7.0): total bytes (u32), tail offset (u32), count (u16), then
//   each entry: previous entry's size (1 byte, or 0xFE + u32), an encoding, data; 0xFF ends.
//   Encodings: 00xxxxxx string (6-bit length), 01xxxxxx b (14-bit BE), 0x80 + u32 BE;
//   0xC0 int16, 0xD0 int32, 0xE0 int64, 0xF0 int24, 0xFE int8 (little endian); 0xF1..0xFD the
//   integer (x & 0xF) - 1.
// intset: encoding (u32 LE: 2, 4 or 8 bytes per member), count (u32 LE), members ascending, LE.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::kv::rdb_blobs {

class ListpackWriter {
 public:
  ListpackWriter();
  // An element; a string that is an integer's canonical text is stored as that integer.
  void add(std::string_view s);
  void add_int(int64_t v);
  size_t count() const { return count_; }
  size_t bytes() const { return buf_.size() + 1; }
  // The finished blob; the writer is left empty.
  std::string finish();

 private:
  void add_part(std::string_view part);

  std::string buf_;
  size_t count_ = 0;
};

bool read_listpack(std::string_view blob, std::vector<std::string>* out);
bool read_ziplist(std::string_view blob, std::vector<std::string>* out);

std::string write_intset(const std::vector<int64_t>& ascending);
bool read_intset(std::string_view blob, std::vector<int64_t>* out);

}  // namespace sluice::kv::rdb_blobs
