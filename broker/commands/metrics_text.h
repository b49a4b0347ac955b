// The body of the metrics endpoint (GET /metrics): server, command, error and keyspace figures
// from the same counters INFO reads, and a series per stream, consumer group and consumer, in
// Prometheus text format (prometheus_text.h).
#pragma once

#include <cstdint>
#include <string>

#include "broker/core/broker.h"

namespace sluice::commands {

// Renders every metric family. Per-stream, per-group and per-consumer samples are written in
// (db, key, group, consumer) order until config.metrics_max_series of them are out; a stream,
// group or consumer is written whole or not at all, and sluice_metrics_truncated tells whether
// any was left out. Only reads: nothing expires, nothing is journaled. Streams whose TTL has
// passed are not listed.
std::string render_metrics(core::Broker& broker, int64_t now_ms);

}  // namespace sluice::commands
