// RDB lengths, strings, LZF expansion and the payload footer (format in rdb_format.h).
#include "wire/rdb_format.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>
#include <vector>

namespace sluice::wire::rdb {
namespace {

constexpr uint64_t kJonesReflected = 0x95ac9329ac4bc9b5ull;  // 0xad93d23594c935a9 bit-reversed
constexpr size_t kFooterBytes = 10;                          // version (2) + CRC (8)
constexpr uint64_t kMaxStringBytes = uint64_t{1} << 32;      // bounds an LZF allocation

// Slice-by-8 tables: t[0] is the classic byte table; t[k][i] is the CRC of byte i followed by k
// zero bytes, so eight input bytes are folded with eight lookups.
using Crc64Tables = std::array<std::array<uint64_t, 256>, 8>;

const Crc64Tables& crc64_tables() {
  static const Crc64Tables tables = [] {
    Crc64Tables t{};
    for (uint64_t i = 0; i < 256; ++i) {
      uint64_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kJonesReflected : c >> 1;
      t[0][i] = c;
    }
    for (size_t k = 1; k < 8; ++k) {
      for (size_t i = 0; i < 256; ++i) t[k][i] = t[0][t[k - 1][i] & 0xff] ^ (t[k - 1][i] >> 8);
    }
    return t;
  }();
  return tables;
}

// The value of s when s is exactly the decimal text Redis would print for it.
bool canonical_int(std::string_view s, int64_t* v) {
  if (s.empty() || s.size() > 20) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  if (ec != std::errc() || end != s.data() + s.size()) return false;
  char buf[24];
  auto back = std::to_chars(buf, buf + sizeof buf, *v);
  return std::string_view(buf, static_cast<size_t>(back.ptr - buf)) == s;
}

}  // namespace

uint64_t crc64_jones(uint64_t crc, std::string_view data) {
  const Crc64Tables& t = crc64_tables();
  const auto* p = reinterpret_cast<const uint8_t*>(data.data());
  size_t n = data.size();
  while (n >= 8) {
    uint64_t word = 0;
    for (int i = 0; i < 8; ++i) word |= uint64_t{p[i]} << (8 * i);
    crc ^= word;
    crc = t[7][crc & 0xff] ^ t[6][(crc >> 8) & 0xff] ^ t[5][(crc >> 16) & 0xff] ^
          t[4][(crc >> 24) & 0xff] ^ t[3][(crc >> 32) & 0xff] ^ t[2][(crc >> 40) & 0xff] ^
          t[1][(crc >> 48) & 0xff] ^ t[0][crc >> 56];
    p += 8;
    n -= 8;
  }
  for (; n > 0; --n, ++p) crc = t[0][(crc ^ *p) & 0xff] ^ (crc >> 8);
  return crc;
}

void put_le(std::string& out, uint64_t v, size_t n) {
  for (size_t i = 0; i < n; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t get_le(std::string_view in, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t{static_cast<uint8_t>(in[at + i])} << (8 * i);
  return v;
}

int64_t sign_extend(uint64_t v, size_t n) {
  const int shift = static_cast<int>(64 - 8 * n);
  return static_cast<int64_t>(v << shift) >> shift;
}

void put_length(std::string& out, uint64_t len) {
  if (len < 64) {
    out.push_back(static_cast<char>(len));
  } else if (len < 16384) {
    out.push_back(static_cast<char>(0x40 | (len >> 8)));
    out.push_back(static_cast<char>(len & 0xff));
  } else if (len <= 0xffffffffull) {
    out.push_back(static_cast<char>(0x80));
    for (int i = 3; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
  } else {
    out.push_back(static_cast<char>(0x81));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(len >> (8 * i)));
  }
}

void put_string(std::string& out, std::string_view s) {
  int64_t v = 0;
  if (s.size() <= 11 && canonical_int(s, &v)) {
    if (v >= INT8_MIN && v <= INT8_MAX) {
      out.push_back(static_cast<char>(0xC0));
      return put_le(out, static_cast<uint64_t>(v), 1);
    }
    if (v >= INT16_MIN && v <= INT16_MAX) {
      out.push_back(static_cast<char>(0xC1));
      return put_le(out, static_cast<uint64_t>(v), 2);
    }
    if (v >= INT32_MIN && v <= INT32_MAX) {
      out.push_back(static_cast<char>(0xC2));
      return put_le(out, static_cast<uint64_t>(v), 4);
    }
  }
  // Like Redis (rdbcompression yes): strings over 20 bytes go LZF-compressed when that saves
  // more than 4 bytes.
  if (s.size() > 20) {
    std::string packed;
    if (lzf_compress(s, s.size() - 4, &packed)) {
      out.push_back(static_cast<char>(0xC3));
      put_length(out, packed.size());
      put_length(out, s.size());
      out.append(packed);
      return;
    }
  }
  put_length(out, s.size());
  out.append(s);
}

bool lzf_compress(std::string_view in, size_t max_out, std::string* out) {
  constexpr size_t kMaxLiteral = 32;
  constexpr size_t kMaxOffset = 8192;
  constexpr size_t kMaxMatch = 264;  // 2 + 7 + 255
  constexpr int kHashBits = 14;
  std::vector<uint32_t> last(size_t{1} << kHashBits, UINT32_MAX);
  const auto* p = reinterpret_cast<const uint8_t*>(in.data());
  const size_t n = in.size();
  out->clear();
  size_t literal_start = 0;
  auto flush_literals = [&](size_t end) {
    while (literal_start < end) {
      const size_t run = std::min(kMaxLiteral, end - literal_start);
      out->push_back(static_cast<char>(run - 1));
      out->append(in.substr(literal_start, run));
      literal_start += run;
    }
  };
  size_t i = 0;
  while (i + 2 < n) {
    const uint32_t h =
        ((uint32_t{p[i]} << 16 | uint32_t{p[i + 1]} << 8 | p[i + 2]) * 2654435761u) >>
        (32 - kHashBits);
    const uint32_t ref = last[h];
    last[h] = static_cast<uint32_t>(i);
    if (ref == UINT32_MAX || i - ref > kMaxOffset || std::memcmp(p + ref, p + i, 3) != 0) {
      ++i;
      continue;
    }
    size_t len = 3;
    while (len < kMaxMatch && i + len < n && p[ref + len] == p[i + len]) ++len;
    flush_literals(i);
    const size_t off = i - ref - 1;
    const size_t code = len - 2;
    if (code < 7) {
      out->push_back(static_cast<char>(code << 5 | off >> 8));
    } else {
      out->push_back(static_cast<char>(7 << 5 | off >> 8));
      out->push_back(static_cast<char>(code - 7));
    }
    out->push_back(static_cast<char>(off & 0xff));
    i += len;
    literal_start = i;
    if (out->size() >= max_out) return false;
  }
  flush_literals(n);
  return out->size() <= max_out;
}

void seal_payload(std::string& body) {
  put_le(body, kRdbVersion, 2);
  put_le(body, crc64_jones(0, body), 8);
}

bool open_payload(std::string_view payload, std::string_view* body) {
  if (payload.size() < kFooterBytes) return false;
  const size_t n = payload.size() - kFooterBytes;
  if (get_le(payload, n, 2) > kRdbVersion) return false;
  if (crc64_jones(0, payload.substr(0, n + 2)) != get_le(payload, n + 2, 8)) return false;
  *body = payload.substr(0, n);
  return true;
}

bool lzf_decompress(std::string_view in, size_t out_len, std::string* out) {
  // A claimed length is not trusted for the allocation: LZF expands at most ~100x.
  if (out_len > in.size() * 128 + 64) return false;
  out->resize(out_len);
  char* dst = out->data();
  size_t o = 0;
  size_t i = 0;
  while (i < in.size()) {
    unsigned ctrl = static_cast<uint8_t>(in[i++]);
    if (ctrl < 32) {  // a literal run of ctrl + 1 bytes
      size_t n = ctrl + 1;
      if (i + n > in.size() || o + n > out_len) return false;
      std::memcpy(dst + o, in.data() + i, n);
      o += n;
      i += n;
      continue;
    }
    // A back reference: length ctrl >> 5 (7: plus the next byte), plus 2; a 13-bit offset.
    size_t len = ctrl >> 5;
    if (len == 7) {
      if (i >= in.size()) return false;
      len += static_cast<uint8_t>(in[i++]);
    }
    if (i >= in.size()) return false;
    size_t back = ((ctrl & 0x1f) << 8) + static_cast<uint8_t>(in[i++]) + 1;
    len += 2;
    if (back > o || o + len > out_len) return false;
    if (back >= len) {
      std::memcpy(dst + o, dst + o - back, len);
    } else {  // the reference overlaps what it writes: byte by byte
      for (size_t k = 0; k < len; ++k) dst[o + k] = dst[o - back + k];
    }
    o += len;
  }
  return o == out_len;
}

bool Reader::byte(uint8_t* b) {
  if (pos_ >= in_.size()) return false;
  *b = static_cast<uint8_t>(in_[pos_++]);
  return true;
}

bool Reader::bytes(size_t n, std::string_view* out) {
  if (n > remaining()) return false;
  *out = in_.substr(pos_, n);
  pos_ += n;
  return true;
}

bool Reader::length_or_encoding(uint64_t* len, int* encoded) {
  uint8_t b = 0;
  if (!byte(&b)) return false;
  *encoded = -1;
  switch (b >> 6) {
    case 0:
      *len = b & 0x3f;
      return true;
    case 1: {
      uint8_t b2 = 0;
      if (!byte(&b2)) return false;
      *len = (uint64_t{b & 0x3fu} << 8) | b2;
      return true;
    }
    case 2: {
      int n = b == 0x80 ? 4 : b == 0x81 ? 8 : 0;
      if (n == 0) return false;
      uint64_t v = 0;
      for (int i = 0; i < n; ++i) {
        uint8_t x = 0;
        if (!byte(&x)) return false;
        v = (v << 8) | x;
      }
      *len = v;
      return true;
    }
    default:
      *encoded = b & 0x3f;
      return true;
  }
}

bool Reader::length(uint64_t* len) {
  int encoded = -1;
  return length_or_encoding(len, &encoded) && encoded < 0;
}

bool Reader::string(std::string* out) {
  uint64_t len = 0;
  int encoded = -1;
  if (!length_or_encoding(&len, &encoded)) return false;
  std::string_view raw;
  if (encoded < 0) {
    if (!bytes(len, &raw)) return false;
    out->assign(raw);
    return true;
  }
  if (encoded <= 2) {  // an integer of 1, 2 or 4 bytes
    const size_t n = size_t{1} << encoded;
    if (!bytes(n, &raw)) return false;
    const int64_t v = sign_extend(get_le(raw, 0, n), n);
    char buf[24];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out->assign(buf, r.ptr);
    return true;
  }
  if (encoded != 3) return false;
  uint64_t compressed = 0;
  uint64_t original = 0;
  if (!length(&compressed) || !length(&original) || original > kMaxStringBytes) return false;
  return bytes(compressed, &raw) && lzf_decompress(raw, original, out);
}

}  // namespace sluice::wire::rdb
