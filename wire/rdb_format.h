// The pieces of Redis's RDB format that DUMP/RESTORE and FUNCTION DUMP/RESTORE payloads share,
// written from the format's description:
//
//   payload   the serialised value, then a 2-byte RDB version (little endian; Redis 7.0 writes
//             10) and the CRC-64/Jones of everything before the CRC (8 bytes, little endian)
//   length    00xxxxxx (6 bits), 01xxxxxx xxxxxxxx (14 bits, big endian), 0x80 + 32-bit BE,
//             0x81 + 64-bit BE; 11xxxxxx marks a special string encoding (below)
//   string    a length and that many bytes, or 0xC0/0xC1/0xC2 + an 8/16/32-bit little-endian
//             signed integer (its decimal text is the string), or 0xC3 + compressed length +
//             original length + LZF data
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::wire::rdb {

inline constexpr uint16_t kRdbVersion = 10;  // what Redis 7.0 writes and the newest it reads

// CRC-64 with the Jones polynomial, reflected (Redis's crc64; "123456789" -> 0xe9c6d914c4b8d9ca).
uint64_t crc64_jones(uint64_t crc, std::string_view data);

// Little-endian fixed-width integers (n <= 8 bytes), as RDB and its blobs store them.
void put_le(std::string& out, uint64_t v, size_t n);
// The n bytes at `at` (the caller checked they exist).
uint64_t get_le(std::string_view in, size_t at, size_t n);
// An n-byte two's complement value widened to 64 bits.
int64_t sign_extend(uint64_t v, size_t n);

void put_length(std::string& out, uint64_t len);
// A string as Redis writes one: the integer encodings when the bytes are the canonical decimal
// form of a 32-bit integer, LZF when over 20 bytes and that saves more than 4, else plain.
void put_string(std::string& out, std::string_view s);
// Appends the version and the CRC, turning a serialised value into a payload.
void seal_payload(std::string& body);
// The serialised value of a payload whose version is at most kRdbVersion and whose CRC matches;
// false otherwise.
bool open_payload(std::string_view payload, std::string_view* body);

// LZF-compresses `in` into *out (greedy matching through a hash of 3-byte prefixes); false when
// the result would exceed max_out bytes.
bool lzf_compress(std::string_view in, size_t max_out, std::string* out);
// Expands LZF data (literal runs and back references) that must come to exactly out_len bytes.
bool lzf_decompress(std::string_view in, size_t out_len, std::string* out);

// Reads RDB items from a buffer; every method returns false (and reads nothing more useful) when
// the input ends early or is malformed.
class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool byte(uint8_t* b);
  // A plain length (a special string encoding here is malformed).
  bool length(uint64_t* len);
  bool string(std::string* out);
  // n raw bytes.
  bool bytes(size_t n, std::string_view* out);
  bool at_end() const { return pos_ == in_.size(); }
  size_t remaining() const { return in_.size() - pos_; }

 private:
  // A length, or with *encoded >= 0 the low 6 bits of a special encoding byte.
  bool length_or_encoding(uint64_t* len, int* encoded);

  std::string_view in_;
  size_t pos_ = 0;
};

}  // namespace sluice::wire::rdb
