// Replication (REPLICAOF, PSYNC, WAIT): the master's replication stream and backlog, the list of
// attached replicas, and this server's role. No sockets here: the server's MasterLink
// (server/master_link.h) is the replica's connection to its master; a replica attached to this
// master is an ordinary client connection marked `replica`.
//
// Contract.
// - The replication stream is a RESP command stream of *effects*, as Redis's: every write
//   command that ran on the master is sent once, in execution order, as the commands that
//   reproduce its result without clock or randomness:
//     * XADD with the concrete ID it created, its `IDMP pid iid` (the iid IDMPAUTO computed; a
//       duplicate as IDMP with the first entry's ID: counted, adds nothing) and its trimming as
//       `MAXLEN = <length after>` with its DELREF/ACKED policy; XTRIM the same way;
//     * an XREADGROUP delivery (also one served to a blocked client later) as
//       `XGROUP CREATECONSUMER`, one `XCLAIM key group consumer 0 id TIME <ms> RETRYCOUNT <n>
//       FORCE JUSTID LASTID <cursor>` per delivered entry and `XGROUP SETID key group <cursor>
//       ENTRIESREAD <n>`; XCLAIM / XAUTOCLAIM / XREADGROUP CLAIM the same way;
//     * a blocked BLPOP/BRPOP/BLMOVE/BLMPOP/BZPOP* served later as the plain pop it did;
//     * a script (EVAL, FCALL) or a transaction (EXEC) as the effects of the commands it ran,
//       wrapped in MULTI ... EXEC; a script that wrote nothing sends nothing;
//     * every other write command as it was sent (argv verbatim).
//   A key the master expires (lazily or actively) or evicts (maxmemory) is sent as DEL, as
//   Redis does; replicas do not evict (replica-ignore-maxmemory).
//   A `SELECT <db>` precedes a command whose database differs from the previous one's. The
//   master also sends `PING` every repl-ping-replica-period seconds and `REPLCONF GETACK *`
//   when a WAIT needs fresh acknowledgements.
// - Offsets count bytes of that stream: master_repl_offset is the number of bytes produced
//   since the replication ID was created (a full sync does not count). The backlog keeps the
//   last repl-backlog-size bytes; PSYNC <replid> <offset> gets +CONTINUE and the bytes from
//   <offset> on when replid is the current ID (or the previous one, replid2, up to
//   second_repl_offset) and <offset> is still in the backlog. Otherwise:
// - Full sync: `+FULLRESYNC <replid> <offset>`, then `$<length>\r\n` and a payload (no trailing
//   CRLF): the data directory's files as they were when every write up to <offset> had been
//   flushed (a crash-consistent copy: segments, journals, snapshots; sidecar indexes are
//   rebuilt). Payload layout, repeated: path length (u32 LE), relative path, file length
//   (u64 LE), bytes. The payload is never built in memory: at the sync point the master makes
//   a checkpoint directory (`repl-sync-ckpt-<n>/`, as KVRocks/RocksDB checkpoints): hard links
//   to the files that are only appended to or replaced whole (segments `.log`, snapshots
//   `.snap`, retired journals), copies of the others (live journals, which compaction cuts in
//   place; meta files), with each file's length at that point. The files are then read in
//   chunks as the replica's socket drains (core::OutputSource), while the master keeps serving;
//   the stream produced meanwhile waits in the replica's `pending` buffer and follows the
//   payload. The replica writes the payload to `repl-sync-incoming/` as it arrives, then closes
//   its engines, moves those files in place of its data, reopens them (recovery), and applies
//   the stream from <offset> on.
// - A replica applies the stream on a client flagged `master` (no replies, no read-only
//   check), counts the bytes of every complete command into its offset, and keeps the same
//   bytes in its own backlog, so its offset and backlog equal its master's and a replica
//   promoted by REPLICAOF NO ONE keeps the old ID as replid2: the other replicas of the old
//   master continue with PSYNC. It sends `REPLCONF ACK <offset>` every second and on GETACK.
// - The replication ID and offset are kept in `<dir>/repl-state` in step with the data, so a
//   server killed (kill -9) resumes with a partial resync: around every flush of the storage
//   (core::Broker::flush_hook) that follows new stream bytes, the file is marked "flushing"
//   (one small pwrite) before the data's writes and gets the new ID and offset once they all
//   succeeded. After a crash the data on disk is that of the last committed offset, and a
//   replica asks `PSYNC <replid> <offset+1>`; a mark left "flushing" (the crash hit the
//   flush itself) means the data may hold part of a batch: the state is not trusted (full
//   sync). A full sync marks the file before replacing the data. The file is not fsynced in
//   step with the data (that would cost fsyncs on every group commit), so it is only trusted
//   where the page cache held data and file alike: each line carries the kernel's boot ID, and
//   after a reboot (a power loss among them) a line is trusted only if a clean shutdown wrote
//   it (mark 's', fdatasynced after the data's final sync). Otherwise the state may be ahead of
//   what survived, and a partial resync would leave a gap: the replica syncs fully.
// - The line also holds the database the stream is in at its offset (applied_db()): a master
//   SELECTs only when its stream changes database, so a replica that resumes starts its master
//   client there. Only whole transactions count into the offset (a MULTI's bytes wait for its
//   EXEC), so a link lost inside one resumes at the MULTI.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/broker.h"

