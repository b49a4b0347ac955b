// ReplyParser: a recursive descent over one complete RESP2/RESP3 reply. Partial input is
// detected anywhere in the tree and reported without consuming, so the caller re-parses later.
#include "wire/resp/reply_parser.h"

#include <charconv>
#include <cstring>
#include <limits>

#include "wire/stream_id.h"

namespace sluice::wire::resp {
namespace {

enum class Step { kOk, kIncomplete, kError };

class Reader {
 public:
  Reader(std::string_view data, size_t max_depth, std::string* error)
      : data_(data), max_depth_(max_depth), error_(error) {}

  size_t pos() const { return pos_; }

  Step value(Value* out, size_t depth) {
    std::vector<Value> attributes;
    while (true) {
      if (pos_ >= data_.size()) return Step::kIncomplete;
      if (data_[pos_] != '|') break;
      // An attribute map precedes the value it describes; it counts as one level of nesting.
      if (depth >= max_depth_) return fail("nesting too deep");
      ++pos_;
      int64_t pairs = 0;
      if (Step s = count(&pairs); s != Step::kOk) return s;
      if (pairs < 0 || pairs > std::numeric_limits<int64_t>::max() / 2) {
        return fail("invalid attribute length");
      }
      if (Step s = elements(static_cast<uint64_t>(pairs) * 2, depth + 1, &attributes);
          s != Step::kOk) {
        return s;
      }
    }
    const char type = data_[pos_++];
    Step s = Step::kOk;
    switch (type) {
      case '+':
        s = text_line(Value::Type::kSimple, out);
        break;
      case '-':
        s = text_line(Value::Type::kError, out);
        break;
      case ':':
        s = integer(out);
        break;
      case '$':
        s = blob(Value::Type::kBulk, out);
        break;
      case '!':
        s = blob(Value::Type::kError, out);
        break;
      case '=':
        s = blob(Value::Type::kVerbatim, out);
        break;
      case '_':
        s = null(out);
        break;
      case ',':
        s = dbl(out);
        break;
      case '#':
        s = boolean(out);
        break;
      case '(':
        s = big_number(out);
        break;
      case '*':
        s = aggregate(Value::Type::kArray, out, depth);
        break;
      case '%':
        s = aggregate(Value::Type::kMap, out, depth);
        break;
      case '~':
        s = aggregate(Value::Type::kSet, out, depth);
        break;
      case '>':
        s = aggregate(Value::Type::kPush, out, depth);
        break;
      default: {
        std::string text = "Protocol error, got '";
        text.push_back(type);
        text += "' as reply type byte";
        return fail(std::move(text));
      }
    }
    if (s == Step::kOk) out->attributes = std::move(attributes);
    return s;
  }

 private:
  Step fail(std::string text) {
    *error_ = std::move(text);
    return Step::kError;
  }

  // The rest of the current line, without its CRLF; pos_ moves past the CRLF.
  Step line(std::string_view* out) {
    if (pos_ >= data_.size()) return Step::kIncomplete;
    const void* hit = std::memchr(data_.data() + pos_, '\r', data_.size() - pos_);
    if (hit == nullptr) return Step::kIncomplete;
    const auto cr = static_cast<size_t>(static_cast<const char*>(hit) - data_.data());
    if (cr + 1 >= data_.size()) return Step::kIncomplete;
    if (data_[cr + 1] != '\n') return fail("expected CRLF after a line");
    *out = data_.substr(pos_, cr - pos_);
    pos_ = cr + 2;
    return Step::kOk;
  }

  Step count(int64_t* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    if (!parse_i64(text, out)) return fail("invalid length");
    return Step::kOk;
  }

  Step text_line(Value::Type type, Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    out->type = type;
    out->str.assign(text);
    return Step::kOk;
  }

  Step integer(Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    if (!parse_i64(text, &out->integer)) return fail("invalid integer");
    out->type = Value::Type::kInteger;
    return Step::kOk;
  }

