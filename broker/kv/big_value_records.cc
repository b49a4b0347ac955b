// Big value records: the head layout in big_value_records.h, chunking, and replay.
#include "broker/kv/big_value_records.h"

#include <cstring>

#include "broker/kv/kv_object.h"
#include "wire/schema/kv_generated.h"

namespace sluice::kv {
namespace fbs = sluice::schema::kv;
using wire::ErrorCode;
using wire::Status;

namespace {

constexpr size_t kHeadFixed = 24;

void put_le(char* p, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t get_le(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

Status corrupt() { return Status(ErrorCode::kCorruption, "kv journal: bad big value record"); }

// The records of one value: the head (with `meta`, a finished flatbuffer) once, its chunk offset
// rewritten for each chunk.
void emit_chunks(BigValueSink& out, uint8_t type, const flatbuffers::FlatBufferBuilder& meta,
                 std::string_view bytes, size_t chunk_bytes) {
  const size_t meta_len = meta.GetSize();
  std::string head(kHeadFixed + ((meta_len + 7) & ~size_t{7}), '\0');
  put_le(head.data(), meta_len, 4);
  put_le(head.data() + 8, bytes.size(), 8);
  std::memcpy(head.data() + kHeadFixed, meta.GetBufferPointer(), meta_len);
  size_t offset = 0;
  do {
    const std::string_view chunk = bytes.substr(offset, chunk_bytes);
    put_le(head.data() + 16, offset, 8);
    out.emit_parts(type, head, chunk);
    offset += chunk.size();
  } while (offset < bytes.size());
}

}  // namespace

struct BigValueReplay::Pending {
  uint8_t type = 0;
  int db = 0;
  std::string key;
  std::string field;  // hash fields
  int64_t expire_at_ms = 0;
  bool flag = false;  // string: raw; hash: table_encoding
  uint64_t total = 0;
  std::string value;
};

BigValueReplay::BigValueReplay() = default;
BigValueReplay::~BigValueReplay() = default;
void BigValueReplay::interrupted() { pending_.reset(); }

void emit_big_string(BigValueSink& out, int db, std::string_view key, const StringObject& value,
                     size_t chunk) {
  flatbuffers::FlatBufferBuilder fbb(key.size() + 128);
  fbb.Finish(fbs::CreateKvString(fbb, db, fb_bytes(fbb, key), 0, value.expire_at_ms, value.raw));
  emit_chunks(out, kStringBytesRecord, fbb, value.value, chunk);
}

void emit_big_hash_field(BigValueSink& out, int db, std::string_view key, std::string_view field,
                         std::string_view value, bool table_encoding, size_t chunk) {
  flatbuffers::FlatBufferBuilder fbb(key.size() + field.size() + 128);
  auto k = fb_bytes(fbb, key);
  std::string_view fields[] = {field};
  auto f = fb_string_list(fbb, fields);
  fbb.Finish(fbs::CreateKvHashSet(fbb, db, k, f, table_encoding));
  emit_chunks(out, kHashFieldBytesRecord, fbb, value, chunk);
}

Status BigValueReplay::replay(KvReplayTarget& target, uint8_t type, std::string_view payload) {
  if (payload.size() < kHeadFixed) return corrupt();
  const uint64_t meta_len = get_le(payload.data(), 4);
  const uint64_t total = get_le(payload.data() + 8, 8);
  const uint64_t offset = get_le(payload.data() + 16, 8);
  const uint64_t meta_end = kHeadFixed + ((meta_len + 7) & ~uint64_t{7});
  if (meta_end > payload.size()) return corrupt();
  const std::string_view meta = payload.substr(kHeadFixed, meta_len);
  const std::string_view chunk = payload.substr(meta_end);
  if (offset > total || chunk.size() > total - offset) return corrupt();

  Pending head;
  head.type = type;
  head.total = total;
  if (type == kStringBytesRecord) {
    const auto* m = fb_verified<fbs::KvString>(meta);
    if (!m) return corrupt();
    head.db = m->db();
    head.key = fb_view(m->key());
    head.expire_at_ms = m->expire_at_ms();
    head.flag = m->raw();
  } else {
    const auto* m = fb_verified<fbs::KvHashSet>(meta);
    if (!m || !m->fields() || m->fields()->size() != 1) return corrupt();
    head.db = m->db();
    head.key = fb_view(m->key());
    head.field = fb_view(m->fields()->Get(0));
    head.flag = m->table_encoding();
  }

  if (offset == 0) {
    pending_.reset();
    if (chunk.size() == total) {
      head.value = chunk;
      return apply(target, head);
    }
    pending_ = std::make_unique<Pending>(std::move(head));
    pending_->value.reserve(total);
  } else if (!pending_ || pending_->type != type || pending_->total != total ||
             pending_->value.size() != offset || pending_->db != head.db ||
             pending_->key != head.key || pending_->field != head.field) {
    return corrupt();
  }
  pending_->value.append(chunk);
  if (pending_->value.size() < total) return Status::ok();
  std::unique_ptr<Pending> done = std::move(pending_);
  return apply(target, *done);
}

Status BigValueReplay::apply(KvReplayTarget& target, Pending& v) {
  core::Database* db = target.replay_db(v.db);
  if (!db) return Status::ok();
  if (v.type == kStringBytesRecord) {
    auto obj = std::make_unique<StringObject>();
    obj->value = std::move(v.value);
    obj->raw = v.flag;
    obj->expire_at_ms = v.expire_at_ms;
    db->put(v.key, std::move(obj));
    return Status::ok();
  }
  core::Object* obj = db->find_raw(v.key);
  HashObject* h = nullptr;
  if (obj && obj->type() == core::ObjectType::kHash) {
    h = static_cast<HashObject*>(obj);
  } else {
    auto fresh = std::make_unique<HashObject>();
    h = fresh.get();
    db->put(v.key, std::move(fresh));
  }
  if (v.flag) h->convert_to_table();
  const HashLimits limits = hash_limits(target.replay_config());
  h->prepare_for(v.field.size(), v.value.size(), limits);
  h->set(v.field, {}, limits);
  *h->get_mut(v.field) = std::move(v.value);
  return Status::ok();
}

}  // namespace sluice::kv
