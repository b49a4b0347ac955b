// ReplyWriter: each reply shape spelled as Redis 7.0's addReply* functions spell it.
#include "wire/resp/reply_writer.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <vector>

namespace sluice::wire::resp {
namespace {

void append_int(std::string* out, int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  out->append(buf, static_cast<size_t>(end - buf));
}

// Appends "<prefix>text\r\n" with CR and LF in text turned into spaces, so a status or error
// built from client input cannot break the reply stream (Redis 7.0 does the same for errors).
void append_line(std::string* out, char prefix, std::string_view text) {
  const size_t start = out->size();
  out->push_back(prefix);
  out->append(text);
  if (text.find_first_of("\r\n") != std::string_view::npos) {
    for (size_t i = start + 1; i < out->size(); ++i) {
      if ((*out)[i] == '\r' || (*out)[i] == '\n') (*out)[i] = ' ';
    }
  }
  out->append("\r\n", 2);
}

}  // namespace

void ReplyWriter::append_header(std::string* out, char type, uint64_t n) {
  char buf[24];
  buf[0] = type;
  auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  end[0] = '\r';
  end[1] = '\n';
  out->append(buf, static_cast<size_t>(end + 2 - buf));
}

void ReplyWriter::append_bulk(std::string* out, std::string_view bytes) {
  append_header(out, '$', bytes.size());
  out->append(bytes);
  out->append("\r\n", 2);
}

void ReplyWriter::simple(std::string_view text) { append_line(out_, '+', text); }

void ReplyWriter::error(std::string_view text) { append_line(out_, '-', text); }

void ReplyWriter::integer(int64_t value) {
  out_->push_back(':');
  append_int(out_, value);
  out_->append("\r\n", 2);
}

void ReplyWriter::bulk(std::string_view bytes) { append_bulk(out_, bytes); }

void ReplyWriter::null() {
  if (resp3()) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("$-1\r\n", 5);
  }
}

void ReplyWriter::null_array() {
  if (resp3()) {
    out_->append("_\r\n", 3);
  } else {
    out_->append("*-1\r\n", 5);
  }
}

void ReplyWriter::array(size_t n) { append_header(out_, '*', n); }

void ReplyWriter::map(size_t pairs) {
  if (resp3()) {
    append_header(out_, '%', pairs);
  } else {
    append_header(out_, '*', uint64_t{pairs} * 2);
  }
}

void ReplyWriter::set(size_t n) { append_header(out_, resp3() ? '~' : '*', n); }

void ReplyWriter::push(size_t n) { append_header(out_, resp3() ? '>' : '*', n); }

void ReplyWriter::dbl(double value) {
  const std::string text = format_double(value);
  if (resp3()) {
    out_->push_back(',');
    out_->append(text);
    out_->append("\r\n", 2);
  } else {
    append_bulk(out_, text);
  }
}

void ReplyWriter::boolean(bool value) {
  if (resp3()) {
    out_->append(value ? "#t\r\n" : "#f\r\n", 4);
  } else {
    out_->append(value ? ":1\r\n" : ":0\r\n", 4);
  }
}

void ReplyWriter::verbatim(std::string_view text, std::string_view format) {
  if (!resp3()) {
    append_bulk(out_, text);
    return;
  }
  // Redis writes exactly three format characters followed by ':'.
  char fmt[3] = {' ', ' ', ' '};
  for (size_t i = 0; i < 3 && i < format.size(); ++i) fmt[i] = format[i];
  append_header(out_, '=', text.size() + 4);
  out_->append(fmt, 3);
  out_->push_back(':');
  out_->append(text);
  out_->append("\r\n", 2);
}

std::string format_double(double value) {
  // Redis 7.0 addReplyDouble: inf spelled explicitly, everything else "%.17g".
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::general, 17);
  return std::string(buf, static_cast<size_t>(end - buf));
}

std::string format_long_double(long double value) {
  // Redis's ld2string in LD_STR_HUMAN mode.
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  if (std::isnan(value)) return "nan";
  char small[128];
  int len = std::snprintf(small, sizeof(small), "%.17Lf", value);
  std::string text;
  if (len >= 0 && static_cast<size_t>(len) < sizeof(small)) {
    text.assign(small, static_cast<size_t>(len));
  } else {
    // Values up to LDBL_MAX print about 4950 characters before the point.
    std::vector<char> big(static_cast<size_t>(len) + 1);
    std::snprintf(big.data(), big.size(), "%.17Lf", value);
    text.assign(big.data(), static_cast<size_t>(len));
  }
  if (text.find('.') != std::string::npos) {
    while (!text.empty() && text.back() == '0') text.pop_back();
    if (!text.empty() && text.back() == '.') text.pop_back();
  }
  if (text == "-0") text = "0";
  return text;
}

}  // namespace sluice::wire::resp
