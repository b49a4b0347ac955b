// RequestParser: Redis 7.0's processMultibulkBuffer / processInlineBuffer as an incremental,
// allocation-free (in steady state) parser over the caller's input buffer.
#include "wire/resp/request_parser.h"

#include <cstring>

#include "wire/stream_id.h"

namespace sluice::wire::resp {
namespace {

// Arguments of an inline command that needed unescaping live in inline_storage_, and big bulks
// supplied by the caller in supplied_: their span's offset carries this tag and the index there
// instead of a byte offset.
constexpr size_t kStorageTag = size_t{1} << (sizeof(size_t) * 8 - 1);

size_t find_byte(std::string_view data, size_t from, char byte) {
  if (from >= data.size()) return std::string_view::npos;
  const void* hit = std::memchr(data.data() + from, byte, data.size() - from);
  if (hit == nullptr) return std::string_view::npos;
  return static_cast<size_t>(static_cast<const char*>(hit) - data.data());
}

// The C locale's isspace, which sdssplitargs uses to skip blanks and to end a quoted token.
bool is_c_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

// The characters that end an unquoted token in sdssplitargs (a subset of isspace).
bool ends_bare_token(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

bool is_hex_digit(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

char unescape(char c) {
  switch (c) {
    case 'n':
      return '\n';
    case 'r':
      return '\r';
    case 't':
      return '\t';
    case 'b':
      return '\b';
    case 'a':
      return '\a';
    default:
      return c;
  }
}

}  // namespace

void RequestParser::reset() {
  multibulk_len_ = -1;
  pos_ = 0;
  bulk_len_ = -1;
  scan_pos_ = 0;
  arg_spans_.clear();
  supplied_count_ = 0;
  bytes_hint_ = 0;
}

RequestParser::BigBulk RequestParser::big_bulk() const {
  if (multibulk_len_ <= 0 || bulk_len_ < static_cast<int64_t>(kBigBulk)) return {};
  return {pos_, static_cast<size_t>(bulk_len_)};
}

void RequestParser::supply_big_bulk(std::string_view bytes) {
  arg_spans_.emplace_back(kStorageTag | supplied_count_, bytes.size());
  if (supplied_.size() == supplied_count_) supplied_.emplace_back();
  supplied_[supplied_count_++] = bytes;
  bulk_len_ = -1;
  scan_pos_ = pos_;
}

RequestParser::Outcome RequestParser::fail(std::string text) {
  // Redis's addReplyErrorFormat turns CR and LF into spaces so the reply stays one line.
  for (char& c : text) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  error_ = std::move(text);
  reset();
  return Outcome::kError;
}

RequestParser::Outcome RequestParser::parse(std::string_view data,
                                            std::vector<std::string_view>* argv, size_t* consumed) {
  *consumed = 0;
  // The caller must pass the same start, extended; a shorter buffer means it dropped its input.
  if (data.size() < pos_ || data.size() < scan_pos_) reset();
  if (data.empty()) {
    bytes_hint_ = 1;
    return Outcome::kIncomplete;
  }
  if (multibulk_len_ < 0) {
    if (data[0] != '*') return parse_inline(data, argv, consumed);

    size_t cr = find_byte(data, scan_pos_, '\r');
    if (cr == std::string_view::npos) {
      if (data.size() > limits_.max_inline_len) {
        return fail("Protocol error: too big mbulk count string");
      }
      scan_pos_ = data.size();
      bytes_hint_ = 1;
      return Outcome::kIncomplete;
    }
    // Like Redis, the byte after '\r' must be present but is not checked to be '\n'.
    if (cr + 1 >= data.size()) {
      scan_pos_ = cr;
      bytes_hint_ = 1;
      return Outcome::kIncomplete;
    }
    int64_t count = 0;
    // One comparison against the lower of both limits on the common path; which one was
    // passed is sorted out only then.
    const bool number = parse_i64(data.substr(1, cr - 1), &count);
    if (!number || (count > 0 && static_cast<uint64_t>(count) > quick_multibulk_len_)) {
      if (!number || static_cast<uint64_t>(count) > limits_.max_multibulk_len) {
        return fail("Protocol error: invalid multibulk length");
      }
      if (auth_required()) return fail("Protocol error: unauthenticated multibulk length");
    }
    if (count <= 0) {
      // Redis resets the client and moves on; callers see an empty command and skip it.
      argv->clear();
      *consumed = cr + 2;
      reset();
      return Outcome::kCommand;
    }
    multibulk_len_ = count;
    pos_ = cr + 2;
    scan_pos_ = pos_;
    arg_spans_.clear();
  }

  while (arg_spans_.size() < static_cast<size_t>(multibulk_len_)) {
    if (bulk_len_ < 0) {
      size_t cr = find_byte(data, scan_pos_ > pos_ ? scan_pos_ : pos_, '\r');
      if (cr == std::string_view::npos) {
        if (data.size() - pos_ > limits_.max_inline_len) {
          return fail("Protocol error: too big bulk count string");
        }
        scan_pos_ = data.size();
        bytes_hint_ = 1;
        return Outcome::kIncomplete;
      }
      if (cr + 1 >= data.size()) {
        scan_pos_ = cr;
        bytes_hint_ = 1;
        return Outcome::kIncomplete;
      }
      if (data[pos_] != '$') {
        std::string text = "Protocol error: expected '$', got '";
        // Redis formats with %c into a C string: a NUL byte ends the message right there.
        if (data[pos_] != '\0') {
          text.push_back(data[pos_]);
          text.push_back('\'');
        }
        return fail(std::move(text));
      }
      int64_t len = 0;
      const bool number = parse_i64(data.substr(pos_ + 1, cr - pos_ - 1), &len);
      if (!number || len < 0 || static_cast<uint64_t>(len) > quick_bulk_len_) {
        if (!number || len < 0 || static_cast<uint64_t>(len) > max_bulk_len()) {
          return fail("Protocol error: invalid bulk length");
        }
        if (auth_required()) return fail("Protocol error: unauthenticated bulk length");
      }
      bulk_len_ = len;
      pos_ = cr + 2;
      scan_pos_ = pos_;
    }
    // A bulk is taken whole once its bytes and the two after it (not checked, as in Redis) are in.
    const size_t need = static_cast<size_t>(bulk_len_) + 2;
    if (data.size() - pos_ < need) {
      bytes_hint_ = need - (data.size() - pos_);
      return Outcome::kIncomplete;
    }
    arg_spans_.emplace_back(pos_, static_cast<size_t>(bulk_len_));
    pos_ += need;
    scan_pos_ = pos_;
    bulk_len_ = -1;
  }

  argv->clear();
  if (supplied_count_ == 0) {
    for (const auto& [offset, length] : arg_spans_) argv->push_back(data.substr(offset, length));
  } else {
    for (const auto& [offset, length] : arg_spans_) {
      if (offset & kStorageTag) {
        argv->push_back(supplied_[offset & ~kStorageTag]);
      } else {
        argv->push_back(data.substr(offset, length));
      }
    }
  }
  *consumed = pos_;
  reset();
  return Outcome::kCommand;
}

RequestParser::Outcome RequestParser::parse_inline(std::string_view data,
                                                   std::vector<std::string_view>* argv,
                                                   size_t* consumed) {
  size_t newline = find_byte(data, scan_pos_, '\n');
  if (newline == std::string_view::npos) {
    if (data.size() > limits_.max_inline_len) {
      return fail("Protocol error: too big inline request");
    }
    scan_pos_ = data.size();
    bytes_hint_ = 1;
    return Outcome::kIncomplete;
  }
  size_t line_end = newline;
  if (line_end > 0 && data[line_end - 1] == '\r') --line_end;
  std::string_view line = data.substr(0, line_end);
  // sdssplitargs reads a C string: the line ends at its first NUL byte.
  if (size_t nul = find_byte(line, 0, '\0'); nul != std::string_view::npos) {
    line = line.substr(0, nul);
  }

  arg_spans_.clear();
  size_t storage_used = 0;
  size_t p = 0;
  const size_t n = line.size();
  while (true) {
    while (p < n && is_c_space(line[p])) ++p;
    if (p >= n) break;

    // A token stays a view into `data` unless it holds a quote, which forces unescaping.
    const size_t start = p;
    while (p < n && !ends_bare_token(line[p]) && line[p] != '"' && line[p] != '\'') ++p;
    if (p >= n || ends_bare_token(line[p])) {
      arg_spans_.emplace_back(start, p - start);
      if (p < n) ++p;
      continue;
    }
    if (storage_used == inline_storage_.size()) inline_storage_.emplace_back();
    std::string& owned = inline_storage_[storage_used++];
    owned.assign(line.substr(start, p - start));
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      const char c = p < n ? line[p] : '\0';
      const char next = p + 1 < n ? line[p + 1] : '\0';
      if (in_double) {
        if (c == '\\' && next == 'x' && p + 3 < n && is_hex_digit(line[p + 2]) &&
            is_hex_digit(line[p + 3])) {
          owned.push_back(static_cast<char>(hex_value(line[p + 2]) * 16 + hex_value(line[p + 3])));
          p += 3;
        } else if (c == '\\' && next != '\0') {
          ++p;
          owned.push_back(unescape(line[p]));
        } else if (c == '"') {
          // A closing quote must be followed by a blank or the end of the line.
          if (next != '\0' && !is_c_space(next)) {
            return fail("Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else if (c == '\0') {
          return fail("Protocol error: unbalanced quotes in request");
        } else {
          owned.push_back(c);
        }
      } else if (in_single) {
        if (c == '\\' && next == '\'') {
          ++p;
          owned.push_back('\'');
        } else if (c == '\'') {
          if (next != '\0' && !is_c_space(next)) {
            return fail("Protocol error: unbalanced quotes in request");
          }
          done = true;
        } else if (c == '\0') {
          return fail("Protocol error: unbalanced quotes in request");
        } else {
          owned.push_back(c);
        }
      } else if (c == '\0' || ends_bare_token(c)) {
        done = true;
      } else if (c == '"') {
        in_double = true;
      } else if (c == '\'') {
        in_single = true;
      } else {
        owned.push_back(c);
      }
      if (p < n) ++p;
    }
    arg_spans_.emplace_back(kStorageTag | (storage_used - 1), 0);
  }

  // Views are taken only now: growing inline_storage_ above may have moved its strings.
  argv->clear();
  for (const auto& [offset, length] : arg_spans_) {
    if (offset & kStorageTag) {
      argv->push_back(inline_storage_[offset & ~kStorageTag]);
    } else {
      argv->push_back(data.substr(offset, length));
    }
  }
  *consumed = newline + 1;
  reset();
  return Outcome::kCommand;
}

}  // namespace sluice::wire::resp
