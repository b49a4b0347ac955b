#include "broker/kv/zset_records.h"

#include <algorithm>
#include <limits>
#include <memory>
#include <vector>

#include "wire/schema/zset_generated.h"

namespace sluice::kv {
namespace fbs = sluice::schema::zset;
using wire::ErrorCode;
using wire::Status;

namespace {

// Members per record when a value or a removal is split (snapshots and STORE results stay far
// below the frame limit, and a snapshot writer's buffer grows in small steps).
constexpr size_t kChunkMembers = 1024;

Status corrupt(const char* what) {
  return Status(ErrorCode::kCorruption, std::string("kv journal: bad sorted set ") + what);
}

// Replay inserts exactly what was journaled: no conversion, no -0 rewrite (scores were
// journaled as stored).
constexpr ZSetLimits kReplayLimits{std::numeric_limits<size_t>::max(),
                                   std::numeric_limits<size_t>::max()};

void emit_add(KvRecordSink& out, int db, std::string_view key,
              const std::vector<flatbuffers::Offset<flatbuffers::String>>& members,
              const std::vector<double>& scores, bool replace, bool skiplist) {
  auto& fbb = out.fbb();
  auto m = fbb.CreateVector(members);
  auto s = fbb.CreateVector(scores);
  auto k = fb_bytes(fbb, key);
  fbb.Finish(fbs::CreateZSetAdd(fbb, db, k, m, s, replace, skiplist));
  out.emit(kZSetAddRecord);
}

Status replay_add(KvReplayTarget& target, std::string_view payload) {
  auto* r = fb_verified<fbs::ZSetAdd>(payload);
  const auto* members = r ? r->members() : nullptr;
  const auto* scores = r ? r->scores() : nullptr;
  if (!members || !scores || members->size() != scores->size()) return corrupt("add");
  core::Database* db = target.replay_db(r->db());
  if (!db) return Status::ok();
  std::string_view key = fb_view(r->key());
  core::Object* obj = db->find_raw(key);
  ZSetObject* z = nullptr;
  if (obj && obj->type() == core::ObjectType::kZSet && !r->replace()) {
    z = static_cast<ZSetObject*>(obj);
  } else {
    auto fresh = std::make_unique<ZSetObject>();
    z = fresh.get();
    db->put(key, std::move(fresh));
  }
  if (r->skiplist()) z->set_skiplist();
  for (flatbuffers::uoffset_t i = 0; i < members->size(); ++i) {
    std::string_view member = fb_view(members->Get(i));
    double score = scores->Get(i);
    if (ZMember* m = z->find(member)) {
      z->update(m, score);
    } else {
      z->insert(member, score, kReplayLimits);
    }
  }
  return Status::ok();
}

Status replay_rem(KvReplayTarget& target, std::string_view payload) {
  auto* r = fb_verified<fbs::ZSetRem>(payload);
  const auto* members = r ? r->members() : nullptr;
  if (!members) return corrupt("remove");
  core::Database* db = target.replay_db(r->db());
  if (!db) return Status::ok();
  std::string_view key = fb_view(r->key());
  core::Object* obj = db->find_raw(key);
  if (!obj || obj->type() != core::ObjectType::kZSet) return Status::ok();
  auto* z = static_cast<ZSetObject*>(obj);
  for (flatbuffers::uoffset_t i = 0; i < members->size(); ++i) z->erase(fb_view(members->Get(i)));
  if (z->size() == 0) db->remove(key);
  return Status::ok();
}

Status replay(KvReplayTarget& target, uint8_t record_type, std::string_view payload) {
  switch (record_type) {
    case kZSetAddRecord:
      return replay_add(target, payload);
    case kZSetRemRecord:
      return replay_rem(target, payload);
    default:
      return Status(ErrorCode::kCorruption,
                    "kv journal: unknown sorted set record " + std::to_string(record_type));
  }
}

void snapshot(KvRecordSink& out, int db, std::string_view key, const core::Object& obj) {
  record_zset_value(out, db, key, static_cast<const ZSetObject&>(obj));
}

std::unique_ptr<core::Object> clone(const core::Object& obj) {
  const auto& src = static_cast<const ZSetObject&>(obj);
  auto copy = std::make_unique<ZSetObject>();
  if (!src.is_listpack()) copy->set_skiplist();
  for (ZTree::Pos p = src.tree().first(); p.valid(); p = ZTree::next(p)) {
    copy->insert(p.member()->view(), p.score(), kReplayLimits);
  }
  return copy;
}

}  // namespace

const KvTypeModule kZSetModule = {core::ObjectType::kZSet, 48, 63, replay, snapshot, clone};

void record_zset_scores(KvRecordSink& out, int db, std::string_view key, const ZSetObject& set,
                        std::span<const ZMember* const> members) {
  auto& fbb = out.fbb();
  // Reused across commands: journaling a ZADD allocates nothing once warm.
  thread_local std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  thread_local std::vector<double> scores;
  names.clear();
  scores.clear();
  for (const ZMember* m : members) {
    names.push_back(fb_bytes(fbb, m->view()));
    scores.push_back(m->score);
  }
  emit_add(out, db, key, names, scores, false, !set.is_listpack());
}

void record_zset_removed(KvRecordSink& out, int db, std::string_view key,
                         std::span<const std::string_view> members) {
  for (size_t at = 0; at < members.size(); at += 64 * kChunkMembers) {
    auto chunk = members.subspan(at, std::min(members.size() - at, 64 * kChunkMembers));
    auto& fbb = out.fbb();
    thread_local std::vector<flatbuffers::Offset<flatbuffers::String>> names;
    names.clear();
    for (std::string_view name : chunk) names.push_back(fb_bytes(fbb, name));
    auto m = fbb.CreateVector(names);
    auto k = fb_bytes(fbb, key);
    fbb.Finish(fbs::CreateZSetRem(fbb, db, k, m));
    out.emit(kZSetRemRecord);
  }
}

void record_zset_value(KvRecordSink& out, int db, std::string_view key, const ZSetObject& set) {
  // Runs in the snapshot writer too (maybe a forked child): no logging, no locks.
  std::vector<flatbuffers::Offset<flatbuffers::String>> names;
  std::vector<double> scores;
  names.reserve(std::min(set.size(), kChunkMembers));
  scores.reserve(std::min(set.size(), kChunkMembers));
  bool first = true;
  ZTree::Pos p = set.tree().first();
  do {
    names.clear();
    scores.clear();
    for (; p.valid() && names.size() < kChunkMembers; p = ZTree::next(p)) {
      names.push_back(fb_bytes(out.fbb(), p.member()->view()));
      scores.push_back(p.score());
    }
    emit_add(out, db, key, names, scores, first, !set.is_listpack());
    first = false;
  } while (p.valid());
}

}  // namespace sluice::kv
