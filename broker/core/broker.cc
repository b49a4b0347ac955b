#include "broker/core/broker.h"

#include <spdlog/spdlog.h>

#include <chrono>
#include <random>

#include "broker/blocking/blocking_registry.h"
#include "broker/kv/kv_store.h"
#include "broker/pubsub/pubsub_hub.h"
#include "broker/storage/atomic_file.h"
#include "broker/stream/stream_engine.h"

namespace sluice::core {

int64_t now_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

int64_t now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch()).count();
}

Broker::Broker(config::Config* config) : config_(config), config_store_(config) {
  std::random_device rd;
  static const char kHex[] = "0123456789abcdef";
  for (int i = 0; i < 40; ++i) run_id += kHex[rd() % 16];
}

Broker::~Broker() { close(); }

void Broker::open() {
  loading = true;
  dbs_.clear();
  for (int i = 0; i < config_->databases; ++i) {
    dbs_.push_back(std::make_unique<Database>(i));
    dbs_.back()->on_expired = [this](Database& db, std::string_view key,
                                     std::unique_ptr<Object> obj) {
      release_object(db.index(), key, std::move(obj));
      key_modified(db.index(), key);
      notify('x', "expired", key, db.index());
      if (key_removed) key_removed(db.index(), key);
    };
  }
  if (!blocking_) blocking_ = std::make_unique<blocking::BlockingRegistry>();
  if (!pubsub_) pubsub_ = std::make_unique<pubsub::PubSubHub>(*this);
  kv_ = std::make_unique<kv::KvStore>(*this);
  streams_ = std::make_unique<stream::StreamEngine>(*this);
  storage_failed_ = false;
  rollback_pending_ = false;
  storage_error_.clear();
  kv_->open();
  streams_->open();
  add_durable(kv_.get());
  add_durable(streams_.get());
  loading = false;
}

void Broker::close() {
  ++generation_;
  if (streams_) streams_->close();
  if (kv_) kv_->close();
  durables_.clear();
  streams_.reset();
  kv_.reset();
  dbs_.clear();
}

void Broker::remove_client(Client* client) {
  clients_.erase(client->id);
  unwatch_all(*client);
  tracking_.remove_client(*client);
  if (current_client == client) current_client = nullptr;
  std::erase(monitors, client);
  std::erase(paused_clients, client);
  if (pubsub_) pubsub_->remove_client(*client);
}

Client* Broker::find_client(uint64_t id) {
  auto it = clients_.find(id);
  return it == clients_.end() ? nullptr : it->second;
}

void Broker::release_object(int db, std::string_view key, std::unique_ptr<Object> obj) {
  if (!obj) return;
  if (obj->type() == ObjectType::kStream) {
    streams_->destroy(std::move(obj));
  } else {
    kv_->record_delete(db, key);
  }
  // Blocked readers of a deleted stream must learn about it (XREADGROUP gets an error).
  blocking_->signal(db, key);
}

bool Broker::delete_key(int db, std::string_view key) {
  auto obj = dbs_[static_cast<size_t>(db)]->remove(key);
  if (!obj) return false;
  release_object(db, key, std::move(obj));
  key_modified(db, key);
  return true;
}

void Broker::watch(Client& client, int db, std::string_view key) {
  for (const auto& [d, k] : client.watched_keys) {
    if (d == db && k == key) return;
  }
  client.watched_keys.emplace_back(db, std::string(key));
  watchers_[{db, std::string(key)}].push_back(&client);
}

void Broker::unwatch_all(Client& client) {
  for (const auto& wk : client.watched_keys) {
    auto it = watchers_.find(wk);
    if (it == watchers_.end()) continue;
    std::erase(it->second, &client);
    if (it->second.empty()) watchers_.erase(it);
  }
  client.watched_keys.clear();
  client.watch_dirty = false;
}

void Broker::key_modified(int db, std::string_view key) {
  if (tracking_.active()) tracking_.invalidate(key, current_client);
  if (watchers_.empty()) return;
  auto it = watchers_.find(std::make_pair(db, std::string(key)));
  if (it == watchers_.end()) return;
  for (Client* c : it->second) c->watch_dirty = true;
}

