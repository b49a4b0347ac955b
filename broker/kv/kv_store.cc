#include "broker/kv/kv_store.h"

#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "broker/core/broker.h"
#include "broker/kv/kv_object.h"
#include "broker/kv/kv_types.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "broker/storage/snapshot_writer.h"
#include "wire/schema/kv_generated.h"

namespace sluice::kv {
namespace fbs = sluice::schema::kv;
using wire::ErrorCode;
using wire::Status;

namespace {

// Frame type bytes of the KV journal; each names the kv.fbs table in the payload. Never reuse
// a number.
enum RecordType : uint8_t {
  kString = 1,
  kStringRange = 2,
  kHashSet = 3,
  kHashDel = 4,
  kDelete = 5,
  kExpire = 6,
  kFlush = 7,
  kMove = 8,
  kSwapDb = 9,
  kStringBytes = kStringBytesRecord,        // 10: big_value_records.h
  kHashFieldBytes = kHashFieldBytesRecord,  // 11: big_value_records.h
  kFunctions = 12,
};

// Fields per KvHashSet record in a snapshot, so that no record of a big hash gets near the
// journal's record limit.
constexpr size_t kSnapshotFieldsPerRecord = 1024;

// A record payload this big is written straight from the builder (Journal::append_now) rather
// than copied into the journal's buffer first, and the builder's memory is returned after it.
constexpr size_t kDirectRecordBytes = 1u << 20;

constexpr auto bytes = fb_bytes;
constexpr auto view = fb_view;

template <typename T>
const T* verified(std::string_view payload) {
  return fb_verified<T>(payload);
}

Status corrupt(const char* what) {
  return Status(ErrorCode::kCorruption, std::string("kv journal: bad ") + what + " record");
}

// Where snapshot records go: a SnapshotWriter (in a forked child, or on the loop for
// write_snapshot). Remembers the first failure; no logging (see ForkedChild).
class SnapshotSink final : public KvRecordSink, public BigValueSink {
 public:
  explicit SnapshotSink(storage::SnapshotWriter* out) : out_(out) {}
  void emit(uint8_t type) override {
    if (st_) st_ = out_->append(type, finished());
    if (fbb_.GetSize() >= kDirectRecordBytes) {
      fbb_.Reset();
    } else {
      fbb_.Clear();
    }
  }
  void emit_parts(uint8_t type, std::string_view head, std::string_view body) override {
    if (st_) st_ = out_->append(type, head, body);
  }
  const Status& status() const { return st_; }

