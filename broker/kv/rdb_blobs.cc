// Listpack, ziplist and intset blobs (formats in rdb_blobs.h).
#include "broker/kv/rdb_blobs.h"

#include <charconv>
#include <cstring>

#include "broker/kv/kv_object.h"
#include "wire/rdb_format.h"

namespace sluice::kv::rdb_blobs {
namespace {

using wire::rdb::get_le;
using wire::rdb::put_le;
using wire::rdb::sign_extend;

constexpr size_t kListpackHeaderBytes = 6;
constexpr size_t kZiplistHeaderBytes = 10;
constexpr uint8_t kEnd = 0xFF;

std::string int_text(int64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

// The backlen bytes of an element part of `len` bytes, left to right, into buf (5 bytes);
// returns how many.
size_t backlen(uint64_t len, char* buf) {
  int n = len <= 127 ? 1 : len < 16383 ? 2 : len < 2097151 ? 3 : len < 268435455 ? 4 : 5;
  for (int i = n - 1, k = 0; i >= 0; --i, ++k) {
    auto b = static_cast<uint8_t>((len >> (7 * i)) & 127);
    if (i != n - 1) b |= 128;
    buf[k] = static_cast<char>(b);
  }
  return static_cast<size_t>(n);
}

// Parses one listpack element at `at` (before the terminator): its value, and the offset after
// its backlen.
bool listpack_element(std::string_view b, size_t at, std::string* value, size_t* next) {
  const size_t room = b.size() - at;
  const auto h = static_cast<uint8_t>(b[at]);
  size_t header = 1;
  uint64_t str_len = 0;
  bool is_str = false;
  int64_t v = 0;
  if (h < 0x80) {
    v = h;
  } else if ((h & 0xC0) == 0x80) {
    is_str = true;
    str_len = h & 0x3F;
  } else if ((h & 0xE0) == 0xC0) {
    if (room < 2) return false;
    header = 2;
    const auto u = static_cast<int64_t>(uint64_t{h & 0x1Fu} << 8 | static_cast<uint8_t>(b[at + 1]));
    v = u >= 4096 ? u - 8192 : u;
  } else if ((h & 0xF0) == 0xE0) {
    if (room < 2) return false;
    header = 2;
    is_str = true;
    str_len = uint64_t{h & 0x0Fu} << 8 | static_cast<uint8_t>(b[at + 1]);
  } else if (h == 0xF0) {
    if (room < 5) return false;
    header = 5;
    is_str = true;
    str_len = get_le(b, at + 1, 4);
  } else if (h >= 0xF1 && h <= 0xF4) {
    static constexpr size_t kIntBytes[] = {2, 3, 4, 8};
    const size_t n = kIntBytes[h - 0xF1];
    if (room < 1 + n) return false;
    header = 1 + n;
    v = sign_extend(get_le(b, at + 1, n), n);
  } else {
    return false;
  }
  const uint64_t part = header + str_len;
  if (part > room) return false;
  char back[5];
  const size_t back_len = backlen(part, back);
  if (room - part < back_len || std::memcmp(b.data() + at + part, back, back_len) != 0) {
    return false;
  }
  if (is_str) {
    value->assign(b.substr(at + header, str_len));
  } else {
    *value = int_text(v);
  }
  *next = at + part + back_len;
  return true;
}

// Parses one ziplist entry's encoding and data at `at` (after its prevlen).
bool ziplist_payload(std::string_view b, size_t at, std::string* value, size_t* next) {
  const size_t room = b.size() - at;
  const auto e = static_cast<uint8_t>(b[at]);
  size_t header = 1;
  uint64_t len = 0;
  switch (e >> 6) {
    case 0:
      len = e & 0x3F;
      break;
    case 1:
      if (room < 2) return false;
      header = 2;
      len = uint64_t{e & 0x3Fu} << 8 | static_cast<uint8_t>(b[at + 1]);
      break;
    case 2:
      if (e != 0x80 || room < 5) return false;
      header = 5;
      for (size_t i = 1; i <= 4; ++i) len = len << 8 | static_cast<uint8_t>(b[at + i]);
      break;
    default: {
      size_t n = 0;
      if (e == 0xC0) {
        n = 2;
      } else if (e == 0xD0) {
        n = 4;
      } else if (e == 0xE0) {
        n = 8;
      } else if (e == 0xF0) {
        n = 3;
      } else if (e == 0xFE) {
        n = 1;
      } else if (e >= 0xF1 && e <= 0xFD) {
        *value = int_text((e & 0x0F) - 1);
        *next = at + 1;
        return true;
      } else {
        return false;
      }
      if (room < 1 + n) return false;
      *value = int_text(sign_extend(get_le(b, at + 1, n), n));
      *next = at + 1 + n;
      return true;
    }
  }
  if (len > room - header) return false;
  value->assign(b.substr(at + header, len));
  *next = at + header + len;
  return true;
}

}  // namespace

ListpackWriter::ListpackWriter() { buf_.assign(kListpackHeaderBytes, '\0'); }

void ListpackWriter::add_part(std::string_view part) {
  char back[5];
  buf_.append(part);
  buf_.append(back, backlen(part.size(), back));
  ++count_;
}

void ListpackWriter::add_int(int64_t v) {
  std::string part;
  if (v >= 0 && v <= 127) {
    part.push_back(static_cast<char>(v));
  } else if (v >= -4096 && v <= 4095) {
    const auto u = static_cast<uint64_t>(v < 0 ? (1 << 13) + v : v);
    part.push_back(static_cast<char>(0xC0 | (u >> 8)));
    part.push_back(static_cast<char>(u & 0xFF));
  } else {
    size_t n = v >= INT16_MIN && v <= INT16_MAX   ? 2
               : v >= -(1 << 23) && v < (1 << 23) ? 3
               : v >= INT32_MIN && v <= INT32_MAX ? 4
                                                  : 8;
    part.push_back(static_cast<char>(n == 2 ? 0xF1 : n == 3 ? 0xF2 : n == 4 ? 0xF3 : 0xF4));
    put_le(part, static_cast<uint64_t>(v), n);
  }
  add_part(part);
}

void ListpackWriter::add(std::string_view s) {
  int64_t v = 0;
  if (looks_like_int(s, &v)) return add_int(v);
  std::string part;
  if (s.size() < 64) {
    part.push_back(static_cast<char>(0x80 | s.size()));
  } else if (s.size() < 4096) {
    part.push_back(static_cast<char>(0xE0 | (s.size() >> 8)));
    part.push_back(static_cast<char>(s.size() & 0xFF));
  } else {
    part.push_back(static_cast<char>(0xF0));
    put_le(part, s.size(), 4);
  }
  part.append(s);
  add_part(part);
}

std::string ListpackWriter::finish() {
  buf_.push_back(static_cast<char>(kEnd));
  std::string header;
  put_le(header, buf_.size(), 4);
  put_le(header, count_ < 65535 ? count_ : 65535, 2);
  buf_.replace(0, kListpackHeaderBytes, header);
  std::string out = std::move(buf_);
  buf_.assign(kListpackHeaderBytes, '\0');
  count_ = 0;
  return out;
}

bool read_listpack(std::string_view blob, std::vector<std::string>* out) {
  if (blob.size() < kListpackHeaderBytes + 1 || get_le(blob, 0, 4) != blob.size()) return false;
  if (static_cast<uint8_t>(blob.back()) != kEnd) return false;
  const uint64_t declared = get_le(blob, 4, 2);
  const std::string_view body = blob.substr(0, blob.size() - 1);
  size_t at = kListpackHeaderBytes;
  size_t n = 0;
  std::string value;
  while (at < body.size()) {
    if (!listpack_element(body, at, &value, &at)) return false;
    out->push_back(std::move(value));
    ++n;
  }
  return declared == 65535 || declared == n;
}

bool read_ziplist(std::string_view blob, std::vector<std::string>* out) {
  if (blob.size() < kZiplistHeaderBytes + 1 || get_le(blob, 0, 4) != blob.size()) return false;
  if (static_cast<uint8_t>(blob.back()) != kEnd) return false;
  const uint64_t declared = get_le(blob, 8, 2);
  const std::string_view body = blob.substr(0, blob.size() - 1);
  size_t at = kZiplistHeaderBytes;
  size_t prev_size = 0;
  size_t n = 0;
  std::string value;
  while (at < body.size()) {
    const size_t start = at;
    uint64_t prevlen = static_cast<uint8_t>(body[at]);
    if (prevlen == 0xFE) {
      if (body.size() - at < 5) return false;
      prevlen = get_le(body, at + 1, 4);
      at += 5;
    } else if (prevlen == 0xFF) {
      return false;
    } else {
      at += 1;
    }
    if (prevlen != prev_size || at >= body.size()) return false;
    if (!ziplist_payload(body, at, &value, &at)) return false;
    out->push_back(std::move(value));
    prev_size = at - start;
    ++n;
  }
  return declared == 65535 || declared == n;
}

std::string write_intset(const std::vector<int64_t>& ascending) {
  size_t width = 2;
  for (int64_t v : ascending) {
    if (v < INT32_MIN || v > INT32_MAX) {
      width = 8;
    } else if ((v < INT16_MIN || v > INT16_MAX) && width < 4) {
      width = 4;
    }
  }
  std::string out;
  put_le(out, width, 4);
  put_le(out, ascending.size(), 4);
  for (int64_t v : ascending) put_le(out, static_cast<uint64_t>(v), width);
  return out;
}

bool read_intset(std::string_view blob, std::vector<int64_t>* out) {
  if (blob.size() < 8) return false;
  const uint64_t width = get_le(blob, 0, 4);
  const uint64_t count = get_le(blob, 4, 4);
  if (width != 2 && width != 4 && width != 8) return false;
  if ((blob.size() - 8) / width != count || (blob.size() - 8) % width != 0) return false;
  for (size_t i = 0; i < count; ++i) {
    int64_t v = sign_extend(get_le(blob, 8 + i * width, width), width);
    if (!out->empty() && v <= out->back()) return false;
    out->push_back(v);
  }
  return true;
}

}  // namespace sluice::kv::rdb_blobs
