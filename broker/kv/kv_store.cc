#include "broker/kv/kv_store.h"

namespace sluice::kv {

KvStore::KvStore(core::Broker& broker) : broker_(broker) {}
KvStore::~KvStore() = default;
void KvStore::open() {}
void KvStore::close() {}
void KvStore::record_delete(int, std::string_view) {}
wire::Status KvStore::flush() { return {}; }
bool KvStore::needs_sync() const { return false; }
void KvStore::collect_sync(core::SyncBatch&) {}

}  // namespace sluice::kv