namespace sluice::replication {

enum class LinkStatus : uint8_t { kNone, kConnecting, kHandshake, kTransfer, kConnected };

class Replication;

// A full sync to one replica: the checkpoint's files, shipped from disk as the socket drains.
class FullSync final : public core::OutputSource {
 public:
  struct File {
    std::string name;  // relative to the data directory
    uint64_t size = 0;
  };
  FullSync(Replication& repl, std::string dir, std::vector<File> files);
  ~FullSync() override;  // removes the checkpoint directory
  FullSync(const FullSync&) = delete;
  FullSync& operator=(const FullSync&) = delete;
  uint64_t payload_bytes() const;
  void refill(core::Client& client) override;

 private:
  Replication& repl_;
  std::string dir_;
  std::vector<File> files_;
  size_t index_ = 0;
  bool header_sent_ = false;
  int fd_ = -1;
  uint64_t pos_ = 0;
};

struct AttachedReplica {
  core::Client* client = nullptr;
  std::string ip;
  int port = 0;  // REPLCONF listening-port
  bool online = false;
  uint64_t ack_offset = 0;
  int64_t ack_ms = 0;
  // While a full sync is sent: the source, and the stream produced since its sync point.
  std::unique_ptr<FullSync> sync;
  std::string pending;
};

class Replication final : public core::BrokerExtension {
 public:
  explicit Replication(core::Broker& broker);
  ~Replication() override;

  // ---- role ----
  bool is_replica() const { return !master_host.empty(); }
  std::string master_host;  // empty: this server is a master
  int master_port = 0;
  LinkStatus link = LinkStatus::kNone;
  int64_t link_down_since_ms = 0;
  int64_t last_io_ms = 0;  // the master link's last byte
  // Makes this server a master again (REPLICAOF NO ONE): the current ID becomes replid2, valid up
  // to the current offset, and a fresh ID starts (Redis's shiftReplicationId).
  void promote();
  // REPLICAOF host port: drops the attached replicas, connects (ServerControl::set_master) and
  // keeps `replicaof` in the config (CONFIG REWRITE writes it).
  void follow(const std::string& host, int port, int64_t now_ms);
  // REPLICAOF NO ONE: stops the link, promote(), clears `replicaof`.
  void unfollow();

  // ---- FAILOVER (Redis 7.0's coordinated failover, master side) ----
  // FAILOVER holds writes (Broker::failover_paused) and waits for the target replica (or the
  // first replica) to acknowledge the master's offset (waiting-for-sync); then this server
  // becomes a replica of the target and its PSYNC carries FAILOVER (failover-in-progress): the
  // target promotes itself and answers +CONTINUE (its replid2 is this server's ID). The reply
  // ends the failover and lifts the pause; a rejected PSYNC or a lost link aborts it (this
  // server is a master again). TIMEOUT ms aborts a wait that lasts longer, or with FORCE (and
  // TO) fails over anyway.
  enum class FailoverState : uint8_t { kNone, kWaitForSync, kInProgress };
  FailoverState failover_state = FailoverState::kNone;
  std::string failover_host;  // empty: the first replica that catches up
  int failover_port = 0;
  int64_t failover_end_ms = 0;  // 0: no timeout
  bool failover_force = false;
  const char* failover_state_name() const;
  void start_failover();
  // Every loop iteration: the wait ends when the target caught up (or at the timeout).
  void update_failover(int64_t now_ms);
  // The target accepted the PSYNC (+CONTINUE or +FULLRESYNC).
  void finish_failover();
  void abort_failover(const std::string& why);
  AttachedReplica* find_replica(std::string_view host, int port);

  // ---- history ----
  const std::string& replid() const { return replid_; }
  const std::string& replid2() const { return replid2_; }
  uint64_t offset() const { return offset_; }
  int64_t second_offset() const { return second_offset_; }
  uint64_t backlog_first_offset() const { return offset_ - backlog_.size() + 1; }
  uint64_t backlog_histlen() const { return backlog_.size(); }
  // A replica adopts its master's history (after FULLRESYNC, or +CONTINUE with a new ID).
  void adopt(std::string replid, uint64_t offset);
  void adopt_new_id(std::string replid);
  // Whether PSYNC replid offset can continue from the backlog.
  bool can_continue(std::string_view replid, uint64_t psync_offset) const;
  // The stream bytes from psync_offset on (can_continue() held).
  std::string backlog_from(uint64_t psync_offset) const;