 private:
  storage::SnapshotWriter* out_;
  Status st_;
};

// Emits the records that recreate one KV key (snapshot).
void snapshot_key(SnapshotSink& out, int db, const std::string& key, const core::Object& obj) {
  auto& fbb = out.fbb();
  if (obj.type() == core::ObjectType::kString) {
    const auto& s = static_cast<const StringObject&>(obj);
    if (s.value.size() >= kBigValueBytes) return emit_big_string(out, db, key, s);
    fbb.Finish(
        fbs::CreateKvString(fbb, db, bytes(fbb, key), bytes(fbb, s.value), s.expire_at_ms, s.raw));
    out.emit(kString);
    return;
  }
  if (obj.type() == core::ObjectType::kHash) {
    const auto& h = static_cast<const HashObject&>(obj);
    std::vector<flatbuffers::Offset<flatbuffers::String>> fields;
    auto emit_fields = [&] {
      fbb.Finish(
          fbs::CreateKvHashSet(fbb, db, bytes(fbb, key), fbb.CreateVector(fields), h.is_table()));
      out.emit(kHashSet);
      fields.clear();
    };
    h.for_each([&](const std::string& f, const std::string& v) {
      if (v.size() >= kBigValueBytes) {
        emit_big_hash_field(out, db, key, f, v, h.is_table());
        return;
      }
      fields.push_back(bytes(fbb, f));
      fields.push_back(bytes(fbb, v));
      if (fields.size() == 2 * kSnapshotFieldsPerRecord) emit_fields();
    });
    if (!fields.empty() || h.size() == 0) emit_fields();
  } else if (const KvTypeModule* m = find_kv_type_module(obj.type())) {
    m->snapshot(out, db, key, obj);
  } else {
    return;  // streams persist themselves
  }
  if (obj.expire_at_ms != 0) {
    fbb.Finish(fbs::CreateKvExpire(fbb, db, bytes(fbb, key), obj.expire_at_ms));
    out.emit(kExpire);
  }
}

}  // namespace

std::unique_ptr<core::Object> clone_kv_object(const core::Object& obj) {
  std::unique_ptr<core::Object> copy;
  if (obj.type() == core::ObjectType::kString) {
    const auto& s = static_cast<const StringObject&>(obj);
    auto c = std::make_unique<StringObject>(s.value);
    c->raw = s.raw;
    copy = std::move(c);
  } else if (obj.type() == core::ObjectType::kHash) {
    const auto& h = static_cast<const HashObject&>(obj);
    auto c = std::make_unique<HashObject>();
    if (h.is_table()) c->convert_to_table();
    h.for_each([&](const std::string& f, const std::string& v) { c->set(f, v); });
    copy = std::move(c);
  } else if (const KvTypeModule* m = find_kv_type_module(obj.type())) {
    copy = m->clone(obj);
  } else {
    return nullptr;
  }
  copy->expire_at_ms = obj.expire_at_ms;
  return copy;
}

KvStore::KvStore(core::Broker& broker) : broker_(broker) {}
KvStore::~KvStore() { stop_background_snapshot(); }

void KvStore::open() {
  uint64_t truncated = 0;
  // The journal (and its snapshot) say which function libraries exist.
  broker_.function_libraries.clear();
  auto opened = storage::Journal::open(
      broker_.config().dir + "/kv", "kv",
      [this](uint8_t type, std::string_view payload, bool) { return replay(type, payload); },
      &truncated);
  if (!opened) {
    throw std::runtime_error("cannot recover the KV journal: " + opened.status().detail());
  }
  journal_ = std::move(*opened);
  if (truncated > 0) spdlog::warn("kv journal: cut a torn tail of {} bytes", truncated);
  drop_expired_after_load();
}

void KvStore::close() {
  if (!journal_) return;
  // The journals hold everything a snapshot child was writing; the next start replays them.
  stop_background_snapshot();
  // Closed inside a transaction (DEBUG RELOAD in MULTI): what it wrote so far is kept.
  while (journal_->in_batch()) journal_->end_batch();
  if (!rolled_back_) {
    Status st = journal_->sync();
    if (!st) spdlog::error("kv journal: final sync failed: {}", st.detail());
  }
  journal_.reset();
}

void KvStore::roll_back(core::RollBack how) {
  rolled_back_ = true;
  if (!journal_) return;
  Status st =
      journal_->roll_back(how == core::RollBack::kToSynced    ? storage::CutTo::kSynced
                          : how == core::RollBack::kLastFlush ? storage::CutTo::kBeforeLastFlush
                                                              : storage::CutTo::kNothing);
  if (!st) spdlog::error("kv journal: rollback: {}", st.detail());
}

void KvStore::drop_expired_after_load() {
  const int64_t now = core::now_ms();
  for (int i = 0; i < broker_.db_count(); ++i) {
    core::Database& db = broker_.db(i);
    std::vector<std::string> expired;
    db.for_each([&](const std::string& key, const core::Object& obj) {
      if (obj.expire_at_ms != 0 && obj.expire_at_ms <= now) expired.push_back(key);
    });
    for (const std::string& key : expired) {
      db.remove(key);
      record_delete(i, key);
    }
  }
}

void KvStore::emit(uint8_t type) {
  broker_.note_write();
  const std::string_view record = finished();
  if (journal_) {
    // A failed journal refuses appends; the broker is already failed through flush() and
    // refuses further writes, so the error needs no second report here.
    if (record.size() >= kDirectRecordBytes) {
      (void)journal_->append_now(type, record, {});
    } else {
      (void)journal_->append(type, record);
    }
  }
  if (record.size() >= kDirectRecordBytes) {
    fbb_.Reset();  // a giant hash value's record should not keep its buffer for good
  } else {
    fbb_.Clear();
  }
}

void KvStore::emit_parts(uint8_t type, std::string_view head, std::string_view body) {
  // Written before this returns: the bytes are the value's own, which the next command may
  // change or free.
  if (journal_) (void)journal_->append_now(type, head, body);
}

core::Database* KvStore::replay_db(int index) {
  return index >= 0 && index < broker_.db_count() ? &broker_.db(index) : nullptr;
}

const config::Config& KvStore::replay_config() const { return broker_.config(); }

void KvStore::record_delete(int db, std::string_view key) {
  fbb_.Finish(fbs::CreateKvDelete(fbb_, db, bytes(fbb_, key)));
  emit(kDelete);
}

void KvStore::record_string(int db, std::string_view key, const StringObject& value) {
  if (value.value.size() >= kBigValueBytes) return emit_big_string(*this, db, key, value);
  auto v = bytes(fbb_, value.value);
  auto k = bytes(fbb_, key);
  fbb_.Finish(fbs::CreateKvString(fbb_, db, k, v, value.expire_at_ms, value.raw));
  emit(kString);
}

void KvStore::record_string_range(int db, std::string_view key, uint64_t offset,
                                  std::string_view data) {
  auto b = bytes(fbb_, data);
  auto k = bytes(fbb_, key);
  fbb_.Finish(fbs::CreateKvStringRange(fbb_, db, k, offset, b));
  emit(kStringRange);
}

void KvStore::record_hash_set(int db, std::string_view key,
                              std::span<const std::string_view> pairs) {
  // Big values get records of their own, written from the arguments; the small pairs between
  // them keep their order in ordinary records.
  size_t from = 0;
  auto emit_small = [&](size_t to) {
    if (to == from) return;
    auto f = fb_string_list(fbb_, pairs.subspan(from, to - from));
    auto k = bytes(fbb_, key);
    fbb_.Finish(fbs::CreateKvHashSet(fbb_, db, k, f, false));
    emit(kHashSet);
  };
  for (size_t i = 0; i + 1 < pairs.size(); i += 2) {
    if (pairs[i + 1].size() < kBigValueBytes) continue;
    emit_small(i);
    emit_big_hash_field(*this, db, key, pairs[i], pairs[i + 1], false);
    from = i + 2;
  }
  emit_small(pairs.size());
}

void KvStore::record_value(int db, std::string_view key, const core::Object& obj) {
  if (obj.type() == core::ObjectType::kString) {
    return record_string(db, key, static_cast<const StringObject&>(obj));
  }
  if (obj.type() == core::ObjectType::kHash) {
    std::vector<std::string_view> pairs;
    static_cast<const HashObject&>(obj).for_each([&](const std::string& f, const std::string& v) {
      pairs.push_back(f);
      pairs.push_back(v);
      if (pairs.size() == 2 * kSnapshotFieldsPerRecord) {
        record_hash_set(db, key, pairs);
        pairs.clear();
      }
    });
    if (!pairs.empty()) record_hash_set(db, key, pairs);
    return;
  }
  if (const KvTypeModule* m = find_kv_type_module(obj.type())) m->snapshot(*this, db, key, obj);
}

void KvStore::record_hash_del(int db, std::string_view key,
                              std::span<const std::string_view> fields) {
  auto f = fb_string_list(fbb_, fields);
  auto k = bytes(fbb_, key);
  fbb_.Finish(fbs::CreateKvHashDel(fbb_, db, k, f));
  emit(kHashDel);
}

void KvStore::record_expire(int db, std::string_view key, int64_t at_ms) {
  fbb_.Finish(fbs::CreateKvExpire(fbb_, db, bytes(fbb_, key), at_ms));
  emit(kExpire);
}

void KvStore::record_flush(int db) {
  fbb_.Finish(fbs::CreateKvFlush(fbb_, db));
  emit(kFlush);
}

void KvStore::record_move(int db, std::string_view key, int to_db, std::string_view to_key,
                          bool copy) {
  auto k = bytes(fbb_, key);
  auto tk = bytes(fbb_, to_key);
  fbb_.Finish(fbs::CreateKvMove(fbb_, db, k, to_db, tk, copy));
  emit(kMove);
}

void KvStore::record_swapdb(int db, int to_db) {
  fbb_.Finish(fbs::CreateKvSwapDb(fbb_, db, to_db));
  emit(kSwapDb);
}

void KvStore::record_functions(const std::vector<std::string>& libraries) {
  auto list = fb_string_list(fbb_, libraries);
  fbb_.Finish(fbs::CreateKvFunctions(fbb_, list));
  emit(kFunctions);
}

void KvStore::begin_batch() {
  if (journal_) journal_->begin_batch();
}

void KvStore::end_batch() {
  if (journal_) journal_->end_batch();
}

void KvStore::abort_batch() {
  if (journal_) journal_->abort_batch();
}

Status KvStore::replay(uint8_t type, std::string_view payload) {
  auto db_at = [this](int db) { return replay_db(db); };
  if (type == kStringBytes || type == kHashFieldBytes) {
    return big_replay_.replay(*this, type, payload);
  }
  big_replay_.interrupted();
  switch (type) {
    case kString: {
      auto* r = verified<fbs::KvString>(payload);
      if (!r) return corrupt("string");
      core::Database* db = db_at(r->db());
      if (!db) return Status::ok();
      auto obj = std::make_unique<StringObject>(view(r->value()));
      obj->raw = r->raw();
      obj->expire_at_ms = r->expire_at_ms();
      db->put(view(r->key()), std::move(obj));
      return Status::ok();
    }
    case kStringRange: {
      auto* r = verified<fbs::KvStringRange>(payload);
      if (!r) return corrupt("string range");
      core::Database* db = db_at(r->db());
      if (!db) return Status::ok();
      core::Object* obj = db->find_raw(view(r->key()));
      StringObject* s = nullptr;
      if (obj && obj->type() == core::ObjectType::kString) {
        s = static_cast<StringObject*>(obj);
      } else {
        auto fresh = std::make_unique<StringObject>();
        s = fresh.get();
        db->put(view(r->key()), std::move(fresh));
      }
      std::string_view data = view(r->bytes());
      const uint64_t end = r->offset() + data.size();
      if (s->value.size() < end) s->value.resize(end, '\0');
      s->value.replace(r->offset(), data.size(), data);
      s->raw = true;
      return Status::ok();
    }
    case kHashSet: {
      auto* r = verified<fbs::KvHashSet>(payload);
      if (!r || !r->fields() || r->fields()->size() % 2 != 0) return corrupt("hash set");
      core::Database* db = db_at(r->db());
      if (!db) return Status::ok();
      core::Object* obj = db->find_raw(view(r->key()));
      HashObject* h = nullptr;
      if (obj && obj->type() == core::ObjectType::kHash) {
        h = static_cast<HashObject*>(obj);
      } else {
        auto fresh = std::make_unique<HashObject>();
        h = fresh.get();
        db->put(view(r->key()), std::move(fresh));
      }
      if (r->table_encoding()) h->convert_to_table();
      const auto* fields = r->fields();
      for (flatbuffers::uoffset_t i = 0; i + 1 < fields->size(); i += 2) {
        std::string_view f = view(fields->Get(i));
        std::string_view v = view(fields->Get(i + 1));
        const HashLimits limits = hash_limits(replay_config());
        h->prepare_for(f.size(), v.size(), limits);
        h->set(f, v, limits);
      }
      return Status::ok();
    }
    case kHashDel: {
      auto* r = verified<fbs::KvHashDel>(payload);
      if (!r || !r->fields()) return corrupt("hash delete");
      core::Database* db = db_at(r->db());
      if (!db) return Status::ok();
      core::Object* obj = db->find_raw(view(r->key()));
      if (!obj || obj->type() != core::ObjectType::kHash) return Status::ok();
      auto* h = static_cast<HashObject*>(obj);
      for (const auto* f : *r->fields()) h->erase(view(f));
      if (h->size() == 0) db->remove(view(r->key()));
      return Status::ok();
    }
    case kDelete: {
      auto* r = verified<fbs::KvDelete>(payload);
      if (!r) return corrupt("delete");
      if (core::Database* db = db_at(r->db())) db->remove(view(r->key()));
      return Status::ok();
    }
    case kExpire: {
      auto* r = verified<fbs::KvExpire>(payload);
      if (!r) return corrupt("expire");
      core::Database* db = db_at(r->db());
      if (!db) return Status::ok();
      if (core::Object* obj = db->find_raw(view(r->key()))) {
        db->set_expire(view(r->key()), obj, r->expire_at_ms());
      }
      return Status::ok();
    }
    case kFlush: {
      auto* r = verified<fbs::KvFlush>(payload);
      if (!r) return corrupt("flush");
      for (int i = 0; i < broker_.db_count(); ++i) {
        if (r->db() < 0 || r->db() == i) broker_.db(i).clear();
      }
      return Status::ok();
    }
    case kMove: {
      auto* r = verified<fbs::KvMove>(payload);
      if (!r) return corrupt("move");
      core::Database* from = db_at(r->db());
      core::Database* to = db_at(r->to_db());
      if (!from || !to) return Status::ok();
      std::unique_ptr<core::Object> obj;
      if (r->copy()) {
        if (core::Object* src = from->find_raw(view(r->key()))) obj = clone_kv_object(*src);
      } else {
        obj = from->remove(view(r->key()));
      }
      if (obj) to->put(view(r->to_key()), std::move(obj));
      return Status::ok();
    }
    case kFunctions: {
      auto* r = verified<fbs::KvFunctions>(payload);
      if (!r) return corrupt("functions");
      broker_.function_libraries.clear();
      if (r->libraries()) {
        for (const auto* code : *r->libraries())
          broker_.function_libraries.emplace_back(view(code));
      }
      return Status::ok();
    }
    case kSwapDb: {
      auto* r = verified<fbs::KvSwapDb>(payload);
      if (!r) return corrupt("swapdb");
      core::Database* a = db_at(r->db());
      core::Database* b = db_at(r->to_db());
      if (a && b && a != b) a->swap_contents(*b);
      return Status::ok();
    }
    default:
      if (const KvTypeModule* m = find_kv_record_module(type))
        return m->replay(*this, type, payload);
      return Status(ErrorCode::kCorruption,
                    "kv journal: unknown record type " + std::to_string(type));
  }
}

uint64_t KvStore::journal_bytes() const { return journal_ ? journal_->journal_bytes() : 0; }

uint64_t KvStore::journal_buffer_bytes() const { return journal_ ? journal_->buffer_bytes() : 0; }

void KvStore::snapshot_functions(KvRecordSink& out) const {
  if (broker_.function_libraries.empty()) return;
  auto& fbb = out.fbb();
  auto list = fb_string_list(fbb, broker_.function_libraries);
  fbb.Finish(fbs::CreateKvFunctions(fbb, list));
  out.emit(kFunctions);
}

bool KvStore::write_state(storage::SnapshotWriter& out) const {
  SnapshotSink sink(&out);
  snapshot_functions(sink);
  for (int i = 0; i < broker_.db_count(); ++i) {
    broker_.db(i).for_each(
        [&](const std::string& key, const core::Object& obj) { snapshot_key(sink, i, key, obj); });
  }
  return sink.status().is_ok() && out.finish().is_ok();
}

Status KvStore::write_snapshot() {
  if (!journal_) return Status::ok();
  stop_background_snapshot();
  auto target = journal_->begin_snapshot();
  if (!target) return target.status();
  storage::SnapshotWriter out;
  Status st = out.open(*target);
  if (st && !write_state(out)) st = Status(ErrorCode::kIo, "cannot write " + target->tmp_path);
  journal_->finish_snapshot(*target, st.is_ok());
  if (!st) return st;
  last_snapshot_bytes_ = out.bytes();
  ++snapshots_written_;
  return Status::ok();
}

bool KvStore::start_background_snapshot() {
  if (!journal_ || child_.running() || journal_->in_batch()) return false;
  auto target = journal_->begin_snapshot();
  if (!target) {
    spdlog::error("kv snapshot: cannot start: {}", target.status().detail());
    return false;
  }
  snapshot_target_ = *target;
  const int64_t t0 = core::now_us();
  std::string error;
  // The child sees the keyspace as it is now, which is what the retired journals add up to.
  const bool started = child_.start(
      [this] {
        storage::SnapshotWriter out;
        return out.open(snapshot_target_).is_ok() && write_state(out);
      },
      &error);
  if (!started) {
    ++snapshot_failures_;
    spdlog::warn("kv snapshot: cannot fork ({}); retrying in 5 s", error);
    journal_->finish_snapshot(snapshot_target_, false);
    next_snapshot_ms_ = core::now_ms() + 5000;
    return false;
  }
  spdlog::info("kv snapshot: started in a child process (fork took {} us)", core::now_us() - t0);
  return true;
}

void KvStore::finish_background_snapshot(bool written, const std::string& why) {
  journal_->finish_snapshot(snapshot_target_, written);
  if (!written) {
    // The retired journals stay and are replayed; the next snapshot covers them too.
    ++snapshot_failures_;
    spdlog::warn("kv snapshot: the writer process failed ({}); retrying in 5 s", why);
    next_snapshot_ms_ = core::now_ms() + 5000;
    return;
  }
  struct stat info {};
  last_snapshot_bytes_ = ::stat(snapshot_target_.final_path.c_str(), &info) == 0
                             ? static_cast<uint64_t>(info.st_size)
                             : 0;
  ++snapshots_written_;
  snapshot_failures_ = 0;
  spdlog::info("kv snapshot: done ({} bytes)", last_snapshot_bytes_);
}

Status KvStore::wait_for_snapshot() {
  if (!journal_ || !child_.running()) return Status::ok();
  std::string why;
  auto state = child_.poll(true, &why);
  finish_background_snapshot(state == ForkedChild::State::kSucceeded, why);
  return Status::ok();
}

void KvStore::stop_background_snapshot() {
  if (!child_.running()) return;
  child_.kill();
  if (journal_) journal_->finish_snapshot(snapshot_target_, false);
}

Status KvStore::flush() {
  if (!journal_) return Status::ok();
  Status st = journal_->flush();
  if (!st) return st;
  const int64_t now = core::now_ms();
  if (child_.running()) {
    // One waitpid a millisecond at most, however fast the loop spins.
    if (now == last_poll_ms_) return Status::ok();
    last_poll_ms_ = now;
    std::string why;
    auto state = child_.poll(false, &why);
    if (state != ForkedChild::State::kRunning) {
      finish_background_snapshot(state == ForkedChild::State::kSucceeded, why);
    }
    return Status::ok();
  }
  const uint64_t size = journal_->journal_bytes();
  // Never inside a script's or transaction's batch: its records are already in memory (so in
  // the child's picture) but not yet written (so they would land in the next journal too).
  if (size > snapshot_threshold_ && size > 2 * last_snapshot_bytes_ && now >= next_snapshot_ms_ &&
      !journal_->in_batch()) {
    start_background_snapshot();
  }
  return Status::ok();
}

bool KvStore::needs_sync() const { return journal_ && journal_->needs_sync(); }

void KvStore::collect_sync(core::SyncBatch& batch) {
  if (!journal_ || !journal_->needs_sync()) return;
  journal_->sync_fds(&batch.fds);
  const uint64_t offset = journal_->flushed_offset();
  batch.on_synced.push_back([this, offset] {
    if (journal_) journal_->mark_synced(offset);
  });
}

}  // namespace sluice::kv
