#include "broker/kv/list_records.h"

#include <memory>
#include <string>
#include <vector>

#include "broker/kv/list_object.h"
#include "wire/schema/list_generated.h"

namespace sluice::kv {
namespace fbs = sluice::schema::list;
using wire::ErrorCode;
using wire::Status;

namespace {

// Frame type bytes of list records (the lists' range is 16-31). Never reuse a number.
enum ListRecord : uint8_t {
  kPush = 16,
  kPop = 17,
  kSet = 18,
  kInsert = 19,
  kRem = 20,
  kTrim = 21,
  kMove = 22,
};

// A push record carries at most this many elements or bytes; a longer LPUSH or a snapshot of a
// long list is written as several records (each one frame, far below the frame size limit).
constexpr size_t kChunkElements = 1024;
constexpr size_t kChunkBytes = 1u << 20;

Status corrupt(const char* what) {
  return Status(ErrorCode::kCorruption, std::string("kv journal: bad list ") + what + " record");
}

using End = ListObject::End;
End end_of(bool head) { return head ? End::kHead : End::kTail; }

ListObject* find_list(core::Database& db, std::string_view key) {
  core::Object* obj = db.find_raw(key);
  return obj && obj->type() == core::ObjectType::kList ? static_cast<ListObject*>(obj) : nullptr;
}

ListObject* list_for_push(core::Database& db, std::string_view key) {
  if (ListObject* l = find_list(db, key)) return l;
  auto fresh = std::make_unique<ListObject>();
  ListObject* l = fresh.get();
  db.put(key, std::move(fresh));
  return l;
}

void drop_if_empty(core::Database& db, std::string_view key, const ListObject& l) {
  if (l.size() == 0) db.remove(key);
}

void emit_push(KvRecordSink& out, int db, std::string_view key, bool head,
               const std::vector<flatbuffers::Offset<flatbuffers::String>>& elements) {
  auto& fbb = out.fbb();
  auto v = fbb.CreateVector(elements);
  auto k = fb_bytes(fbb, key);
  fbb.Finish(fbs::CreateListPush(fbb, db, k, head, v));
  out.emit(kPush);
}

Status replay(KvReplayTarget& target, uint8_t type, std::string_view payload) {
  switch (type) {
    case kPush: {
      auto* r = fb_verified<fbs::ListPush>(payload);
      const auto* elements = r ? r->elements() : nullptr;
      if (!elements) return corrupt("push");
      core::Database* db = target.replay_db(r->db());
      if (!db || elements->size() == 0) return Status::ok();
      ListObject* l = list_for_push(*db, fb_view(r->key()));
      for (const auto* e : *elements) l->push(end_of(r->head()), fb_view(e));
      return Status::ok();
    }
    case kPop: {
      auto* r = fb_verified<fbs::ListPop>(payload);
      if (!r) return corrupt("pop");
      core::Database* db = target.replay_db(r->db());
      ListObject* l = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (!l) return Status::ok();
      for (uint64_t i = 0; i < r->count() && l->size() > 0; ++i) l->pop(end_of(r->head()));
      drop_if_empty(*db, fb_view(r->key()), *l);
      return Status::ok();
    }
    case kSet: {
      auto* r = fb_verified<fbs::ListSet>(payload);
      if (!r) return corrupt("set");
      core::Database* db = target.replay_db(r->db());
      ListObject* l = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (l && r->index() < l->size()) l->set(r->index(), fb_view(r->element()));
      return Status::ok();
    }
    case kInsert: {
      auto* r = fb_verified<fbs::ListInsert>(payload);
      if (!r) return corrupt("insert");
      core::Database* db = target.replay_db(r->db());
      ListObject* l = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (l && r->index() <= l->size()) l->insert(r->index(), fb_view(r->element()));
      return Status::ok();
    }
    case kRem: {
      auto* r = fb_verified<fbs::ListRem>(payload);
      if (!r) return corrupt("rem");
      core::Database* db = target.replay_db(r->db());
      ListObject* l = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (!l) return Status::ok();
      l->remove(fb_view(r->element()), r->count());
      drop_if_empty(*db, fb_view(r->key()), *l);
      return Status::ok();
    }
    case kTrim: {
      auto* r = fb_verified<fbs::ListTrim>(payload);
      if (!r) return corrupt("trim");
      core::Database* db = target.replay_db(r->db());
      ListObject* l = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (!l) return Status::ok();
      const uint64_t n = l->size();
      l->trim(std::min<uint64_t>(r->front(), n), std::min<uint64_t>(r->back(), n));
      drop_if_empty(*db, fb_view(r->key()), *l);
      return Status::ok();
    }
    case kMove: {
      auto* r = fb_verified<fbs::ListMove>(payload);
      if (!r) return corrupt("move");
      core::Database* db = target.replay_db(r->db());
      ListObject* src = db ? find_list(*db, fb_view(r->key())) : nullptr;
      if (!src || src->size() == 0) return Status::ok();
      char num[list_codec::kNumBufBytes];
      std::string element(src->peek(end_of(r->from_head()), num));
      src->pop(end_of(r->from_head()));
      // Push before dropping an emptied source: source and destination may be the same list.
      list_for_push(*db, fb_view(r->to_key()))->push(end_of(r->to_head()), element);
      if (ListObject* again = find_list(*db, fb_view(r->key()))) {
        drop_if_empty(*db, fb_view(r->key()), *again);
      }
      return Status::ok();
    }
    default:
      return Status(ErrorCode::kCorruption,
                    "kv journal: unknown list record type " + std::to_string(type));
  }
}

// Runs in the snapshot writer, possibly a forked child: no logging, no locks.
void snapshot(KvRecordSink& out, int db, std::string_view key, const core::Object& obj) {
  const auto& l = static_cast<const ListObject&>(obj);
  std::vector<flatbuffers::Offset<flatbuffers::String>> chunk;
  size_t bytes = 0;
  auto it = l.iterate_from(0);
  std::string_view v;
  while (it.next(&v)) {
    chunk.push_back(fb_bytes(out.fbb(), v));
    bytes += v.size();
    if (chunk.size() == kChunkElements || bytes >= kChunkBytes) {
      emit_push(out, db, key, false, chunk);
      chunk.clear();
      bytes = 0;
    }
  }
  if (!chunk.empty()) emit_push(out, db, key, false, chunk);
}

std::unique_ptr<core::Object> clone(const core::Object& obj) {
  return static_cast<const ListObject&>(obj).clone();
}

template <typename Build>
void finish(KvRecordSink& out, uint8_t type, Build&& build) {
  out.fbb().Finish(build(out.fbb()));
  out.emit(type);
}

}  // namespace

const KvTypeModule kListModule{core::ObjectType::kList, 16, 31, &replay, &snapshot, &clone};

void record_list_push(KvRecordSink& out, int db, std::string_view key, bool head,
                      std::span<const std::string_view> elements) {
  // Reused: an LPUSH journals without a heap allocation of its own.
  thread_local std::vector<flatbuffers::Offset<flatbuffers::String>> chunk;
  chunk.clear();
  size_t bytes = 0;
  for (std::string_view e : elements) {
    chunk.push_back(fb_bytes(out.fbb(), e));
    bytes += e.size();
    if (chunk.size() == kChunkElements || bytes >= kChunkBytes) {
      emit_push(out, db, key, head, chunk);
      chunk.clear();
      bytes = 0;
    }
  }
  if (!chunk.empty()) emit_push(out, db, key, head, chunk);
}

void record_list_pop(KvRecordSink& out, int db, std::string_view key, bool head, uint64_t count) {
  finish(out, kPop,
         [&](auto& fbb) { return fbs::CreateListPop(fbb, db, fb_bytes(fbb, key), head, count); });
}

void record_list_set(KvRecordSink& out, int db, std::string_view key, uint64_t index,
                     std::string_view element) {
  finish(out, kSet, [&](auto& fbb) {
    auto e = fb_bytes(fbb, element);
    return fbs::CreateListSet(fbb, db, fb_bytes(fbb, key), index, e);
  });
}

void record_list_insert(KvRecordSink& out, int db, std::string_view key, uint64_t index,
                        std::string_view element) {
  finish(out, kInsert, [&](auto& fbb) {
    auto e = fb_bytes(fbb, element);
    return fbs::CreateListInsert(fbb, db, fb_bytes(fbb, key), index, e);
  });
}

void record_list_rem(KvRecordSink& out, int db, std::string_view key, int64_t count,
                     std::string_view element) {
  finish(out, kRem, [&](auto& fbb) {
    auto e = fb_bytes(fbb, element);
    return fbs::CreateListRem(fbb, db, fb_bytes(fbb, key), count, e);
  });
}

void record_list_trim(KvRecordSink& out, int db, std::string_view key, uint64_t front,
                      uint64_t back) {
  finish(out, kTrim,
         [&](auto& fbb) { return fbs::CreateListTrim(fbb, db, fb_bytes(fbb, key), front, back); });
}

void record_list_move(KvRecordSink& out, int db, std::string_view key, std::string_view to_key,
                      bool from_head, bool to_head) {
  finish(out, kMove, [&](auto& fbb) {
    auto k = fb_bytes(fbb, key);
    auto tk = fb_bytes(fbb, to_key);
    return fbs::CreateListMove(fbb, db, k, tk, from_head, to_head);
  });
}

}  // namespace sluice::kv
