// Broker: the state commands run against — config, databases, clients, stats, and the engines
// (streams, pub/sub, KV persistence, blocking). No libuv: the server drives it from its loop and
// implements ServerControl for the few things only the server can do.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "broker/config/config.h"
#include "broker/core/client.h"
#include "broker/core/database.h"
#include "broker/core/durability.h"
#include "broker/core/eviction.h"
#include "broker/core/latency.h"
#include "broker/core/tracking.h"

namespace sluice::stream {
class StreamEngine;
}
namespace sluice::pubsub {
class PubSubHub;
}
namespace sluice::kv {
class KvStore;
}
namespace sluice::blocking {
class BlockingRegistry;
}

namespace sluice::core {

// What only the network server can do; implemented by server/Server.
class ServerControl {
 public:
  virtual ~ServerControl() = default;
  // Called from inside a script that ran past busy-reply-threshold (the loop is stuck in it):
  // accepts new connections and reads the others without re-entering the event loop, so they
  // get -BUSY (or run SCRIPT KILL, FUNCTION KILL, SHUTDOWN NOSAVE...) and their replies go out
  // at once. `running` is the script's caller, whose input is left alone.
  virtual void serve_while_busy(Client* running) = 0;
  virtual void request_shutdown(bool save) = 0;
  // Closes a client's connection after the current command (CLIENT KILL).
  virtual void kill_client(Client& client) = 0;
  virtual int listening_port() const = 0;
  virtual uint64_t connected_clients() const = 0;
  // How replies are sent: "io_uring" (batched) or "writev".
  virtual const char* reply_io() const = 0;
  virtual int64_t uptime_ms() const = 0;
  // Sleeps the loop thread (DEBUG SLEEP): the whole server stalls, as in Redis.
  virtual void sleep_ms(int64_t ms) = 0;
  // Drops in-memory state and reopens everything from disk (DEBUG RELOAD).
  virtual std::string reload() = 0;
  // Connects to a master as its replica (replication.h), or drops the link (empty host).
  virtual void set_master(const std::string& host, int port) {
    (void)host;
    (void)port;
  }
  // Cold reads (commands/cold_read.h): reads bytes [offset, offset + length) of `fd` (a
  // descriptor this call takes over) into the page cache on a worker thread, then, back on the
  // loop, runs the command client `client_id` waits with (none for 0, a read-ahead). False when
  // this server cannot: `fd` stays the caller's, which reads synchronously instead.
  virtual bool warm_cold_read(uint64_t client_id, int fd, uint64_t offset, uint64_t length) {
    (void)client_id;
    (void)fd;
    (void)offset;
    (void)length;
    return false;
  }
  // After CONFIG SET changed tls-* options: rebuilds the TLS context for new connections.
  // Returns why it failed (the current context stays); "" on success or when TLS is off.
  virtual std::string apply_tls_config() { return {}; }
};

// An extension that lives as long as the broker (the scripting engine): core owns it without
// knowing what it is, so the layers above it may hang their state here.
class BrokerExtension {
 public:
  virtual ~BrokerExtension() = default;
};

// A script past busy-reply-threshold: which kind, for the -BUSY text (SCRIPT KILL or FUNCTION
// KILL is the way out).
enum class BusyScript : uint8_t { kNone, kEval, kFunction };

struct CommandStats {
  uint64_t calls = 0;
  uint64_t usec = 0;
  uint64_t rejected_calls = 0;
  uint64_t failed_calls = 0;
  // LATENCY HISTOGRAM: calls by duration, bucket k = up to 1024 * 2^k ns (latency-tracking).
  LatencyHistogram latency;
};

struct Stats {
  uint64_t total_connections_received = 0;
  uint64_t total_commands_processed = 0;
  uint64_t rejected_connections = 0;
  uint64_t keyspace_hits = 0;
  uint64_t keyspace_misses = 0;
  uint64_t total_net_input_bytes = 0;
  uint64_t total_net_output_bytes = 0;
  uint64_t total_error_replies = 0;
  uint64_t client_obl_disconnections = 0;
  uint64_t io_errors = 0;
  uint64_t stream_retention_dropped_segments = 0;  // by stream-retention-ms/-bytes
  uint64_t stream_retention_dropped_entries = 0;
  uint64_t storage_rollbacks = 0;          // failed batches undone (Broker::roll_back_storage)
  uint64_t storage_resumes = 0;            // times writes resumed after a failure (probe_storage)
  uint64_t evicted_keys = 0;               // removed under maxmemory (core/eviction.h)
  uint64_t stream_deliveries = 0;          // entries XREADGROUP delivered (new or again)
  uint64_t cold_reads_deferred = 0;        // commands parked for a cold read (cold_read.h)
  uint64_t cold_read_warms = 0;            // worker reads that warmed the page cache
  uint64_t cold_read_warm_bytes = 0;       // bytes they read
  std::map<std::string, uint64_t> errors;  // by error prefix ("ERR", "WRONGTYPE")
};

struct SlowlogEntry {
  uint64_t id;
  int64_t time_s;
  int64_t duration_us;
  std::vector<std::string> args;
  std::string addr;
  std::string name;
};

class Broker {
 public:
  explicit Broker(config::Config* config);
  ~Broker();
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // Opens the engines over `config.dir` (recovery). Throws std::runtime_error on fatal errors.
  void open();
  // Closes the engines (final flush + sync, unless they were rolled back). open() may be
  // called again (DEBUG RELOAD).
  void close();

