// Sets in the KV journal: SetAdd (32), SetRem (33) and SetStore (34), see wire/schema/set.fbs.
//
// Encodings across a restart: replay builds every set with the running set-max-intset-entries
// and the same rules as a live SADD. A snapshot writes a set's members, so on load a set is an
// intset again when all its members are integers and there are few enough of them, even if it
// had become a hash table while it lived: what Redis does when it loads an RDB file (a restart,
// DEBUG RELOAD, or an AOF with its RDB preamble). Journal records replay like Redis's AOF
// commands, so a set that became a hash table since the last snapshot stays one.
#include "broker/kv/set_records.h"

#include <string>
#include <vector>

#include "wire/schema/set_generated.h"

namespace sluice::kv {
namespace fbs = sluice::schema::set;
using wire::ErrorCode;
using wire::Status;

namespace {

// Frame type bytes (the sets' range is 32-47; never reuse a number).
enum SetRecordType : uint8_t {
  kSetAdd = 32,
  kSetRem = 33,
  kSetStore = 34,
};

using StringList = flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>;
using IntList = flatbuffers::Vector<int64_t>;

Status corrupt(const char* what) {
  return Status(ErrorCode::kCorruption, std::string("kv journal: bad ") + what + " record");
}

// Members as a flatbuffers vector. The offsets of a few members (SADD, SREM, SPOP of one or a
// handful) stay on the stack: the journal record then allocates nothing beyond the builder.
flatbuffers::Offset<StringList> member_list(flatbuffers::FlatBufferBuilder& fbb,
                                            std::span<const std::string_view> members) {
  constexpr size_t kInline = 16;
  if (members.size() > kInline) return fb_string_list(fbb, members);
  flatbuffers::Offset<flatbuffers::String> offsets[kInline];
  for (size_t i = 0; i < members.size(); ++i) offsets[i] = fb_bytes(fbb, members[i]);
  return fbb.CreateVector(offsets, members.size());
}

size_t intset_limit(const KvReplayTarget& target) {
  int64_t v = target.replay_config().set_max_intset_entries;
  return v < 0 ? 0 : static_cast<size_t>(v);
}

// The set at `key`, created (replacing a value of another type) in the encoding Redis gives a
// set whose first member is the record's first.
SetObject* set_for_replay(core::Database& db, std::string_view key, const StringList* members) {
  core::Object* obj = db.find_raw(key);
  if (obj && obj->type() == core::ObjectType::kSet) return static_cast<SetObject*>(obj);
  auto fresh = members && members->size() > 0 ? SetObject::create_for(fb_view(members->Get(0)))
                                              : std::make_unique<SetObject>(true);
  SetObject* s = fresh.get();
  db.put(key, std::move(fresh));
  return s;
}

void add_all(SetObject& s, const StringList* members, const IntList* ints, size_t limit) {
  if (members) {
    for (const auto* m : *members) s.add(fb_view(m), limit);
  }
  if (ints) {
    for (int64_t v : *ints) s.add_int(v, limit);
  }
}

Status replay_add(KvReplayTarget& target, std::string_view payload) {
  auto* r = fb_verified<fbs::SetAdd>(payload);
  if (!r) return corrupt("set add");
  core::Database* db = target.replay_db(r->db());
  if (!db) return Status::ok();
  if ((!r->members() || r->members()->size() == 0) && (!r->ints() || r->ints()->size() == 0)) {
    return Status::ok();
  }
  SetObject* s = set_for_replay(*db, fb_view(r->key()), r->members());
  add_all(*s, r->members(), r->ints(), intset_limit(target));
  return Status::ok();
}

Status replay_rem(KvReplayTarget& target, std::string_view payload) {
  auto* r = fb_verified<fbs::SetRem>(payload);
  if (!r) return corrupt("set remove");
  core::Database* db = target.replay_db(r->db());
  if (!db) return Status::ok();
  core::Object* obj = db->find_raw(fb_view(r->key()));
  if (!obj || obj->type() != core::ObjectType::kSet) return Status::ok();
  auto* s = static_cast<SetObject*>(obj);
  if (r->members()) {
    for (const auto* m : *r->members()) s->remove(fb_view(m));
  }
  if (r->ints()) {
    MemberBuf buf;
    for (int64_t v : *r->ints()) s->remove(format_member(v, buf));
  }
  if (s->empty()) db->remove(fb_view(r->key()));
  return Status::ok();
}

Status replay_store(KvReplayTarget& target, std::string_view payload) {
  auto* r = fb_verified<fbs::SetStore>(payload);
  if (!r) return corrupt("set store");
  core::Database* db = target.replay_db(r->db());
  if (!db) return Status::ok();
  std::string_view key = fb_view(r->key());
  // Built as Redis builds a *STORE result: an intset that converts as members require.
  auto fresh = std::make_unique<SetObject>(true);
  add_all(*fresh, r->members(), r->ints(), intset_limit(target));
  if (fresh->empty()) {
    db->remove(key);
    return Status::ok();
  }
  if (r->keep_ttl()) {
    if (core::Object* old = db->find_raw(key)) fresh->expire_at_ms = old->expire_at_ms;
  }
  db->put(key, std::move(fresh));
  return Status::ok();
}

Status replay(KvReplayTarget& target, uint8_t record_type, std::string_view payload) {
  switch (record_type) {
    case kSetAdd:
      return replay_add(target, payload);
    case kSetRem:
      return replay_rem(target, payload);
    case kSetStore:
      return replay_store(target, payload);
    default:
      return Status(ErrorCode::kCorruption,
                    "kv journal: unknown set record type " + std::to_string(record_type));
  }
}

// Emits `value`'s members as SetAdd records of at most kSetSnapshotChunk members each.
void snapshot(KvRecordSink& out, int db, std::string_view key, const core::Object& obj) {
  const auto& s = static_cast<const SetObject&>(obj);
  auto& fbb = out.fbb();
  if (s.is_intset()) {
    const auto& ints = s.ints();
    for (size_t at = 0; at < ints.size(); at += kSetSnapshotChunk) {
      size_t n = std::min(kSetSnapshotChunk, ints.size() - at);
      auto v = fbb.CreateVector(ints.data() + at, n);
      auto k = fb_bytes(fbb, key);
      fbb.Finish(fbs::CreateSetAdd(fbb, db, k, 0, v));
      out.emit(kSetAdd);
    }
    return;
  }
  std::vector<flatbuffers::Offset<flatbuffers::String>> chunk;
  chunk.reserve(std::min(kSetSnapshotChunk, s.size()));
  auto emit_chunk = [&] {
    auto v = fbb.CreateVector(chunk);
    auto k = fb_bytes(fbb, key);
    fbb.Finish(fbs::CreateSetAdd(fbb, db, k, v));
    out.emit(kSetAdd);
    chunk.clear();
  };
  s.for_each([&](std::string_view m) {
    chunk.push_back(fb_bytes(fbb, m));
    if (chunk.size() == kSetSnapshotChunk) emit_chunk();
  });
  if (!chunk.empty()) emit_chunk();
}

std::unique_ptr<core::Object> clone(const core::Object& obj) {
  return static_cast<const SetObject&>(obj).clone();
}

}  // namespace

const KvTypeModule kSetModule = {core::ObjectType::kSet, 32, 47, replay, snapshot, clone};

void record_set_add(KvRecordSink& out, int db, std::string_view key,
                    std::span<const std::string_view> members) {
  auto& fbb = out.fbb();
  auto m = member_list(fbb, members);
  auto k = fb_bytes(fbb, key);
  fbb.Finish(fbs::CreateSetAdd(fbb, db, k, m));
  out.emit(kSetAdd);
}

void record_set_rem(KvRecordSink& out, int db, std::string_view key,
                    std::span<const std::string_view> members) {
  auto& fbb = out.fbb();
  auto m = member_list(fbb, members);
  auto k = fb_bytes(fbb, key);
  fbb.Finish(fbs::CreateSetRem(fbb, db, k, m));
  out.emit(kSetRem);
}

void record_set_store(KvRecordSink& out, int db, std::string_view key, const SetObject& value,
                      bool keep_ttl) {
  auto& fbb = out.fbb();
  flatbuffers::Offset<StringList> members = 0;
  flatbuffers::Offset<IntList> ints = 0;
  if (value.is_intset()) {
    ints = fbb.CreateVector(value.ints());
  } else {
    std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
    offsets.reserve(value.size());
    value.for_each([&](std::string_view m) { offsets.push_back(fb_bytes(fbb, m)); });
    members = fbb.CreateVector(offsets);
  }
  auto k = fb_bytes(fbb, key);
  fbb.Finish(fbs::CreateSetStore(fbb, db, k, members, ints, keep_ttl));
  out.emit(kSetStore);
}

}  // namespace sluice::kv