  Step blob(Value::Type type, Value* out) {
    int64_t len = 0;
    if (Step s = count(&len); s != Step::kOk) return s;
    if (len == -1 && type == Value::Type::kBulk) {
      out->type = Value::Type::kNull;  // RESP2 null bulk
      return Step::kOk;
    }
    if (len < 0) return fail("invalid bulk length");
    const auto n = static_cast<uint64_t>(len);
    if (data_.size() - pos_ < 2 || n > data_.size() - pos_ - 2) return Step::kIncomplete;
    if (data_[pos_ + n] != '\r' || data_[pos_ + n + 1] != '\n') {
      return fail("expected CRLF after bulk data");
    }
    std::string_view bytes = data_.substr(pos_, n);
    pos_ += n + 2;
    if (type == Value::Type::kVerbatim) {
      if (bytes.size() < 4 || bytes[3] != ':') return fail("invalid verbatim string format");
      bytes.remove_prefix(4);
    }
    out->type = type;
    out->str.assign(bytes);
    return Step::kOk;
  }

  Step null(Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    if (!text.empty()) return fail("invalid null");
    out->type = Value::Type::kNull;
    return Step::kOk;
  }

  Step dbl(Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    if (!text.empty() && text[0] == '+') text.remove_prefix(1);
    double value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    // Out-of-range literals still name a double (0 or inf), as strtod would make them.
    if (text.empty() || end != text.data() + text.size() ||
        (ec != std::errc() && ec != std::errc::result_out_of_range)) {
      return fail("invalid double");
    }
    out->type = Value::Type::kDouble;
    out->dbl = value;
    return Step::kOk;
  }

  Step boolean(Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    if (text != "t" && text != "f") return fail("invalid boolean");
    out->type = Value::Type::kBoolean;
    out->integer = text == "t" ? 1 : 0;
    return Step::kOk;
  }

  Step big_number(Value* out) {
    std::string_view text;
    if (Step s = line(&text); s != Step::kOk) return s;
    const size_t digits_from = !text.empty() && (text[0] == '-' || text[0] == '+') ? 1 : 0;
    if (text.size() == digits_from) return fail("invalid big number");
    for (size_t i = digits_from; i < text.size(); ++i) {
      if (text[i] < '0' || text[i] > '9') return fail("invalid big number");
    }
    out->type = Value::Type::kBigNumber;
    out->str.assign(text);
    return Step::kOk;
  }

  Step aggregate(Value::Type type, Value* out, size_t depth) {
    int64_t n = 0;
    if (Step s = count(&n); s != Step::kOk) return s;
    if (n == -1 && type == Value::Type::kArray) {
      out->type = Value::Type::kNull;  // RESP2 null array
      return Step::kOk;
    }
    if (depth >= max_depth_) return fail("nesting too deep");
    if (n < 0 || (type == Value::Type::kMap && n > std::numeric_limits<int64_t>::max() / 2)) {
      return fail("invalid aggregate length");
    }
    const uint64_t elems = static_cast<uint64_t>(n) * (type == Value::Type::kMap ? 2 : 1);
    out->type = type;
    return elements(elems, depth + 1, &out->elems);
  }

  Step elements(uint64_t n, size_t depth, std::vector<Value>* out) {
    // Every element takes at least three bytes, which bounds what is worth reserving.
    const uint64_t plausible = (data_.size() - pos_) / 3;
    out->reserve(out->size() + static_cast<size_t>(n < plausible ? n : plausible));
    for (uint64_t i = 0; i < n; ++i) {
      out->emplace_back();
      if (Step s = value(&out->back(), depth); s != Step::kOk) return s;
    }
    return Step::kOk;
  }

  std::string_view data_;
  size_t pos_ = 0;
  size_t max_depth_;
  std::string* error_;
};

}  // namespace

ReplyParser::Outcome ReplyParser::parse(std::string_view data, Value* out, size_t* consumed) {
  *consumed = 0;
  Reader reader(data, max_depth, &error_);
  Value value;
  switch (reader.value(&value, 0)) {
    case Step::kOk:
      *out = std::move(value);
      *consumed = reader.pos();
      return Outcome::kValue;
    case Step::kIncomplete:
      return Outcome::kIncomplete;
    case Step::kError:
      break;
  }
  return Outcome::kError;
}

}  // namespace sluice::wire::resp