  config::Config& config() { return *config_; }
  config::ConfigStore& config_store() { return config_store_; }
  Database& db(int index) { return *dbs_[static_cast<size_t>(index)]; }
  int db_count() const { return static_cast<int>(dbs_.size()); }
  Stats& stats() { return stats_; }

  ServerControl* control = nullptr;

  stream::StreamEngine& streams() { return *streams_; }
  pubsub::PubSubHub& pubsub() { return *pubsub_; }
  kv::KvStore& kv() { return *kv_; }
  blocking::BlockingRegistry& blocking() { return *blocking_; }

  // Clients by id (CLIENT LIST/KILL, unblocking).
  void add_client(Client* client) { clients_[client->id] = client; }
  void remove_client(Client* client);
  Client* find_client(uint64_t id);
  const std::map<uint64_t, Client*>& clients() const { return clients_; }
  uint64_t next_client_id() { return ++last_client_id_; }

  // Removes a key of any type, releasing its storage (stream logs) and journaling the removal
  // (KV). Returns whether it existed. Emits no keyspace event: callers do, with their own name.
  bool delete_key(int db, std::string_view key);
  // Releases the storage of an object already taken out of a database.
  void release_object(int db, std::string_view key, std::unique_ptr<Object> obj);
  // Signals that a key was modified by a write (WATCH invalidation).
  void key_modified(int db, std::string_view key);
  // Emits a keyspace notification if notify-keyspace-events enables its class.
  // `type_flag` is Redis's class character: 'g', '$', 'h', 't', 'x', 'e', ...
  void notify(char type_flag, std::string_view event, std::string_view key, int db);

  // Durability epochs (appendfsync always). A sync is issued with epoch issued_epoch()+1 and
  // covers every write made before it was issued; a reply that depends on unsynced writes waits
  // for pending_epoch(), the epoch of the next sync to be issued.
  uint64_t durable_epoch() const { return durable_epoch_; }
  uint64_t issued_epoch() const { return epochs_.issued; }
  uint64_t pending_epoch() const { return epochs_.issued + 1; }
  uint64_t issue_sync_epoch() { return ++epochs_.issued; }
  void set_durable_epoch(uint64_t e) { durable_epoch_ = e; }
  // The epoch whose sync makes the latest write durable: under `always`, a reply that may show
  // that write (a read's too) waits for it. Engines call note_write() for every write they
  // buffer (one store, no branch).
  uint64_t write_epoch() const { return epochs_.write; }
  void note_write() { epochs_.note_write(); }
  WriteEpoch& write_epochs() { return epochs_; }

  // Storage failure (MISCONF). set_storage_failed() refuses writes from now on and asks for a
  // rollback: before any reply of the failed batch goes out, the server calls
  // roll_back_storage(), which cuts every source back (DurableSource::roll_back, `how` depends
  // on appendfsync and on where the failure came from) and reopens the engines from disk, so
  // memory holds exactly what is stored. Writes stay refused until probe_storage() succeeds
  // (the server's cron tries once a second).
  bool storage_failed() const { return storage_failed_; }
  void set_storage_failed(std::string why);
  const std::string& storage_error() const { return storage_error_; }
  bool rollback_pending() const { return rollback_pending_; }
  // Throws std::runtime_error when the engines cannot be reopened.
  void roll_back_storage();
  // While storage is failed (and rolled back): whether the data directory takes a write and an
  // fdatasync again; if so, storage works again (returns true).
  bool probe_storage();

