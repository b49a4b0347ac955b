// Server: the libuv loop, listeners, the before-poll hook (serve blocked clients, flush storage,
// group-commit fsync on the thread pool, write replies), cron, signals and shutdown.
#pragma once

#include <uv.h>

#include <atomic>
#include <deque>
#include <memory>
#include <span>
#include <string>
#include <unordered_set>
#include <vector>

#include "broker/core/broker.h"

namespace sluice::console {
class ConsoleApi;
}
struct ssl_ctx_st;

namespace sluice::server {

namespace http {
struct Request;
}

class Connection;
class SendRing;
class MetricsHttp;
class MasterLink;
class TlsContext;

class Server final : public core::ServerControl {
 public:
  explicit Server(config::Config* config);
  ~Server() override;

  // Opens storage, binds, and runs until shutdown. Returns the process exit code.
  int run();

  core::Broker& broker() { return broker_; }
  uv_loop_t* loop() { return &loop_; }

  // Connection bookkeeping.
  void schedule_flush(Connection* conn);
  void schedule_close(Connection* conn);
  void connection_closed(Connection* conn);
  // A connection stopped taking commands because the storage descriptor budget is used up; it
  // goes on once a sync has made files idle.
  void defer_for_files(Connection* conn);
  // A connection whose commands just queued output on other connections (a publisher).
  void note_fanout_source(Connection* conn);
  // Output queued on a connection by another one's command (a pub/sub delivery).
  void count_foreign_output() { ++foreign_outputs_; }
  uint64_t foreign_outputs() const { return foreign_outputs_; }
  // A connection read request bytes (busy polling keeps going while they come).
  void count_input() { ++inputs_; }
  // Loop iterations so far (connections bound how much they read in one).
  uint64_t iteration() const { return iterations_; }

  // core::ServerControl
  void request_shutdown(bool save) override;
  void serve_while_busy(core::Client* running) override;
  void kill_client(core::Client& client) override;
  int listening_port() const override { return port_; }
  // Connections, and the master client while a replica's link streams (as Redis counts it).
  uint64_t connected_clients() const override;
  const char* reply_io() const override { return ring_ ? "io_uring" : "writev"; }
  int64_t uptime_ms() const override;
  void sleep_ms(int64_t ms) override;
  std::string reload() override;
  void set_master(const std::string& host, int port) override;

  // Replication (master_link.h): the link to the master is gone (the cron reconnects).
  void master_link_closed(MasterLink* link);
  // The client TLS context a replica connects to its master with (tls-replication), built from
  // the tls-* options; null with *err set when their files do not load.
  ssl_ctx_st* client_tls_context(std::string* err);
  // Replaces the data directory's contents with the files of a full sync, received into
  // `incoming` (a directory inside it), and reopens the engines. Returns an error text (empty
  // on success).
  std::string install_synced_data(const std::string& incoming);
  std::string apply_tls_config() override;
  bool warm_cold_read(uint64_t client_id, int fd, uint64_t offset, uint64_t length) override;

 private:
  static void on_connection(uv_stream_t* server, int status);
  static void on_tls_connection(uv_stream_t* server, int status);
  void accept_on(uv_stream_t* listener, bool tls);
  static void on_prepare(uv_prepare_t* h);
  static void on_cron(uv_timer_t* h);
  static void on_signal(uv_signal_t* h, int signum);
  static void on_fsync_timer(uv_timer_t* h);
  static void on_block_timer(uv_timer_t* h);
  static void on_console_timer(uv_timer_t* h);
  // A request to the web console (any metrics-port path but /metrics): its user, then the API.
  std::string console_response(const http::Request& request);

