// KvTypeModule: what a KV-layer collection type (list, set, sorted set) gives the KV store so
// that keys of the type are journaled, snapshotted, replayed and copied without kv_store.cc
// knowing the type. Each module owns a range of journal record type bytes (never reuse one):
//
//     1-15   strings, hashes and keyspace records (kv_store.cc)
//     16-31  lists        32-47  sets        48-63  sorted sets
//
// Replay must be deterministic: a record holds effects (what changed), never inputs that need
// the clock or a random choice, so replaying a journal onto its snapshot rebuilds the same value.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "broker/config/config.h"
#include "broker/core/database.h"
#include "broker/core/object.h"
#include "broker/kv/kv_records.h"
#include "wire/status.h"

namespace sluice::kv {

// The databases a replayed record applies to.
class KvReplayTarget {
 public:
  virtual ~KvReplayTarget() = default;
  // Database `index`, or nullptr when it is out of range (a record from a server configured
  // with more databases is skipped).
  virtual core::Database* replay_db(int index) = 0;
  // The configuration in force: a replayed value is built with today's encoding thresholds
  // (set-max-intset-entries, ...), as Redis applies its current config when it loads.
  virtual const config::Config& replay_config() const = 0;
};

struct KvTypeModule {
  core::ObjectType type;
  uint8_t first_record;  // the journal record types [first_record, last_record] are this type's
  uint8_t last_record;
  // Applies one of the type's records. kCorruption when the record does not verify.
  wire::Status (*replay)(KvReplayTarget& target, uint8_t record_type, std::string_view payload);
  // Emits the records that recreate the key's value, in chunks small enough for one frame. The
  // TTL is not the module's: the store emits it. Runs in the snapshot writer, which may be a
  // forked child: no logging, no locks, no state outside `obj` and `out`.
  void (*snapshot)(KvRecordSink& out, int db, std::string_view key, const core::Object& obj);
  // A deep copy of the value for COPY, TTL excluded.
  std::unique_ptr<core::Object> (*clone)(const core::Object& obj);
};

// Every registered module (kv_types.cc lists them).
std::span<const KvTypeModule* const> kv_type_modules();
// The module of `type`, or nullptr for strings, hashes and streams.
const KvTypeModule* find_kv_type_module(core::ObjectType type);
// The module owning journal record type `record_type`, or nullptr.
const KvTypeModule* find_kv_record_module(uint8_t record_type);

}  // namespace sluice::kv