  // Engines with buffered writes register here; the server flushes and syncs them.
  void add_durable(DurableSource* source) { durables_.push_back(source); }
  void remove_durable(DurableSource* source);
  // Flushes every source; a failure marks storage failed (and is returned). Does nothing while
  // storage is failed: what is buffered waits until probe_storage() succeeds.
  wire::Status flush_storage();
  bool storage_needs_sync() const;
  SyncBatch collect_sync();

  // maxmemory eviction (core/eviction.h).
  EvictionState eviction;

  // Slow log.
  std::vector<SlowlogEntry> slowlog;  // newest last
  uint64_t slowlog_next_id = 0;

  // Bumped by close(): completions of work started before (a sync) must not touch new engines.
  uint64_t generation() const { return generation_; }

  // WATCH bookkeeping: clients watching (db, key); key_modified() marks them dirty.
  void watch(Client& client, int db, std::string_view key);
  void unwatch_all(Client& client);
  // Marks dirty the clients watching a key that exists in `db` (Redis's touchAllWatchedKeysInDb:
  // a WATCH on a missing key survives FLUSHDB/FLUSHALL; SWAPDB calls it before and after the
  // swap); -1: every client watching anything.
  void touch_all_watched(int db);

  // The client whose command runs now (not a script's fake client: its caller), for NOLOOP
  // tracking and for invalidations that must follow the command's own reply.
  Client* current_client = nullptr;
  Tracking& tracking() { return tracking_; }
  // MONITOR clients, in the order they asked.
  std::vector<Client*> monitors;
  // CLIENT PAUSE: until when (ms), whether only writes wait, and the clients whose commands
  // wait (in arrival order).
  int64_t pause_end_ms = 0;
  bool pause_writes_only = false;
  std::vector<Client*> paused_clients;
  // FAILOVER holds writes (as CLIENT PAUSE WRITE) until it completes or is aborted.
  bool failover_paused = false;
  bool paused() const { return pause_end_ms != 0 || failover_paused; }
  LatencyMonitor latency;

  // Scripting (broker/scripting/), created by the commands layer on first use.
  std::unique_ptr<BrokerExtension> scripting;
  // Replication (broker/replication/), created on first use.
  std::unique_ptr<BrokerExtension> replication;
  // Called when a key goes without a command removing it (expiry, lazy or active, and maxmemory
  // eviction): replication sends DEL for it.
  std::function<void(int db, std::string_view key)> key_removed;
  // Called around flush_storage's writes: with false before them, with true once they all
  // succeeded (replication keeps its offset file in step with the data).
  std::function<void(bool flushed)> flush_hook;
  // Access control (users, ACL LOG), created by the commands layer on first use.
  std::unique_ptr<BrokerExtension> acl;
  // The function libraries' code as the KV journal last recorded it: replay (below scripting)
  // fills it, the scripting layer compiles it after open() and keeps it current.
  std::vector<std::string> function_libraries;
  // Set while a script runs past busy-reply-threshold: the dispatcher answers -BUSY to every
  // command not flagged allow-busy.
  BusyScript busy_script = BusyScript::kNone;
  // SHUTDOWN NOSAVE during a busy script: the script must stop at its next hook, and its
  // unfinished writes never reach the journal.
  bool abort_script = false;

  int64_t start_time_ms = 0;
  std::string run_id;
  std::string executable;
  bool loading = false;
  bool sync_running = false;  // a sync is on the thread pool (set by the server)

 private:
  config::Config* config_;
  config::ConfigStore config_store_;
  std::vector<std::unique_ptr<Database>> dbs_;
  Stats stats_;
  std::map<uint64_t, Client*> clients_;
  uint64_t last_client_id_ = 0;
  std::unique_ptr<stream::StreamEngine> streams_;
  std::unique_ptr<pubsub::PubSubHub> pubsub_;
  std::unique_ptr<kv::KvStore> kv_;
  std::unique_ptr<blocking::BlockingRegistry> blocking_;
  std::vector<DurableSource*> durables_;
  uint64_t generation_ = 0;
  std::map<std::pair<int, std::string>, std::vector<Client*>, std::less<>> watchers_;
  Tracking tracking_{*this};
  uint64_t durable_epoch_ = 0;
  WriteEpoch epochs_;
  bool storage_failed_ = false;
  bool rollback_pending_ = false;
  bool failed_in_flush_ = false;  // the failure came from flush_storage (RollBack::kLastFlush)
  std::string storage_error_;
};

// Wall clock in ms / us.
int64_t now_ms();
int64_t now_us();

}  // namespace sluice::core
