// FUNCTION DUMP / RESTORE payload codec (format in function_dump.h): CRC-64/Jones, RDB string
// lengths and LZF decompression, written from their specifications.
#include "broker/scripting/function_dump.h"

#include <array>

namespace sluice::scripting {
namespace {

constexpr uint8_t kOpcodeFunction2 = 0xF5;
constexpr uint16_t kRdbVersion = 10;
constexpr uint64_t kJonesReflected = 0x95ac9329ac4bc9b5ull;  // 0xad93d23594c935a9 bit-reversed

const std::array<uint64_t, 256>& crc64_table() {
  static const std::array<uint64_t, 256> table = [] {
    std::array<uint64_t, 256> t{};
    for (uint64_t i = 0; i < 256; ++i) {
      uint64_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ kJonesReflected : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  return table;
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

struct Reader {
  std::string_view in;
  size_t pos = 0;
  bool byte(uint8_t* b) {
    if (pos >= in.size()) return false;
    *b = static_cast<uint8_t>(in[pos++]);
    return true;
  }
  // A length; *encoded is set for the special encodings (11xxxxxx), with the low 6 bits.
  bool length(uint64_t* len, int* encoded) {
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
};

// LZF: literal runs (ctrl < 32: ctrl+1 bytes follow) and back references (length ctrl>>5, plus
// an extra byte when 7, and a 13-bit offset).
bool lzf_decompress(std::string_view in, size_t out_len, std::string* out) {
  out->clear();
  out->reserve(out_len);
  size_t i = 0;
  while (i < in.size()) {
    unsigned ctrl = static_cast<uint8_t>(in[i++]);
    if (ctrl < 32) {
      size_t n = ctrl + 1;
      if (i + n > in.size() || out->size() + n > out_len) return false;
      out->append(in.data() + i, n);
      i += n;
      continue;
    }
    size_t len = ctrl >> 5;
    if (len == 7) {
      if (i >= in.size()) return false;
      len += static_cast<uint8_t>(in[i++]);
    }
    if (i >= in.size()) return false;
    size_t back = ((ctrl & 0x1f) << 8) + static_cast<uint8_t>(in[i++]) + 1;
    len += 2;
    if (back > out->size() || out->size() + len > out_len) return false;
    size_t from = out->size() - back;
    for (size_t k = 0; k < len; ++k) out->push_back((*out)[from + k]);
  }
  return out->size() == out_len;
}

bool read_string(Reader& r, std::string* out) {
  uint64_t len = 0;
  int encoded = -1;
  if (!r.length(&len, &encoded)) return false;
  if (encoded < 0) {
    if (len > r.in.size() - r.pos) return false;
    out->assign(r.in.substr(r.pos, len));
    r.pos += len;
    return true;
  }
  if (encoded == 3) {  // LZF
    uint64_t clen = 0;
    uint64_t olen = 0;
    int e1 = -1;
    int e2 = -1;
    if (!r.length(&clen, &e1) || e1 >= 0 || !r.length(&olen, &e2) || e2 >= 0) return false;
    if (clen > r.in.size() - r.pos || olen > (1ull << 32)) return false;
    bool ok = lzf_decompress(r.in.substr(r.pos, clen), olen, out);
    r.pos += clen;
    return ok;
  }
  // Integer encodings (8, 16, 32 bits) cannot hold a library's code.
  return false;
}

}  // namespace

uint64_t crc64_jones(uint64_t crc, std::string_view data) {
  const auto& t = crc64_table();
  for (char ch : data) crc = t[(crc ^ static_cast<uint8_t>(ch)) & 0xff] ^ (crc >> 8);
  return crc;
}

std::string encode_function_dump(const std::vector<std::string_view>& library_codes) {
  std::string out;
  for (std::string_view code : library_codes) {
    out.push_back(static_cast<char>(kOpcodeFunction2));
    put_length(out, code.size());
    out.append(code);
  }
  out.push_back(static_cast<char>(kRdbVersion & 0xff));
  out.push_back(static_cast<char>(kRdbVersion >> 8));
  uint64_t crc = crc64_jones(0, out);
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>(crc >> (8 * i)));
  return out;
}

bool decode_function_dump(std::string_view payload, std::vector<std::string>* codes,
                          std::string* error) {
  *error = "ERR DUMP payload version or checksum are wrong";
  if (payload.size() < 10) return false;
  const size_t body = payload.size() - 10;
  uint16_t version = static_cast<uint8_t>(payload[body]) |
                     static_cast<uint16_t>(static_cast<uint8_t>(payload[body + 1]) << 8);
  if (version > kRdbVersion) return false;
  uint64_t crc = 0;
  for (int i = 0; i < 8; ++i)
    crc |= uint64_t{static_cast<uint8_t>(payload[body + 2 + i])} << (8 * i);
  if (crc64_jones(0, payload.substr(0, body + 2)) != crc) return false;
  Reader r{payload.substr(0, body)};
  while (r.pos < r.in.size()) {
    uint8_t op = 0;
    r.byte(&op);
    if (op != kOpcodeFunction2) {
      *error = "ERR given type is not a function";
      return false;
    }
    std::string code;
    if (!read_string(r, &code)) {
      *error = "ERR payload is not a valid function dump";
      return false;
    }
    codes->push_back(std::move(code));
  }
  error->clear();
  return true;
}

}  // namespace sluice::scripting
