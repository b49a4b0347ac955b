// Prometheus text exposition: label escaping, number formatting and family layout.
#include "broker/commands/prometheus_text.h"

#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <string>

namespace sluice::commands::prometheus {
namespace {

TEST_SUITE("commands.prometheus_text") {
  TEST_CASE("backslash, double quote and line feed are escaped in label values") {
    CHECK(escape_label_value("plain") == "plain");
    CHECK(escape_label_value("a\\b") == "a\\\\b");
    CHECK(escape_label_value("say \"hi\"") == "say \\\"hi\\\"");
    CHECK(escape_label_value("two\nlines") == "two\\nlines");
    CHECK(escape_label_value("\\\"\n") == "\\\\\\\"\\n");
    CHECK(escape_label_value("tab\tand\rcr") == "tab\tand\rcr");
    CHECK(escape_label_value("") == "");
  }

  TEST_CASE("valid UTF-8 is kept and each byte of invalid UTF-8 becomes U+FFFD") {
    CHECK(escape_label_value("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80") ==
          "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    const std::string fffd = "\xef\xbf\xbd";
    CHECK(escape_label_value("a\xff"
                             "b") == "a" + fffd + "b");
    CHECK(escape_label_value("\xc3") == fffd);                        // truncated sequence
    CHECK(escape_label_value("\xc0\xaf") == fffd + fffd);             // overlong '/'
    CHECK(escape_label_value("\xed\xa0\x80") == fffd + fffd + fffd);  // surrogate
    CHECK(escape_label_value("\xf4\x90\x80\x80") == fffd + fffd + fffd + fffd);  // > U+10FFFF
    CHECK(escape_label_value(std::string("n\0l", 3)) == std::string("n\0l", 3));
  }

  TEST_CASE("values are written as Prometheus parses them") {
    CHECK(format_value(int64_t{-5}) == "-5");
    CHECK(format_value(uint64_t{18446744073709551615ull}) == "18446744073709551615");
    CHECK(format_value(0.0) == "0");
    CHECK(format_value(2.5) == "2.5");
    CHECK(format_value(0.001) == "0.001");
    CHECK(format_value(1e20) == "1e+20");
    CHECK(format_value(std::numeric_limits<double>::quiet_NaN()) == "NaN");
    CHECK(format_value(std::numeric_limits<double>::infinity()) == "+Inf");
    CHECK(format_value(-std::numeric_limits<double>::infinity()) == "-Inf");
  }

  TEST_CASE("a family writes HELP and TYPE once, then its samples with labels in order") {
    Family f("sluice_group_pending", MetricType::kGauge, "Pending entries.\nPer \\ group.");
    f.add({{"db", "0"}, {"stream", "s\"1"}, {"group", "g"}}, uint64_t{3});
    f.add({{"db", "1"}, {"stream", "t"}, {"group", "h\n"}}, -1);
    CHECK(f.samples() == 2);
    std::string out;
    f.append_to(&out);
    CHECK(out ==
          "# HELP sluice_group_pending Pending entries.\\nPer \\\\ group.\n"
          "# TYPE sluice_group_pending gauge\n"
          "sluice_group_pending{db=\"0\",stream=\"s\\\"1\",group=\"g\"} 3\n"
          "sluice_group_pending{db=\"1\",stream=\"t\",group=\"h\\n\"} -1\n");
  }

  TEST_CASE("a counter without labels, and a family without samples still announces itself") {
    Family c("sluice_commands_processed_total", MetricType::kCounter, "Commands.");
    c.add(uint64_t{42});
    Family empty("sluice_group_lag", MetricType::kGauge, "Lag.");
    std::string out;
    c.append_to(&out);
    empty.append_to(&out);
    CHECK(out ==
          "# HELP sluice_commands_processed_total Commands.\n"
          "# TYPE sluice_commands_processed_total counter\n"
          "sluice_commands_processed_total 42\n"
          "# HELP sluice_group_lag Lag.\n"
          "# TYPE sluice_group_lag gauge\n");
  }
}

}  // namespace
}  // namespace sluice::commands::prometheus
