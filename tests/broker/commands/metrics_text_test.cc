// render_metrics over a real broker: the exposition is well formed (each family announced once,
// its samples together), stream/group/consumer figures match XINFO, and max-series truncates.
#include "broker/commands/metrics_text.h"

#include <doctest/doctest.h>

#include <set>
#include <sstream>
#include <string>

#include "broker/stream/stream.h"
#include "tests/broker/kv/kv_test_util.h"

namespace sluice::commands {
namespace {

using kv::testing::KvFixture;

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

bool has_sample(const std::string& text, const std::string& series) {
  return ("\n" + text).find("\n" + series + " ") != std::string::npos;
}

// Every sample belongs to the family announced by the HELP and TYPE lines before it, and no
// family is announced twice (the text format wants each family's samples together).
void check_well_formed(const std::string& text) {
  REQUIRE(!text.empty());
  REQUIRE(text.back() == '\n');
  std::istringstream in(text);
  std::string line, family;
  std::set<std::string> seen;
  while (std::getline(in, line)) {
    CAPTURE(line);
    if (line.starts_with("# HELP ")) {
      family = line.substr(7, line.find(' ', 7) - 7);
      CHECK(seen.insert(family).second);
      CHECK(family.starts_with("sluice_"));
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      CHECK(line.substr(7, family.size() + 1) == family + " ");
      std::string type = line.substr(8 + family.size());
      CHECK((type == "gauge" || type == "counter"));
      continue;
    }
    std::string name = line.substr(0, line.find_first_of("{ "));
    CHECK(name == family);
  }
}

// The seen time of `consumer`, to compute the exact idle time render_metrics reports.
int64_t seen_time_ms(KvFixture& f, const std::string& key, const std::string& group,
                     const std::string& consumer) {
  auto* s = static_cast<stream::Stream*>(f.broker().db(0).find_raw(key));
  REQUIRE(s != nullptr);
  return s->groups.at(group)->consumers.at(consumer)->seen_time_ms;
}

TEST_SUITE("commands.metrics_text") {
  TEST_CASE("group lag, pending and consumer figures match what XINFO reports") {
    KvFixture f;
    f.run({"CONFIG", "RESETSTAT"});
    for (const char* id : {"1-1", "2-1", "3-1", "4-1", "5-1"}) f.run({"XADD", "s", id, "f", "v"});
    REQUIRE(f.run({"XGROUP", "CREATE", "s", "g", "0"}) == "+OK\r\n");
    f.run({"XREADGROUP", "GROUP", "g", "alice", "COUNT", "2", "STREAMS", "s", ">"});
    f.run({"XREADGROUP", "GROUP", "g", "bob", "COUNT", "1", "STREAMS", "s", ">"});
    f.run({"XACK", "s", "g", "1-1"});
    f.run({"XGROUP", "CREATE", "s", "late", "$"});
    int64_t now = seen_time_ms(f, "s", "g", "alice") + 2500;
    std::string text = render_metrics(f.broker(), now);
    check_well_formed(text);
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"s\"} 5"));
    CHECK(has_line(text, "sluice_stream_last_id_ms{db=\"0\",stream=\"s\"} 5"));
    CHECK(has_line(text, "sluice_stream_entries_added_total{db=\"0\",stream=\"s\"} 5"));
    CHECK(has_line(text, "sluice_group_lag{db=\"0\",stream=\"s\",group=\"g\"} 2"));
    CHECK(has_line(text, "sluice_group_pending{db=\"0\",stream=\"s\",group=\"g\"} 2"));
    CHECK(has_line(text, "sluice_group_consumers{db=\"0\",stream=\"s\",group=\"g\"} 2"));
    CHECK(has_line(text, "sluice_group_last_delivered_id_ms{db=\"0\",stream=\"s\",group=\"g\"} 3"));
    CHECK(has_line(text, "sluice_group_lag{db=\"0\",stream=\"s\",group=\"late\"} 0"));
    CHECK(has_line(text, "sluice_group_consumers{db=\"0\",stream=\"s\",group=\"late\"} 0"));
    CHECK(has_line(
        text, "sluice_consumer_pending{db=\"0\",stream=\"s\",group=\"g\",consumer=\"alice\"} 1"));
    CHECK(has_line(
        text, "sluice_consumer_pending{db=\"0\",stream=\"s\",group=\"g\",consumer=\"bob\"} 1"));
    CHECK(has_line(
        text,
        "sluice_consumer_idle_seconds{db=\"0\",stream=\"s\",group=\"g\",consumer=\"alice\"} 2.5"));
    CHECK(has_line(text, "sluice_streams 1"));
    CHECK(has_line(text, "sluice_stream_entries 5"));
    CHECK(has_line(text, "sluice_stream_groups 2"));
    CHECK(has_line(text, "sluice_keys{db=\"0\"} 1"));
    CHECK(has_line(text, "sluice_commands_total{cmd=\"xadd\"} 5"));
    CHECK(has_line(text, "sluice_commands_total{cmd=\"xreadgroup\"} 2"));
    CHECK(has_line(text, "sluice_commands_total{cmd=\"xgroup|create\"} 2"));
    CHECK(has_sample(text, "sluice_commands_usec_total{cmd=\"xadd\"}"));
    CHECK(has_line(text, "sluice_metrics_truncated 0"));
  }