void Broker::touch_all_watched(int db) {
  for (auto& [k, list] : watchers_) {
    if (db >= 0 && (k.first != db || !this->db(db).find_raw(k.second))) continue;
    for (Client* c : list) c->watch_dirty = true;
  }
}

void Broker::notify(char type_flag, std::string_view event, std::string_view key, int db) {
  const std::string& flags = config_->notify_keyspace_events;
  if (flags.empty()) return;
  bool keyspace = flags.find('K') != std::string::npos;
  bool keyevent = flags.find('E') != std::string::npos;
  if (!keyspace && !keyevent) return;
  bool all = flags.find('A') != std::string::npos && type_flag != 'm' && type_flag != 'n';
  if (!all && flags.find(type_flag) == std::string::npos) return;
  std::string dbs = std::to_string(db);
  if (keyspace) {
    std::string channel = "__keyspace@" + dbs + "__:";
    channel.append(key);
    pubsub_->publish(channel, event);
  }
  if (keyevent) {
    std::string channel = "__keyevent@" + dbs + "__:";
    channel.append(event);
    pubsub_->publish(channel, key);
  }
}

void Broker::set_storage_failed(std::string why) {
  if (storage_failed_) return;
  storage_failed_ = true;
  rollback_pending_ = true;
  storage_error_ = std::move(why);
  ++stats_.io_errors;
  spdlog::error(
      "storage failed: {}; the failed batch is undone and its writes get -MISCONF; writes are "
      "refused until the data directory takes writes again (tried every second), reads keep "
      "working",
      storage_error_);
}

void Broker::roll_back_storage() {
  if (!rollback_pending_) return;
  rollback_pending_ = false;
  const RollBack how = config_->appendfsync == config::AppendFsync::kAlways ? RollBack::kToSynced
                       : failed_in_flush_                                   ? RollBack::kLastFlush
                                          : RollBack::kBuffersOnly;
  failed_in_flush_ = false;
  for (DurableSource* d : durables_) d->roll_back(how);
  ++stats_.storage_rollbacks;
  const std::string why = storage_error_;
  close();
  open();  // throws when the data cannot be read back
  // open() starts with storage working; it is not until a probe write succeeds.
  storage_failed_ = true;
  storage_error_ = why;
  // Nothing written before is pending any more: it is durable or it was cut.
  durable_epoch_ = epochs_.issued;
  epochs_.write = durable_epoch_;
  spdlog::warn("storage: the failed batch was undone ({}) and the data reloaded from disk",
               how == RollBack::kToSynced    ? "cut back to what was fdatasynced"
               : how == RollBack::kLastFlush ? "cut back to before the failed write"
                                             : "unwritten changes dropped");
}

bool Broker::probe_storage() {
  if (!storage_failed_ || rollback_pending_) return false;
  constexpr size_t kProbeBytes = 1 << 20;
  wire::Status st = storage::probe_writable(config_->dir, kProbeBytes);
  if (!st.is_ok()) return false;
  storage_failed_ = false;
  ++stats_.storage_resumes;
  spdlog::warn("storage: the data directory takes writes again ({} was the error): writes resume",
               storage_error_);
  storage_error_.clear();
  return true;
}

void Broker::remove_durable(DurableSource* source) { std::erase(durables_, source); }

wire::Status Broker::flush_storage() {
  wire::Status result;
  if (storage_failed_) return result;
  if (flush_hook) flush_hook(false);
  for (DurableSource* d : durables_) {
    wire::Status st = d->flush();
    if (!st.is_ok() && result.is_ok()) result = st;
  }
  if (!result.is_ok()) {
    set_storage_failed(result.detail().empty() ? "write failed" : result.detail());
    failed_in_flush_ = true;
  } else if (flush_hook) {
    flush_hook(true);
  }
  return result;
}

bool Broker::storage_needs_sync() const {
  for (const DurableSource* d : durables_) {
    if (d->needs_sync()) return true;
  }
  return false;
}

SyncBatch Broker::collect_sync() {
  SyncBatch batch;
  for (DurableSource* d : durables_) d->collect_sync(batch);
  return batch;
}

}  // namespace sluice::core
