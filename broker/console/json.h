// JSON for the web console's API (console_api.h): a streaming writer and a small parser for the
// bodies of admin requests. Strings are bytes: the writer passes valid UTF-8 through, escapes
// controls, quotes and backslashes, and writes every byte that is not part of a valid UTF-8
// sequence as \u00XX (so binary keys and values stay visible and the output is valid JSON); the
// parser decodes \uXXXX escapes (surrogate pairs included) to UTF-8.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::console {

// Appends `s` as a JSON string literal, quotes included.
void append_json_string(std::string* out, std::string_view s);

// Writes one JSON value into a caller's buffer; commas and colons are placed automatically.
// Inside an object, call key() before each value.
class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  void begin_object();
  void end_object();
  void begin_array();
  void end_array();
  void key(std::string_view k);
  void string(std::string_view s);
  void integer(int64_t v);
  void uinteger(uint64_t v);
  void number(double v);  // finite: shortest round-trip form; NaN and infinities: null
  void boolean(bool v);
  void null();
  // A value already in JSON form.
  void raw(std::string_view json);

  // Shorthands for `key(k)` followed by a value.
  void field(std::string_view k, std::string_view v) { key(k), string(v); }
  void field(std::string_view k, const char* v) { key(k), string(v); }
  void field(std::string_view k, int64_t v) { key(k), integer(v); }
  void field(std::string_view k, uint64_t v) { key(k), uinteger(v); }
  void field(std::string_view k, int v) { key(k), integer(v); }
  void field(std::string_view k, bool v) { key(k), boolean(v); }

  std::string* buffer() { return out_; }

 private:
  void before_value();

  std::string* out_;
  // One flag per open container: whether it already holds an element.
  std::vector<bool> nonempty_;
  bool after_key_ = false;
};

// A parsed JSON value (request bodies: small, depth-limited).
struct JsonValue {
  enum class Type : uint8_t { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;                                        // string; number: its literal text
  std::vector<JsonValue> items;                            // array
  std::vector<std::pair<std::string, JsonValue>> members;  // object, in document order

  // The member named `name` (the last one if repeated), or null.
  const JsonValue* find(std::string_view name) const;
  bool is_string() const { return type == Type::kString; }
};

inline constexpr size_t kMaxJsonDepth = 32;

// Parses a whole document (surrounding whitespace allowed). Returns false with *error set on
// malformed input, nesting deeper than kMaxJsonDepth, or trailing bytes.
bool parse_json(std::string_view text, JsonValue* out, std::string* error);

}  // namespace sluice::console
