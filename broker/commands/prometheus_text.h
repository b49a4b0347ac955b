// Prometheus text exposition format 0.0.4: metric families with their # HELP and # TYPE lines,
// label values escaped, numbers written as Prometheus parses them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace sluice::commands::prometheus {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

enum class MetricType { kCounter, kGauge };

struct Label {
  std::string_view name;  // a constant of the caller's: [a-zA-Z_][a-zA-Z0-9_]*
  std::string_view value;
};

// Appends `value` as the format wants a label value: backslash, double quote and line feed
// become \\, \" and \n, and bytes that are not valid UTF-8 become U+FFFD (keys are
// binary-safe, label values must be UTF-8).
void append_label_value(std::string* out, std::string_view value);
std::string escape_label_value(std::string_view value);

// Sample values: integers exactly, doubles in the shortest form that reads back the same,
// NaN and infinities as "NaN", "+Inf", "-Inf".
std::string format_value(double value);
std::string format_value(int64_t value);
std::string format_value(uint64_t value);

// One metric family: its HELP and TYPE lines and its samples. The format wants a family's
// samples together, so callers that produce several families in one pass (one walk over the
// streams) fill one Family each and append them in turn.
class Family {
 public:
  // `help` is free text (backslash and line feed are escaped).
  Family(std::string_view name, MetricType type, std::string_view help);

  template <typename T>
  void add(std::initializer_list<Label> labels, T value) {
    begin_sample(labels);
    if constexpr (std::is_floating_point_v<T>) {
      body_ += format_value(static_cast<double>(value));
    } else if constexpr (std::is_signed_v<T>) {
      body_ += format_value(static_cast<int64_t>(value));
    } else {
      body_ += format_value(static_cast<uint64_t>(value));
    }
    body_ += '\n';
  }
  template <typename T>
  void add(T value) {
    add({}, value);
  }

  // A whole family of one unlabelled sample, appended to `out`.
  template <typename T>
  static void single(std::string* out, std::string_view name, MetricType type,
                     std::string_view help, T value) {
    Family f(name, type, help);
    f.add(value);
    f.append_to(out);
  }

  size_t samples() const { return samples_; }
  // Appends the HELP and TYPE lines, then every sample (a family without samples still
  // announces itself).
  void append_to(std::string* out) const;

 private:
  void begin_sample(std::initializer_list<Label> labels);

  std::string name_;
  std::string header_;
  std::string body_;
  size_t samples_ = 0;
};

}  // namespace sluice::commands::prometheus