  void before_poll();
  void write_replies();
  void write_batch(std::span<Connection* const> batch);
  bool reread_sources(const std::vector<Connection*>& sources);
  void start_sync(bool for_durability);
  // Cold reads (commands/cold_read.h): bytes to read into the page cache on the thread pool.
  struct ColdWarm {
    uint64_t client_id = 0;  // whose command runs again when they are read (0: none)
    int fd = -1;             // owned
    uint64_t offset = 0;
    uint64_t length = 0;
  };
  void start_warm(ColdWarm job);
  // Storage failed: undoes the failed batch (Broker::roll_back_storage) and turns its replies
  // into -MISCONF errors before any of them is sent. Under `always` it waits for a sync in
  // flight to finish first (its replies are held anyway).
  void roll_back_storage();
  // Tells every queue that the replies queued so far belong to stored writes (not always).
  void commit_replies(std::span<Connection* const> conns);
  void cron();
  void arm_block_timer();
  void begin_shutdown();
  void admit(Connection* conn);
  bool listen_all();
  // Binds `port` on every `bind` address; the actual port (for port 0 in tests) in *bound.
  bool listen_on(int port, bool tls, int* bound);
  // CONFIG SET tls-port: binds the new port, then closes the old listeners (kept on failure).
  std::string relisten_tls();
  void close_listeners(std::vector<std::unique_ptr<uv_tcp_t>>* listeners);
  void wait_for_worker();
  void replication_cron(int64_t now);
  // replid and offset of a replica's data, kept across a clean restart (partial resync).
  void save_repl_state();
  void load_repl_state();

  config::Config* config_;
  core::Broker broker_;
  uv_loop_t loop_;
  std::vector<std::unique_ptr<uv_tcp_t>> listeners_;
  std::vector<std::unique_ptr<uv_tcp_t>> tls_listeners_;
  std::unique_ptr<TlsContext> tls_;  // the tls-* context; null without tls-port or metrics-tls
  std::unique_ptr<TlsContext> client_tls_;  // tls-replication: the master link's
  int tls_port_ = 0;
  std::unique_ptr<MetricsHttp> metrics_;          // metrics-port; null when 0
  std::unique_ptr<console::ConsoleApi> console_;  // the web console on metrics-port; null when 0
  uv_timer_t console_timer_;                      // once per second: console_->tick()
  uv_prepare_t prepare_;
  std::unique_ptr<SendRing> ring_;  // batched reply sends; null: writev per connection
  uv_idle_t spin_;                  // active: the next poll does not wait (output is pending)
  uv_timer_t cron_;
  uv_timer_t fsync_timer_;
  uv_timer_t block_timer_;
  uv_signal_t sigterm_;
  uv_signal_t sigint_;
  std::unordered_set<Connection*> connections_;
  std::vector<Connection*> flush_list_;
  std::vector<Connection*> close_list_;
  std::vector<Connection*> sources_;  // fan-out sources of this iteration
  uint64_t foreign_outputs_ = 0;
  uint64_t inputs_ = 0;
  uint64_t inputs_seen_ = 0;
  uint64_t iterations_ = 0;
  int64_t last_input_us_ = 0;
  bool dense_input_ = false;  // the last two iterations with input were close together
  int port_ = 0;
  bool shutting_down_ = false;
  bool shutdown_after_script_ = false;  // SHUTDOWN NOSAVE arrived while a script was busy
  void accept_fd(int fd, bool tls);
  bool sync_running_ = false;
  // The running sync's batch and error (set while sync_running_), so that a rollback can let go
  // of the files it holds before reloading the data (roll_back_storage).
  core::SyncBatch* running_batch_ = nullptr;
  const int* running_error_ = nullptr;
  std::vector<Connection*> files_deferred_;  // defer_for_files()
  uint64_t fsync_ticks_ = 0;
  int64_t last_probe_ms_ = 0;  // storage failed: when cron last tried a probe write
  std::atomic<bool> worker_busy_{false};
  // At most kMaxColdWarms warm reads use the thread pool at once, so that an fdatasync always
  // finds a free thread (libuv has 4); the others wait here in order.
  static constexpr size_t kMaxColdWarms = 2;
  // A read-ahead refused as cold has a worker read this much from where it stopped.
  static constexpr uint64_t kReadAheadWarmBytes = 4 << 20;
  size_t cold_warms_running_ = 0;
  std::deque<ColdWarm> cold_warms_waiting_;
  int64_t started_ms_ = 0;
  int exit_code_ = 0;
  MasterLink* master_link_ = nullptr;
  int64_t last_repl_cron_ms_ = 0;
  int64_t last_repl_ping_ms_ = 0;
  friend class Connection;
};

}  // namespace sluice::server
