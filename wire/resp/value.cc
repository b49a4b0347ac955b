// Value::debug_string: renders a reply the way redis-cli prints it on a terminal.
#include "wire/resp/value.h"

#include <charconv>
#include <cstdio>

namespace sluice::wire::resp {
namespace {

// sdscatrepr: a double-quoted string with C escapes and \xHH for other unprintable bytes.
void append_quoted(std::string* out, std::string_view bytes) {
  out->push_back('"');
  for (char c : bytes) {
    switch (c) {
      case '\\':
        out->append("\\\\");
        break;
      case '"':
        out->append("\\\"");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\a':
        out->append("\\a");
        break;
      case '\b':
        out->append("\\b");
        break;
      default: {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
          out->push_back(c);
        } else {
          char hex[5];
          std::snprintf(hex, sizeof(hex), "\\x%02x", byte);
          out->append(hex, 4);
        }
      }
    }
  }
  out->push_back('"');
}

void render(const Value& v, const std::string& prefix, std::string* out);

void render_aggregate(const Value& v, const std::string& prefix, std::string* out) {
  if (v.elems.empty()) {
    switch (v.type) {
      case Value::Type::kMap:
        out->append("(empty hash)\n");
        break;
      case Value::Type::kSet:
        out->append("(empty set)\n");
        break;
      case Value::Type::kPush:
        out->append("(empty push)\n");
        break;
      default:
        out->append("(empty array)\n");
        break;
    }
    return;
  }
  const bool is_map = v.type == Value::Type::kMap;
  const size_t entries = is_map ? v.elems.size() / 2 : v.elems.size();
  size_t index_width = 0;
  for (size_t i = entries;; i /= 10) {
    ++index_width;
    if (i < 10) break;
  }
  const char separator = is_map ? '#' : v.type == Value::Type::kSet ? '~' : ')';
  // Nested entries are indented past this level's "N) " so their numbers line up.
  const std::string nested_prefix = prefix + std::string(index_width + 2, ' ');
  const size_t step = is_map ? 2 : 1;
  for (size_t i = 0, entry = 1; i < v.elems.size(); i += step, ++entry) {
    if (i != 0) out->append(prefix);
    std::string number = std::to_string(entry);
    out->append(index_width - number.size(), ' ');
    out->append(number);
    out->push_back(separator);
    out->push_back(' ');
    render(v.elems[i], nested_prefix, out);
    if (is_map && i + 1 < v.elems.size()) {
      out->pop_back();  // the key's newline
      out->append(" => ");
      render(v.elems[i + 1], nested_prefix, out);
    }
  }
}

void render(const Value& v, const std::string& prefix, std::string* out) {
  switch (v.type) {
    case Value::Type::kSimple:
      out->append(v.str);
      break;
    case Value::Type::kError:
      out->append("(error) ");
      out->append(v.str);
      break;
    case Value::Type::kInteger:
      out->append("(integer) ");
      out->append(std::to_string(v.integer));
      break;
    case Value::Type::kBulk:
      append_quoted(out, v.str);
      break;
    case Value::Type::kNull:
      out->append("(nil)");
      break;
    case Value::Type::kDouble: {
      char buf[64];
      auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v.dbl);
      out->append("(double) ");
      out->append(buf, static_cast<size_t>(end - buf));
      break;
    }
    case Value::Type::kBoolean:
      out->append(v.integer ? "(true)" : "(false)");
      break;
    case Value::Type::kVerbatim:
      out->append(v.str);
      break;
    case Value::Type::kBigNumber:
      out->append("(big number) ");
      out->append(v.str);
      break;
    case Value::Type::kArray:
    case Value::Type::kMap:
    case Value::Type::kSet:
    case Value::Type::kPush:
      render_aggregate(v, prefix, out);
      return;
  }
  out->push_back('\n');
}

}  // namespace

std::string Value::debug_string() const {
  std::string out;
  render(*this, "", &out);
  if (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace sluice::wire::resp
