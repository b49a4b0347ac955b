// DUMP / RESTORE object codec (format in rdb_codec.h; blobs in rdb_blobs.h).
#include "broker/kv/rdb_codec.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <unordered_set>
#include <utility>
#include <vector>

#include "broker/kv/kv_object.h"
#include "broker/kv/rdb_blobs.h"
#include "wire/rdb_format.h"

namespace sluice::kv {
namespace {

using wire::ErrorCode;
using wire::rdb::Reader;
using Elements = std::vector<std::string>;
using Loaded = wire::Result<std::unique_ptr<core::Object>>;

// RDB object type bytes.
enum RdbType : uint8_t {
  kRdbString = 0,
  kRdbList = 1,
  kRdbSet = 2,
  kRdbZSet = 3,
  kRdbHash = 4,
  kRdbZSet2 = 5,
  kRdbListZiplist = 10,
  kRdbSetIntset = 11,
  kRdbZSetZiplist = 12,
  kRdbHashZiplist = 13,
  kRdbListQuicklist = 14,
  kRdbStreamListpacks = 15,
  kRdbHashListpack = 16,
  kRdbZSetListpack = 17,
  kRdbListQuicklist2 = 18,
  kRdbStreamListpacks2 = 19,
};

// Quicklist 2 node containers.
constexpr uint64_t kContainerPlain = 1;
constexpr uint64_t kContainerPacked = 2;

Loaded bad_format() { return {ErrorCode::kInvalidArgument, std::string(kRdbBadFormat)}; }

// A score as a listpack stores it: Redis 7.0's d2string ("%.17g", inf, -inf), which listpack
// then stores as an integer when the text is one.
std::string score_text(double score) {
  if (std::isinf(score)) return score > 0 ? "inf" : "-inf";
  char buf[32];
  int n = std::snprintf(buf, sizeof buf, "%.17g", score);
  return std::string(buf, static_cast<size_t>(n));
}

// A score read from its text (listpack, ziplist, old sorted set encoding); NaN is refused.
bool parse_score(std::string_view text, double* out) {
  if (text.empty() || text.size() > 128) return false;
  char buf[130];
  std::memcpy(buf, text.data(), text.size());
  buf[text.size()] = '\0';
  char* end = nullptr;
  *out = std::strtod(buf, &end);
  return end == buf + text.size() && !std::isnan(*out);
}

void dump_hash(std::string& out, const HashObject& h) {
  if (!h.is_table()) {
    out.push_back(static_cast<char>(kRdbHashListpack));
    rdb_blobs::ListpackWriter lp;
    h.for_each([&](const std::string& f, const std::string& v) {
      lp.add(f);
      lp.add(v);
    });
    wire::rdb::put_string(out, lp.finish());
    return;
  }
  out.push_back(static_cast<char>(kRdbHash));
  wire::rdb::put_length(out, h.size());
  h.for_each([&](const std::string& f, const std::string& v) {
    wire::rdb::put_string(out, f);
    wire::rdb::put_string(out, v);
  });
}

// Nodes are cut at the list's own node limits, as a quicklist would be filled.
void dump_list(std::string& out, const ListObject& list) {
  std::vector<std::string> nodes;
  rdb_blobs::ListpackWriter lp;
  const ListLimits& limits = list.limits();
  auto it = list.iterate_from(0);
  std::string_view v;
  while (it.next(&v)) {
    if (lp.count() > 0 &&
        (lp.count() >= limits.max_count || lp.bytes() + v.size() + 10 > limits.max_bytes)) {
      nodes.push_back(lp.finish());
    }
    lp.add(v);
  }
  if (lp.count() > 0) nodes.push_back(lp.finish());
  out.push_back(static_cast<char>(kRdbListQuicklist2));
  wire::rdb::put_length(out, nodes.size());
  for (const std::string& node : nodes) {
    wire::rdb::put_length(out, kContainerPacked);
    wire::rdb::put_string(out, node);
  }
}

void dump_set(std::string& out, const SetObject& set) {
  if (set.is_intset()) {
    out.push_back(static_cast<char>(kRdbSetIntset));
    wire::rdb::put_string(out, rdb_blobs::write_intset(set.ints()));
    return;
  }
  out.push_back(static_cast<char>(kRdbSet));
  wire::rdb::put_length(out, set.size());
  set.for_each([&](std::string_view m) { wire::rdb::put_string(out, m); });
}

void dump_zset(std::string& out, const ZSetObject& z) {
  if (z.is_listpack()) {
    out.push_back(static_cast<char>(kRdbZSetListpack));
    rdb_blobs::ListpackWriter lp;
    z.for_each([&](const ZMember& m) {
      lp.add(m.view());
      lp.add(score_text(m.score));
    });
    wire::rdb::put_string(out, lp.finish());
    return;
  }
  // Highest first, as Redis writes a skiplist (each load then inserts at the head).
  out.push_back(static_cast<char>(kRdbZSet2));
  wire::rdb::put_length(out, z.size());
  for (ZTree::Pos p = z.tree().last(); p.valid(); p = ZTree::prev(p)) {
    const ZMember& m = *p.member();
    wire::rdb::put_string(out, m.view());
    uint64_t bits = 0;
    std::memcpy(&bits, &m.score, sizeof bits);
    wire::rdb::put_le(out, bits, 8);
  }
}

Loaded build_list(const Elements& elements, const RdbLoadLimits& limits) {
  if (elements.empty()) return bad_format();
  auto list = std::make_unique<ListObject>(limits.list);
  for (const std::string& e : elements) {
    if (e.size() > list_codec::kMaxElementBytes) return bad_format();
    list->push(ListObject::End::kTail, e);
  }
  return std::unique_ptr<core::Object>(std::move(list));
}

// Field, value, field, value...
Loaded build_hash(const Elements& pairs, const RdbLoadLimits& limits) {
  if (pairs.empty() || pairs.size() % 2 != 0) return bad_format();
  std::unordered_set<std::string_view> fields;
  for (size_t i = 0; i < pairs.size(); i += 2) {
    if (!fields.insert(pairs[i]).second) return bad_format();
  }
  auto hash = std::make_unique<HashObject>();
  for (size_t i = 0; i < pairs.size(); i += 2) {
    hash->prepare_for(pairs[i].size(), pairs[i + 1].size(), limits.hash);
    hash->add_absent(pairs[i], pairs[i + 1], limits.hash);
  }
  return std::unique_ptr<core::Object>(std::move(hash));
}

Loaded build_set(const Elements& members, const RdbLoadLimits& limits) {
  if (members.empty()) return bad_format();
  auto set = SetObject::create_for(members.front());
  for (const std::string& m : members) {
    if (!set->add(m, limits.set_max_intset_entries)) return bad_format();
  }
  return std::unique_ptr<core::Object>(std::move(set));
}

Loaded build_intset(std::string_view blob, const RdbLoadLimits& limits) {
  std::vector<int64_t> ints;
  if (!rdb_blobs::read_intset(blob, &ints) || ints.empty()) return bad_format();
  auto set = std::make_unique<SetObject>(true);
  for (int64_t v : ints) set->add_int(v, limits.set_max_intset_entries);
  return std::unique_ptr<core::Object>(std::move(set));
}

Loaded build_zset(const std::vector<std::pair<std::string, double>>& members,
                  const RdbLoadLimits& limits) {
  if (members.empty()) return bad_format();
  auto z = std::make_unique<ZSetObject>();
  for (const auto& [member, score] : members) {
    if (std::isnan(score) || z->find(member)) return bad_format();
    z->insert(member, score, limits.zset);
  }
  z->convert_if_small(limits.zset);
  return std::unique_ptr<core::Object>(std::move(z));
}

// Member, score, member, score... as text.
Loaded build_zset_from_pairs(const Elements& pairs, const RdbLoadLimits& limits) {
  if (pairs.size() % 2 != 0) return bad_format();
  std::vector<std::pair<std::string, double>> members;
  for (size_t i = 0; i < pairs.size(); i += 2) {
    double score = 0;
    if (!parse_score(pairs[i + 1], &score)) return bad_format();
    members.emplace_back(pairs[i], score);
  }
  return build_zset(members, limits);
}

bool read_strings(Reader& r, uint64_t count, Elements* out) {
  for (uint64_t i = 0; i < count; ++i) {
    std::string s;
    if (!r.string(&s)) return false;
    out->push_back(std::move(s));
  }
  return true;
}

// A string holding a listpack (or ziplist) blob, appended to *out.
bool read_packed(Reader& r, bool listpack, Elements* out) {
  std::string blob;
  if (!r.string(&blob)) return false;
  return listpack ? rdb_blobs::read_listpack(blob, out) : rdb_blobs::read_ziplist(blob, out);
}

// The old sorted set encoding's score: a length byte (253 NaN, 254 +inf, 255 -inf) and text.
bool read_text_score(Reader& r, double* out) {
  uint8_t len = 0;
  if (!r.byte(&len) || len == 253) return false;
  if (len >= 254) {
    *out = len == 254 ? INFINITY : -INFINITY;
    return true;
  }
  std::string_view text;
  return r.bytes(len, &text) && parse_score(text, out);
}

Loaded load_zset_plain(Reader& r, bool binary_scores, const RdbLoadLimits& limits) {
  uint64_t count = 0;
  if (!r.length(&count)) return bad_format();
  std::vector<std::pair<std::string, double>> members;
  for (uint64_t i = 0; i < count; ++i) {
    std::string member;
    double score = 0;
    if (!r.string(&member)) return bad_format();
    if (binary_scores) {
      std::string_view raw;
      if (!r.bytes(8, &raw)) return bad_format();
      const uint64_t bits = wire::rdb::get_le(raw, 0, 8);
      std::memcpy(&score, &bits, sizeof score);
    } else if (!read_text_score(r, &score)) {
      return bad_format();
    }
    members.emplace_back(std::move(member), score);
  }
  return build_zset(members, limits);
}

Loaded load_quicklist(Reader& r, bool version2, const RdbLoadLimits& limits) {
  uint64_t nodes = 0;
  if (!r.length(&nodes)) return bad_format();
  Elements elements;
  for (uint64_t i = 0; i < nodes; ++i) {
    uint64_t container = kContainerPacked;
    if (version2 && (!r.length(&container) ||
                     (container != kContainerPlain && container != kContainerPacked))) {
      return bad_format();
    }
    if (container == kContainerPlain) {
      if (!read_strings(r, 1, &elements)) return bad_format();
    } else if (!read_packed(r, version2, &elements)) {
      return bad_format();
    }
  }
  return build_list(elements, limits);
}

Loaded load_object(uint8_t type, Reader& r, const RdbLoadLimits& limits) {
  Elements items;
  uint64_t count = 0;
  switch (type) {
    case kRdbString: {
      std::string value;
      if (!r.string(&value)) return bad_format();
      return std::unique_ptr<core::Object>(std::make_unique<StringObject>(value));
    }
    case kRdbList:
    case kRdbSet:
      if (!r.length(&count) || !read_strings(r, count, &items)) return bad_format();
      return type == kRdbList ? build_list(items, limits) : build_set(items, limits);
    case kRdbHash:
      if (!r.length(&count) || count > UINT64_MAX / 2 || !read_strings(r, 2 * count, &items)) {
        return bad_format();
      }
      return build_hash(items, limits);
    case kRdbZSet:
    case kRdbZSet2:
      return load_zset_plain(r, type == kRdbZSet2, limits);
    case kRdbListZiplist:
      if (!read_packed(r, false, &items)) return bad_format();
      return build_list(items, limits);
    case kRdbSetIntset: {
      std::string blob;
      if (!r.string(&blob)) return bad_format();
      return build_intset(blob, limits);
    }
    case kRdbZSetZiplist:
    case kRdbZSetListpack:
      if (!read_packed(r, type == kRdbZSetListpack, &items)) return bad_format();
      return build_zset_from_pairs(items, limits);
    case kRdbHashZiplist:
    case kRdbHashListpack:
      if (!read_packed(r, type == kRdbHashListpack, &items)) return bad_format();
      return build_hash(items, limits);
    case kRdbListQuicklist:
    case kRdbListQuicklist2:
      return load_quicklist(r, type == kRdbListQuicklist2, limits);
    case kRdbStreamListpacks:
    case kRdbStreamListpacks2:
      return {ErrorCode::kInvalidArgument, std::string(kRdbStreamUnsupported)};
    default:
      return bad_format();
  }
}

}  // namespace

wire::Result<std::string> rdb_dump(const core::Object& obj) {
  std::string out;
  switch (obj.type()) {
    case core::ObjectType::kString:
      out.push_back(static_cast<char>(kRdbString));
      wire::rdb::put_string(out, static_cast<const StringObject&>(obj).value);
      break;
    case core::ObjectType::kHash:
      dump_hash(out, static_cast<const HashObject&>(obj));
      break;
    case core::ObjectType::kList:
      dump_list(out, static_cast<const ListObject&>(obj));
      break;
    case core::ObjectType::kSet:
      dump_set(out, static_cast<const SetObject&>(obj));
      break;
    case core::ObjectType::kZSet:
      dump_zset(out, static_cast<const ZSetObject&>(obj));
      break;
    case core::ObjectType::kStream:
      return {ErrorCode::kInvalidArgument, std::string(kRdbStreamUnsupported)};
  }
  wire::rdb::seal_payload(out);
  return out;
}

wire::Result<std::unique_ptr<core::Object>> rdb_restore(std::string_view payload,
                                                        const RdbLoadLimits& limits) {
  std::string_view body;
  if (!wire::rdb::open_payload(payload, &body)) {
    return {ErrorCode::kInvalidArgument, std::string(kRdbBadPayload)};
  }
  Reader r(body);
  uint8_t type = 0;
  if (!r.byte(&type)) return bad_format();
  return load_object(type, r, limits);
}

}  // namespace sluice::kv
