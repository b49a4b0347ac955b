// Stream DUMP payloads (format in rdb_stream.h).
#include "broker/kv/rdb_stream.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <set>

#include "broker/kv/rdb_blobs.h"
#include "broker/kv/rdb_codec.h"
#include "wire/rdb_format.h"

namespace sluice::kv {
namespace {

constexpr uint8_t kRdbStreamListpacks = 15;
constexpr uint8_t kRdbStreamListpacks2 = 19;
constexpr int64_t kFlagDeleted = 1;
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
  wire::rdb::put_le(out, static_cast<uint64_t>(ms), 8);
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

using wire::rdb::Reader;

bool to_int(const std::string& s, int64_t* v) {
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

bool read_raw_id(Reader& r, wire::StreamId* id) {
  std::string_view raw;
  if (!r.bytes(16, &raw)) return false;
  id->ms = id->seq = 0;
  for (size_t i = 0; i < 8; ++i) id->ms = id->ms << 8 | static_cast<uint8_t>(raw[i]);
  for (size_t i = 8; i < 16; ++i) id->seq = id->seq << 8 | static_cast<uint8_t>(raw[i]);
  return true;
}

bool read_id(Reader& r, wire::StreamId* id) { return r.length(&id->ms) && r.length(&id->seq); }

bool read_time(Reader& r, int64_t* ms) {
  std::string_view raw;
  if (!r.bytes(8, &raw)) return false;
  *ms = static_cast<int64_t>(wire::rdb::get_le(raw, 0, 8));
  return true;
}

// Appends the live entries of one node (master ID, listpack elements) to *out.
bool read_node(wire::StreamId master_id, const std::vector<std::string>& lp,
               std::vector<RdbStream::Entry>* out) {
  size_t at = 0;
  auto next_int = [&](int64_t* v) { return at < lp.size() && to_int(lp[at++], v); };
  int64_t count = 0;
  int64_t deleted = 0;
  int64_t nmaster = 0;
  if (!next_int(&count) || !next_int(&deleted) || !next_int(&nmaster) || nmaster < 0 ||
      static_cast<uint64_t>(nmaster) > lp.size() - at) {
    return false;
  }
  const size_t master_fields = at;
  at += static_cast<size_t>(nmaster);
  int64_t terminator = -1;
  if (!next_int(&terminator) || terminator != 0) return false;
  while (at < lp.size()) {
    int64_t flags = 0;
    int64_t ms_diff = 0;
    int64_t seq_diff = 0;
    if (!next_int(&flags) || !next_int(&ms_diff) || !next_int(&seq_diff)) return false;
    RdbStream::Entry e;
    e.id = {master_id.ms + static_cast<uint64_t>(ms_diff),
            master_id.seq + static_cast<uint64_t>(seq_diff)};
    int64_t n = nmaster;
    const bool same = (flags & kFlagSameFields) != 0;
    if (!same && (!next_int(&n) || n < 0)) return false;
    const uint64_t values = same ? static_cast<uint64_t>(n) : 2 * static_cast<uint64_t>(n);
    if (values > lp.size() - at) return false;
    for (int64_t i = 0; i < n; ++i) {
      if (same) {
        e.fields.push_back(lp[master_fields + static_cast<size_t>(i)]);
        e.fields.push_back(lp[at++]);
      } else {
        e.fields.push_back(lp[at++]);
        e.fields.push_back(lp[at++]);
      }
    }
    int64_t lp_count = 0;
    if (!next_int(&lp_count)) return false;
    if (flags & kFlagDeleted) continue;
    if (e.fields.empty() || e.id.is_zero()) return false;
    if (!out->empty() && !(out->back().id < e.id)) return false;
    out->push_back(std::move(e));
  }
  return true;
}

bool read_groups(Reader& r, bool v2, RdbStream* s) {
  uint64_t ngroups = 0;
  if (!r.length(&ngroups)) return false;
  std::set<std::string, std::less<>> names;
  for (uint64_t i = 0; i < ngroups; ++i) {
    RdbStream::Group g;
    if (!r.string(&g.name) || !names.insert(g.name).second || !read_id(r, &g.last_delivered_id)) {
      return false;
    }
    if (v2) {
      uint64_t entries_read = 0;
      if (!r.length(&entries_read)) return false;
      g.entries_read = static_cast<int64_t>(entries_read);
      if (g.entries_read < -1) return false;
    }
    uint64_t npel = 0;
    if (!r.length(&npel)) return false;
    std::map<wire::StreamId, bool> owned;  // pending ID -> has an owner
    for (uint64_t k = 0; k < npel; ++k) {
      RdbStream::Pending p;
      if (!read_raw_id(r, &p.id) || !read_time(r, &p.delivery_time_ms) ||
          !r.length(&p.delivery_count) || !owned.emplace(p.id, false).second) {
        return false;
      }
      g.pel.push_back(p);
    }
    uint64_t nconsumers = 0;
    if (!r.length(&nconsumers)) return false;
    std::set<std::string, std::less<>> consumer_names;
    for (uint64_t k = 0; k < nconsumers; ++k) {
      RdbStream::Consumer c;
      uint64_t npending = 0;
      if (!r.string(&c.name) || !consumer_names.insert(c.name).second ||
          !read_time(r, &c.seen_time_ms) || !r.length(&npending)) {
        return false;
      }
      for (uint64_t m = 0; m < npending; ++m) {
        wire::StreamId id;
        if (!read_raw_id(r, &id)) return false;
        auto it = owned.find(id);
        if (it == owned.end() || it->second) return false;
        it->second = true;
        c.pending.push_back(id);
      }
      std::sort(c.pending.begin(), c.pending.end());
      g.consumers.push_back(std::move(c));
    }
    for (const auto& [id, has_owner] : owned) {
      if (!has_owner) return false;
    }
    std::sort(g.pel.begin(), g.pel.end(),
              [](const RdbStream::Pending& a, const RdbStream::Pending& b) { return a.id < b.id; });
    s->groups.push_back(std::move(g));
  }
  return true;
}

bool read_stream(Reader& r, bool v2, RdbStream* s) {
  uint64_t nodes = 0;
  if (!r.length(&nodes)) return false;
  for (uint64_t i = 0; i < nodes; ++i) {
    std::string key;
    std::string blob;
    std::vector<std::string> lp;
    if (!r.string(&key) || key.size() != 16 || !r.string(&blob) ||
        !rdb_blobs::read_listpack(blob, &lp) || lp.empty()) {
      return false;
    }
    Reader key_reader(key);
    wire::StreamId master_id;
    const size_t before = s->entries.size();
    if (!read_raw_id(key_reader, &master_id) || !read_node(master_id, lp, &s->entries)) {
      return false;
    }
    if (before > 0 && s->entries.size() > before &&
        !(s->entries[before - 1].id < s->entries[before].id)) {
      return false;
    }
  }
  if (!r.length(&s->length) || !read_id(r, &s->last_id)) return false;
  if (v2) {
    if (!read_id(r, &s->first_id) || !read_id(r, &s->max_deleted_id) ||
        !r.length(&s->entries_added)) {
      return false;
    }
  } else {
    s->first_id = s->entries.empty() ? wire::StreamId{} : s->entries.front().id;
    s->entries_added = s->entries.size();
  }
  if (s->length != s->entries.size() || s->entries_added < s->length) return false;
  if (!s->entries.empty() && s->last_id < s->entries.back().id) return false;
  if (s->last_id < s->max_deleted_id) return false;
  return read_groups(r, v2, s);
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

bool rdb_payload_is_stream(std::string_view payload) {
  std::string_view body;
  if (!wire::rdb::open_payload(payload, &body) || body.empty()) return false;
  const auto type = static_cast<uint8_t>(body[0]);
  return type == kRdbStreamListpacks || type == kRdbStreamListpacks2;
}

wire::Result<RdbStream> rdb_restore_stream(std::string_view payload) {
  std::string_view body;
  if (!wire::rdb::open_payload(payload, &body)) {
    return {wire::ErrorCode::kInvalidArgument, std::string(kRdbBadPayload)};
  }
  Reader r(body);
  uint8_t type = 0;
  RdbStream s;
  if (!r.byte(&type) || (type != kRdbStreamListpacks && type != kRdbStreamListpacks2) ||
      !read_stream(r, type == kRdbStreamListpacks2, &s)) {
    return {wire::ErrorCode::kInvalidArgument, std::string(kRdbBadFormat)};
  }
  return s;
}

}  // namespace sluice::kv
