// Stream DUMP payloads (format in rdb_stream.h).
#include "broker/kv/rdb_stream.h"

#include <algorithm>

#include "broker/kv/rdb_blobs.h"
#include "wire/rdb_format.h"

namespace sluice::kv {
namespace {

constexpr uint8_t kRdbStreamListpacks2 = 19;
constexpr int64_t kFlagSameFields = 2;
// Redis's defaults for stream-node-max-entries and stream-node-max-bytes.
constexpr size_t kNodeMaxEntries = 100;
constexpr size_t kNodeMaxBytes = 4096;

std::string raw_id(wire::StreamId id) {
  std::string out;
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(id.ms >> (8 * i)));
  for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(id.seq >> (8 * i)));
  return out;
}

void put_time(std::string& out, int64_t ms) {
  for (int i = 0; i < 8; ++i)
    out.push_back(static_cast<char>(static_cast<uint64_t>(ms) >> (8 * i)));
}

void put_id(std::string& out, wire::StreamId id) {
  wire::rdb::put_length(out, id.ms);
  wire::rdb::put_length(out, id.seq);
}

bool same_fields(const RdbStream::Entry& e, const RdbStream::Entry& master) {
  if (e.fields.size() != master.fields.size()) return false;
  for (size_t i = 0; i < e.fields.size(); i += 2) {
    if (e.fields[i] != master.fields[i]) return false;
  }
  return true;
}

// One node: entries [from, to) with entries[from] as the master entry.
std::string node_listpack(const std::vector<RdbStream::Entry>& entries, size_t from, size_t to) {
  const RdbStream::Entry& master = entries[from];
  const auto nfields = static_cast<int64_t>(master.fields.size() / 2);
  rdb_blobs::ListpackWriter lp;
  lp.add_int(static_cast<int64_t>(to - from));
  lp.add_int(0);
  lp.add_int(nfields);
  for (size_t i = 0; i < master.fields.size(); i += 2) lp.add(master.fields[i]);
  lp.add_int(0);
  for (size_t k = from; k < to; ++k) {
    const RdbStream::Entry& e = entries[k];
    const bool same = same_fields(e, master);
    const auto n = static_cast<int64_t>(e.fields.size() / 2);
    lp.add_int(same ? kFlagSameFields : 0);
    lp.add_int(static_cast<int64_t>(e.id.ms - master.id.ms));
    lp.add_int(static_cast<int64_t>(e.id.seq - master.id.seq));
    if (same) {
      for (size_t i = 1; i < e.fields.size(); i += 2) lp.add(e.fields[i]);
      lp.add_int(n + 3);
    } else {
      lp.add_int(n);
      for (const std::string& f : e.fields) lp.add(f);
      lp.add_int(2 * n + 4);
    }
  }
  return lp.finish();
}

}  // namespace

std::string rdb_dump_stream(const RdbStream& s) {
  std::vector<std::pair<wire::StreamId, std::string>> nodes;
  size_t from = 0;
  while (from < s.entries.size()) {
    size_t to = from;
    size_t bytes = 0;
    while (to < s.entries.size() && to - from < kNodeMaxEntries &&
           (to == from || bytes < kNodeMaxBytes)) {
      for (const std::string& f : s.entries[to].fields) bytes += f.size() + 2;
      ++to;
    }
    nodes.emplace_back(s.entries[from].id, node_listpack(s.entries, from, to));
    from = to;
  }
  std::string out;
  out.push_back(static_cast<char>(kRdbStreamListpacks2));
  wire::rdb::put_length(out, nodes.size());
  for (const auto& [master_id, lp] : nodes) {
    wire::rdb::put_string(out, raw_id(master_id));
    wire::rdb::put_string(out, lp);
  }
  wire::rdb::put_length(out, s.length);
  put_id(out, s.last_id);
  put_id(out, s.first_id);
  put_id(out, s.max_deleted_id);
  wire::rdb::put_length(out, s.entries_added);
  wire::rdb::put_length(out, s.groups.size());
  for (const RdbStream::Group& g : s.groups) {
    wire::rdb::put_string(out, g.name);
    put_id(out, g.last_delivered_id);
    wire::rdb::put_length(out, static_cast<uint64_t>(g.entries_read));
    wire::rdb::put_length(out, g.pel.size());
    for (const RdbStream::Pending& p : g.pel) {
      out.append(raw_id(p.id));
      put_time(out, p.delivery_time_ms);
      wire::rdb::put_length(out, p.delivery_count);
    }
    wire::rdb::put_length(out, g.consumers.size());
    for (const RdbStream::Consumer& c : g.consumers) {
      wire::rdb::put_string(out, c.name);
      put_time(out, c.seen_time_ms);
      wire::rdb::put_length(out, c.pending.size());
      for (wire::StreamId id : c.pending) out.append(raw_id(id));
    }
  }
  wire::rdb::seal_payload(out);
  return out;
}

}  // namespace sluice::kv
