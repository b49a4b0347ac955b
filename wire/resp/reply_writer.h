// ReplyWriter: appends RESP2 or RESP3 replies to a byte buffer. The one place that knows how a
// reply shape is spelled in each protocol (RESP2 has no maps, sets, doubles, booleans, push or
// a distinct null; they degrade as Redis degrades them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace sluice::wire::resp {

class ReplyWriter {
 public:
  ReplyWriter(std::string* out, int protocol) : out_(out), protocol_(protocol) {}

  int protocol() const { return protocol_; }
  bool resp3() const { return protocol_ >= 3; }
  std::string* buffer() { return out_; }

  void simple(std::string_view text);  // +text
  void ok() { out_->append("+OK\r\n", 5); }
  void error(std::string_view text);  // -text  (text carries its prefix: "ERR ...")
  void integer(int64_t value);        // :value
  void bulk(std::string_view bytes);  // $len bytes
  void null();                        // RESP2 $-1, RESP3 _
  void null_array();                  // RESP2 *-1, RESP3 _
  void array(size_t n);               // *n
  void map(size_t pairs);             // RESP3 %n, RESP2 *2n
  void set(size_t n);                 // RESP3 ~n, RESP2 *n
  void push(size_t n);                // RESP3 >n, RESP2 *n
  void dbl(double value);             // RESP3 ,v; RESP2 bulk, formatted like Redis
  void boolean(bool value);           // RESP3 #t/#f; RESP2 :1/:0
  void verbatim(std::string_view text, std::string_view format = "txt");  // RESP3 =; RESP2 bulk
  void bulk_or_null(const std::string* s) { s ? bulk(*s) : null(); }
  void raw(std::string_view bytes) { out_->append(bytes); }

  // Helpers writing into a caller's buffer without a writer (used for shared frames).
  static void append_bulk(std::string* out, std::string_view bytes);
  static void append_header(std::string* out, char type, uint64_t n);  // "<type><n>\r\n"

 private:
  std::string* out_;
  int protocol_;
};

// Formats a double as Redis 7.0 does for replies ("%.17g", "inf"/"-inf", "nan").
std::string format_double(double value);
// Formats a long double as INCRBYFLOAT / HINCRBYFLOAT do (%.17Lf with trailing zeros removed).
std::string format_long_double(long double value);

}  // namespace sluice::wire::resp