  // ---- the stream ----
  // The master's command hooks (dispatch.cc): a command starts; it ends, and if nothing more
  // precise was emitted for it and it wrote, its argv is sent verbatim.
  struct Scope {
    bool emitted_before;
  };
  Scope begin_command() {
    ++depth_;
    Scope s{emitted_};
    emitted_ = false;
    return s;
  }
  void end_command(Scope scope, int db, std::span<const std::string_view> argv, bool wrote);
  // Sends the effects of one command (several are wrapped in MULTI/EXEC unless inside one).
  void emit(int db, std::span<const std::string_view> argv);
  void emit_all(int db, const std::vector<std::vector<std::string>>& commands);
  // A key expired on this master: DEL goes into the stream, where the expiry happened (before the
  // effects of a command that found it expired). Does not count as the command's own effect.
  void expired(int db, std::string_view key);
  // A replica: bytes of its master's stream it applied, kept and passed on verbatim, after
  // which the stream is in database `db` (the master client's). Only whole commands outside a
  // transaction count (MasterLink holds a MULTI's bytes back until its EXEC), as Redis's
  // reploff: a link lost inside one resumes from its MULTI.
  void feed_raw(std::string_view bytes, int db);
  // The database the master's stream is in at offset(): a partial resync starts the new master
  // client there, since the master sends no SELECT until its stream changes database (Redis
  // keeps it in the cached master, and in the RDB's repl-stream-db across a restart).
  int applied_db() const { return applied_db_; }
  // A replica: the ID and start of the last master client, which a partial resync keeps.
  uint64_t master_client_id = 0;
  int64_t master_client_created_ms = 0;
  // Whether anything listens (the master keeps a backlog once a replica attached, as Redis).
  bool active() const { return !is_replica() && backlog_active_; }

  // ---- attached replicas (master side) ----
  std::vector<AttachedReplica> replicas;
  AttachedReplica* find_replica(const core::Client& client);
  // PSYNC from `client`: writes +CONTINUE or +FULLRESYNC (and the payload) to its output and
  // attaches it. Returns whether it was a partial resync.
  bool psync(core::Client& client, std::string_view replid, std::string_view offset_text);
  void detach(core::Client& client);
  // The full sync to `client` sent its last byte (FullSync::refill): the stream it missed
  // follows and the replica is online. Destroys the FullSync.
  void sync_sent(core::Client& client);
  // It could not read its files: the replica is dropped (it will ask again).
  void sync_failed(core::Client& client, const std::string& why);
  // <dir>/repl-state (see the contract): read at startup (adopted when committed), written by
  // the flush hook, marked before a full sync replaces the data, written at shutdown.
  void load_state();
  // `at_shutdown`: the data's final sync is done, so the line is made durable and trusted after
  // a reboot too.
  void save_state(bool at_shutdown = false) {
    state_held_ = false;
    write_state(at_shutdown ? 's' : 'c');
  }
  // A full sync is coming: "flushing" until save_state() once the new data is in place.
  void mark_state_unsafe() {
    state_held_ = true;
    write_state('i');
  }
  // Removes the checkpoints and incoming payloads a previous run left (startup).
  void remove_stale_checkpoints();
  // Replicas that acknowledged within `max_lag_s` seconds (min-replicas-to-write).
  int good_replicas(int64_t now_ms, int64_t max_lag_s) const;
  // Replicas whose acknowledged offset reached `offset`.
  int replicas_acked(uint64_t offset) const;
  // Asks every replica for an ACK (WAIT): `REPLCONF GETACK *` into the stream.
  void request_acks();
  // PING into the stream (the server's cron, every repl-ping-replica-period).
  void ping_replicas();

  uint64_t sync_full = 0;
  uint64_t sync_partial_ok = 0;
  uint64_t sync_partial_err = 0;

 private:
  void append(std::string_view bytes);
  void append_command(std::span<const std::string_view> argv);
  void select_db(int db);
  void open_multi_if_nested();
  void write_state(char mark);
  void on_flush(bool flushed);
  // A checkpoint of the data directory for a full sync (see the contract above).
  std::unique_ptr<FullSync> make_checkpoint();

  core::Broker& broker_;
  std::string replid_;
  std::string replid2_ = std::string(40, '0');
  uint64_t offset_ = 0;
  int64_t second_offset_ = -1;
  std::string backlog_;  // the newest bytes, at most repl-backlog-size
  bool backlog_active_ = false;
  int stream_db_ = -1;  // the database the stream last SELECTed
  int applied_db_ = 0;  // a replica: see applied_db()
  int depth_ = 0;       // commands running (nested: EXEC, scripts)
  bool emitted_ = false;
  bool multi_open_ = false;
  uint64_t checkpoints_ = 0;
  int state_fd_ = -1;
  uint64_t state_offset_ = 0;  // the offset the file holds, committed
  std::string state_id_;
  bool state_marked_ = false;  // the file says "flushing"
  bool state_held_ = false;    // a full sync is being received
};

// The broker's replication state (created on first use).
Replication& of(core::Broker& broker);
// A random 40-hex ID (replication IDs).
std::string random_id();

}  // namespace sluice::replication
