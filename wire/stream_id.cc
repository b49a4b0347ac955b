// Stream ID arithmetic, text and byte forms, and Redis's strict integer parsing rules.
#include "wire/stream_id.h"

#include <charconv>

namespace sluice::wire {
namespace {

bool is_c_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// strtoull(s, &end, 10) accepting the whole of `text`, as Redis's string2ull falls back to it:
// leading blanks and a sign are allowed, and a '-' negates modulo 2^64 as the C library does.
bool strtoull_whole(std::string_view text, uint64_t* out) {
  size_t i = 0;
  while (i < text.size() && is_c_space(text[i])) ++i;
  bool negative = false;
  if (i < text.size() && (text[i] == '+' || text[i] == '-')) {
    negative = text[i] == '-';
    ++i;
  }
  if (i >= text.size()) return false;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  *out = negative ? uint64_t{0} - value : value;
  return true;
}

// Redis's string2ull: the canonical string2ll form first (negative values refused), then
// strtoull's laxer one.
bool redis_string2ull(std::string_view text, uint64_t* out) {
  int64_t signed_value = 0;
  if (parse_i64(text, &signed_value)) {
    if (signed_value < 0) return false;
    *out = static_cast<uint64_t>(signed_value);
    return true;
  }
  return strtoull_whole(text, out);
}

}  // namespace

bool StreamId::increment(StreamId* out) const {
  if (seq == std::numeric_limits<uint64_t>::max()) {
    if (ms == std::numeric_limits<uint64_t>::max()) return false;
    *out = {ms + 1, 0};
  } else {
    *out = {ms, seq + 1};
  }
  return true;
}

bool StreamId::decrement(StreamId* out) const {
  if (seq == 0) {
    if (ms == 0) return false;
    *out = {ms - 1, std::numeric_limits<uint64_t>::max()};
  } else {
    *out = {ms, seq - 1};
  }
  return true;
}

size_t StreamId::format(char* buf) const {
  char* end = std::to_chars(buf, buf + 20, ms).ptr;
  *end++ = '-';
  end = std::to_chars(end, end + 20, seq).ptr;
  return static_cast<size_t>(end - buf);
}

std::string StreamId::to_string() const {
  char buf[kMaxText];
  return std::string(buf, format(buf));
}

void StreamId::encode_be(uint8_t out[16]) const {
  for (int i = 0; i < 8; ++i) {
    out[i] = static_cast<uint8_t>(ms >> (56 - 8 * i));
    out[8 + i] = static_cast<uint8_t>(seq >> (56 - 8 * i));
  }
}

StreamId StreamId::decode_be(const uint8_t in[16]) {
  StreamId id;
  for (int i = 0; i < 8; ++i) {
    id.ms = (id.ms << 8) | in[i];
    id.seq = (id.seq << 8) | in[8 + i];
  }
  return id;
}

bool parse_stream_id(std::string_view text, StreamId* out, uint64_t missing_seq,
                     bool allow_seq_star, bool* seq_star) {
  // streamGenericParseIDOrReply copies the argument into a 128-byte C string buffer.
  if (text.size() > 127) return false;
  if (size_t nul = text.find('\0'); nul != std::string_view::npos) text = text.substr(0, nul);
  if (seq_star != nullptr) *seq_star = false;

  const size_t dash = text.find('-');
  uint64_t ms = 0;
  uint64_t seq = missing_seq;
  if (!redis_string2ull(text.substr(0, dash), &ms)) return false;
  if (dash != std::string_view::npos) {
    std::string_view seq_text = text.substr(dash + 1);
    if (allow_seq_star && seq_text == "*") {
      seq = 0;
      if (seq_star != nullptr) *seq_star = true;
    } else if (!redis_string2ull(seq_text, &seq)) {
      return false;
    }
  }
  *out = {ms, seq};
  return true;
}

bool parse_u64(std::string_view text, uint64_t* out) {
  if (text.empty()) return false;
  uint64_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return false;
  *out = value;
  return true;
}

bool parse_i64(std::string_view text, int64_t* out) {
  // string2ll: no blanks, no '+', no leading zeros (except "0" itself), no "-0", at most 20 bytes.
  if (text.empty() || text.size() >= 21) return false;
  if (text.size() == 1 && text[0] == '0') {
    *out = 0;
    return true;
  }
  size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) ++i;
  if (i >= text.size() || text[i] < '1' || text[i] > '9') return false;
  uint64_t magnitude = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    const auto digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) return false;
    magnitude = magnitude * 10 + digit;
  }
  constexpr auto kMax = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  if (negative) {
    if (magnitude > kMax + 1) return false;
    *out = magnitude == kMax + 1 ? std::numeric_limits<int64_t>::min()
                                 : -static_cast<int64_t>(magnitude);
  } else {
    if (magnitude > kMax) return false;
    *out = static_cast<int64_t>(magnitude);
  }
  return true;
}

}  // namespace sluice::wire