  TEST_CASE("lag is left out when a deletion after the group's cursor makes it unknowable") {
    KvFixture f;
    for (const char* id : {"1-1", "2-1", "3-1", "4-1"}) f.run({"XADD", "s", id, "f", "v"});
    f.run({"XGROUP", "CREATE", "s", "g", "0"});
    f.run({"XREADGROUP", "GROUP", "g", "c", "COUNT", "1", "STREAMS", "s", ">"});
    f.run({"XDEL", "s", "3-1"});
    REQUIRE(f.run({"XINFO", "GROUPS", "s"}).find("$3\r\nlag\r\n$-1\r\n") != std::string::npos);
    std::string text = render_metrics(f.broker(), 0);
    check_well_formed(text);
    CHECK(!has_sample(text, "sluice_group_lag{db=\"0\",stream=\"s\",group=\"g\"}"));
    CHECK(has_line(text, "sluice_group_pending{db=\"0\",stream=\"s\",group=\"g\"} 1"));
    CHECK(has_line(text, "# TYPE sluice_group_lag gauge"));
  }

  TEST_CASE("errors are counted per prefix and keys per non-empty database") {
    KvFixture f;
    f.run({"CONFIG", "RESETSTAT"});
    f.run({"SET", "k", "v"});
    f.run({"XADD", "k", "*", "f", "v"});
    f.run({"XADD", "k", "*", "f", "v"});
    f.run({"XGROUP", "CREATE", "nosuch", "g", "0"});
    f.run({"SELECT", "3"});
    f.run({"SET", "a", "1", "EX", "100"});
    f.run({"SET", "b", "1"});
    std::string text = render_metrics(f.broker(), 0);
    check_well_formed(text);
    CHECK(has_line(text, "sluice_errors_total{prefix=\"WRONGTYPE\"} 2"));
    CHECK(has_line(text, "sluice_errors_total{prefix=\"ERR\"} 1"));
    CHECK(has_line(text, "sluice_error_replies_total 3"));
    CHECK(has_line(text, "sluice_commands_failed_total{cmd=\"xadd\"} 2"));
    CHECK(has_line(text, "sluice_keys{db=\"0\"} 1"));
    CHECK(has_line(text, "sluice_keys{db=\"3\"} 2"));
    CHECK(has_line(text, "sluice_keys_with_expiry{db=\"3\"} 1"));
    CHECK(!has_sample(text, "sluice_keys{db=\"1\"}"));
    CHECK(has_line(text, "sluice_streams 0"));
  }

  TEST_CASE("stream, group and consumer names are escaped as label values") {
    KvFixture f;
    f.run({"XADD", "we\"ird\\key\nx", "1-1", "f", "v"});
    f.run({"XGROUP", "CREATE", "we\"ird\\key\nx", "g\"", "0"});
    f.run({"XREADGROUP", "GROUP", "g\"", "c\n", "STREAMS", "we\"ird\\key\nx", ">"});
    std::string text = render_metrics(f.broker(), 0);
    check_well_formed(text);
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"we\\\"ird\\\\key\\nx\"} 1"));
    CHECK(has_line(text,
                   "sluice_consumer_pending{db=\"0\",stream=\"we\\\"ird\\\\key\\nx\","
                   "group=\"g\\\"\",consumer=\"c\\n\"} 1"));
  }

  TEST_CASE("metrics-max-series keeps whole streams in key order and flags the truncation") {
    KvFixture f;
    for (const char* key : {"c", "a", "b"}) {
      f.run({"XADD", key, "1-1", "f", "v"});
      f.run({"XGROUP", "CREATE", key, "g", "0"});
    }
    // A stream takes 3 samples, a group with a known lag 4: two whole streams fit in 14.
    f.config().metrics_max_series = 14;
    std::string text = render_metrics(f.broker(), 0);
    check_well_formed(text);
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"a\"} 1"));
    CHECK(has_line(text, "sluice_group_lag{db=\"0\",stream=\"b\",group=\"g\"} 1"));
    CHECK(!has_sample(text, "sluice_stream_length{db=\"0\",stream=\"c\"}"));
    CHECK(has_line(text, "sluice_streams 3"));
    CHECK(has_line(text, "sluice_metrics_truncated 1"));

    f.config().metrics_max_series = 13;  // b's group no longer fits; b itself does
    text = render_metrics(f.broker(), 0);
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"b\"} 1"));
    CHECK(!has_sample(text, "sluice_group_pending{db=\"0\",stream=\"b\",group=\"g\"}"));
    CHECK(has_line(text, "sluice_metrics_truncated 1"));

    f.config().metrics_max_series = 0;
    text = render_metrics(f.broker(), 0);
    check_well_formed(text);
    CHECK(!has_sample(text, "sluice_stream_length{db=\"0\",stream=\"a\"}"));
    CHECK(has_line(text, "sluice_metrics_truncated 1"));

    f.config().metrics_max_series = 21;
    text = render_metrics(f.broker(), 0);
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"c\"} 1"));
    CHECK(has_line(text, "sluice_metrics_truncated 0"));
  }

  TEST_CASE("a stream whose TTL has passed is not listed") {
    KvFixture f;
    f.run({"XADD", "gone", "1-1", "f", "v"});
    f.run({"XADD", "kept", "1-1", "f", "v"});
    f.run({"PEXPIRE", "gone", "100000"});
    int64_t expire_at = f.broker().db(0).find_raw("gone")->expire_at_ms;
    std::string text = render_metrics(f.broker(), expire_at);
    CHECK(!has_sample(text, "sluice_stream_length{db=\"0\",stream=\"gone\"}"));
    CHECK(has_line(text, "sluice_stream_length{db=\"0\",stream=\"kept\"} 1"));
    CHECK(f.broker().db(0).find_raw("gone") != nullptr);  // rendering expired nothing
  }
}

}  // namespace
}  // namespace sluice::commands
