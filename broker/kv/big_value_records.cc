// Big string records: the head layout in big_string_records.h, chunking, and replay.
#include "broker/kv/big_string_records.h"

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

Status corrupt() { return Status(ErrorCode::kCorruption, "kv journal: bad big string record"); }

}  // namespace

struct BigStringReplay::Pending {
  int db = 0;
  std::string key;
  int64_t expire_at_ms = 0;
  bool raw = false;
  uint64_t total = 0;
  std::string value;
};

BigStringReplay::BigStringReplay() = default;
BigStringReplay::~BigStringReplay() = default;
void BigStringReplay::interrupted() { pending_.reset(); }

void emit_big_string(BigStringSink& out, int db, std::string_view key, const StringObject& value,
                     size_t chunk_bytes) {
  flatbuffers::FlatBufferBuilder fbb(key.size() + 128);
  fbb.Finish(fbs::CreateKvString(fbb, db, fb_bytes(fbb, key), 0, value.expire_at_ms, value.raw));
  const size_t meta_len = fbb.GetSize();
  std::string head(kHeadFixed + ((meta_len + 7) & ~size_t{7}), '\0');
  put_le(head.data(), meta_len, 4);
  put_le(head.data() + 8, value.value.size(), 8);
  std::memcpy(head.data() + kHeadFixed, fbb.GetBufferPointer(), meta_len);
  const std::string_view bytes = value.value;
  size_t offset = 0;
  do {
    const std::string_view chunk = bytes.substr(offset, chunk_bytes);
    put_le(head.data() + 16, offset, 8);
    out.emit_parts(kStringBytesRecord, head, chunk);
    offset += chunk.size();
  } while (offset < bytes.size());
}

Status BigStringReplay::replay(KvReplayTarget& target, std::string_view payload) {
  if (payload.size() < kHeadFixed) return corrupt();
  const uint64_t meta_len = get_le(payload.data(), 4);
  const uint64_t total = get_le(payload.data() + 8, 8);
  const uint64_t offset = get_le(payload.data() + 16, 8);
  const uint64_t meta_end = kHeadFixed + ((meta_len + 7) & ~uint64_t{7});
  if (meta_end > payload.size()) return corrupt();
  const auto* meta = fb_verified<fbs::KvString>(payload.substr(kHeadFixed, meta_len));
  const std::string_view chunk = payload.substr(meta_end);
  if (!meta || offset > total || chunk.size() > total - offset) return corrupt();

  if (offset == 0) pending_.reset();
  if (offset == 0 && chunk.size() == total) {
    if (core::Database* db = target.replay_db(meta->db())) {
      auto obj = std::make_unique<StringObject>(chunk);
      obj->raw = meta->raw();
      obj->expire_at_ms = meta->expire_at_ms();
      db->put(fb_view(meta->key()), std::move(obj));
    }
    return Status::ok();
  }
  if (offset == 0) {
    pending_ = std::make_unique<Pending>();
    pending_->db = meta->db();
    pending_->key = fb_view(meta->key());
    pending_->expire_at_ms = meta->expire_at_ms();
    pending_->raw = meta->raw();
    pending_->total = total;
    pending_->value.reserve(total);
  } else if (!pending_ || pending_->total != total || pending_->value.size() != offset ||
             pending_->db != meta->db() || pending_->key != fb_view(meta->key())) {
    return corrupt();
  }
  pending_->value.append(chunk);
  if (pending_->value.size() < total) return Status::ok();
  std::unique_ptr<Pending> done = std::move(pending_);
  if (core::Database* db = target.replay_db(done->db)) {
    auto obj = std::make_unique<StringObject>();
    obj->value = std::move(done->value);
    obj->raw = done->raw;
    obj->expire_at_ms = done->expire_at_ms;
    db->put(done->key, std::move(obj));
  }
  return Status::ok();
}

}  // namespace sluice::kv
