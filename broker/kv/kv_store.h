// KvStore: persistence of the KV layer (strings, hashes, TTLs) through a journal of effects
// plus snapshots, under the same appendfsync policy as streams.
#pragma once

#include <memory>
#include <string_view>

#include "broker/core/durability.h"

namespace sluice::core {
class Broker;
class Object;
}  // namespace sluice::core

namespace sluice::kv {

class KvStore : public core::DurableSource {
 public:
  explicit KvStore(core::Broker& broker);
  ~KvStore() override;
  // Loads every database's KV keys from disk.
  void open();
  void close();
  // Journals the removal of a string or hash key (DEL, expiry, overwrite by another type).
  void record_delete(int db, std::string_view key);

  wire::Status flush() override;
  bool needs_sync() const override;
  void collect_sync(core::SyncBatch& batch) override;

 private:
  core::Broker& broker_;
};

}  // namespace sluice::kv
