#include "broker/commands/prometheus_text.h"

#include <charconv>
#include <cmath>

namespace sluice::commands::prometheus {
namespace {

// Length of the well-formed UTF-8 sequence at the start of `s`, or 0 if it is not one
// (overlong forms, surrogates and code points above U+10FFFF are not well-formed).
size_t utf8_sequence_length(std::string_view s) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  auto continuation = [&](size_t i) { return i < s.size() && (byte(i) & 0xC0) == 0x80; };
  unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return continuation(1) ? 2 : 0;
  if (lead >= 0xE0 && lead <= 0xEF) {
    if (!continuation(1) || !continuation(2)) return 0;
    if (lead == 0xE0 && byte(1) < 0xA0) return 0;   // overlong
    if (lead == 0xED && byte(1) >= 0xA0) return 0;  // UTF-16 surrogates
    return 3;
  }
  if (lead >= 0xF0 && lead <= 0xF4) {
    if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
    if (lead == 0xF0 && byte(1) < 0x90) return 0;   // overlong
    if (lead == 0xF4 && byte(1) >= 0x90) return 0;  // above U+10FFFF
    return 4;
  }
  return 0;
}

void append_help(std::string* out, std::string_view help) {
  for (char ch : help) {
    if (ch == '\\') {
      *out += "\\\\";
    } else if (ch == '\n') {
      *out += "\\n";
    } else {
      *out += ch;
    }
  }
}

}  // namespace

void append_label_value(std::string* out, std::string_view value) {
  size_t i = 0;
  while (i < value.size()) {
    char ch = value[i];
    if (ch == '\\') {
      *out += "\\\\";
    } else if (ch == '"') {
      *out += "\\\"";
    } else if (ch == '\n') {
      *out += "\\n";
    } else {
      size_t n = utf8_sequence_length(value.substr(i));
      if (n == 0) {
        *out += "\xEF\xBF\xBD";  // U+FFFD REPLACEMENT CHARACTER, one per bad byte
        ++i;
      } else {
        out->append(value.substr(i, n));
        i += n;
      }
      continue;
    }
    ++i;
  }
}

std::string escape_label_value(std::string_view value) {
  std::string out;
  append_label_value(&out, value);
  return out;
}

std::string format_value(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return std::string(buf, end);
}

std::string format_value(int64_t value) { return std::to_string(value); }

std::string format_value(uint64_t value) { return std::to_string(value); }

Family::Family(std::string_view name, MetricType type, std::string_view help) : name_(name) {
  header_ = "# HELP ";
  header_ += name;
  header_ += ' ';
  append_help(&header_, help);
  header_ += "\n# TYPE ";
  header_ += name;
  header_ += type == MetricType::kCounter ? " counter\n" : " gauge\n";
}

void Family::begin_sample(std::initializer_list<Label> labels) {
  ++samples_;
  body_ += name_;
  if (labels.size() != 0) {
    body_ += '{';
    bool first = true;
    for (const Label& label : labels) {
      if (!first) body_ += ',';
      first = false;
      body_ += label.name;
      body_ += "=\"";
      append_label_value(&body_, label.value);
      body_ += '"';
    }
    body_ += '}';
  }
  body_ += ' ';
}

void Family::append_to(std::string* out) const {
  *out += header_;
  *out += body_;
}

}  // namespace sluice::commands::prometheus
