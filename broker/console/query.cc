#include "broker/console/query.h"

namespace sluice::console {
namespace {

int hex_digit(char ch) {
  if (ch >= '0' && ch <= '9') return ch - '0';
  if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
  if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
  return -1;
}

}  // namespace

bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  out->reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char ch = in[i];
    if (ch == '+') {
      out->push_back(' ');
    } else if (ch == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_digit(in[i + 1]);
      int lo = hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      out->push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out->push_back(ch);
    }
  }
  return true;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    std::string key;
    if (!percent_decode(pair.substr(0, eq), &key) || key != name) continue;
    std::string value;
    if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), &value)) {
      return std::nullopt;
    }
    return value;
  }
  return std::nullopt;
}

}  // namespace sluice::console
