// SegmentedLog: one stream's entries on disk, as an ordered log of keyed records split into
// segment files. Knows nothing of RESP or libuv; the owner supplies the payload bytes and a
// function that recovers a record's key (StreamId) from its payload when scanning.
//
// Directory layout (one directory per log):
//   <dir>/<first-ms:020>-<first-seq:020>.log   segments, name order == key order
//   <dir>/<same>.idx                           sparse index sidecar of a sealed segment
// A sealed segment's .log may be compressed (options.compress_sealed, compressed_segment.h);
// offsets everywhere (index, sidecar) stay those of the raw frames.
//
// Contract:
// - append() keys strictly increase. Bytes are buffered in memory; flush() writes them to the
//   OS (one write per segment touched); sync() makes everything flushed durable (fdatasync).
//   The fdatasyncs may run on another thread while the loop keeps appending: take
//   sync_targets() on the loop, fdatasync its fds on a worker, then mark_synced() on the loop.
//   Every method runs on the owner's (loop) thread; only those fdatasync calls run elsewhere.
// - Every appended record is readable at once (from the unflushed buffer or the hot tail cache
//   or the file): reads never wait for flush().
// - A segment rolls when it passes segment_bytes. Sealing is asynchronous: the full segment
//   stays among the sync targets (descriptor open) until a sync covers it; then its index
//   sidecar is written. Under appendfsync `no`, call sync() (or a sync_targets() round) now and
//   then so sealed segments get their sidecars; without one they are re-scanned on recovery.
// - Recovery (segment_recovery.h): a segment with a valid sidecar is trusted unscanned; one
//   without, followed by a segment with one, is checked strictly (damage is kCorruption, or
//   quarantined and repaired); the segments after the last valid sidecar are checked and
//   repaired: torn writes at their ends cut, damaged ranges copied aside and cut out, every
//   intact record kept. Damage first met by a read is skipped the same way (finish_recovery()).
// - After a write or fdatasync error the log is failed(): append/flush/sync return
//   kStorageFailed, reads keep working (appended records stay readable from memory).
// - drop_before(key) unlinks whole segments whose last key < key; records of the segment that
//   contains `key` stay on disk (the owner keeps its logical start). The directory fsync for the
//   unlink joins the next sync (targets include the directory); clear() and destroy() fsync the
//   directory before returning. The unlinks may reach the disk before the owner's own record of
//   its new start does: after a crash the owner may find first_key() past its start.
// - Reads: a forward scan reads file bytes into a buffer reused across scans (one per thread; a
//   scan nested in another's visitor gets its own), sized by the scan's expected_bytes hint.
// - Memory: per segment, metadata plus one sparse index entry per ~index_interval_bytes; plus
//   the hot tail cache (tail_cache_bytes, shared budget per log).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "wire/status.h"
#include "wire/stream_id.h"

namespace sluice::storage {

using wire::Status;
using wire::StreamId;

struct LogOptions {
  uint64_t segment_bytes = 64ull * 1024 * 1024;  // stream-segment-bytes
  uint32_t index_interval_bytes = 32 * 1024;     // one sparse index entry per this many bytes
  uint32_t max_record_bytes = 512u * 1024 * 1024 + 4096;
  uint64_t tail_cache_bytes = 256 * 1024;  // recent records kept in memory for reads
  // recovery-on-corruption: false (refuse) fails open() on damage in a sealed segment; true
  // (quarantine) copies the damaged bytes aside and opens without them.
  bool quarantine_corrupt = false;
  // stream-segment-compression: a sealed segment's file is replaced, off the loop thread, by a
  // compressed copy in independently compressed blocks of about compression_block_bytes
  // (compressed_segment.h); reads of either format are the same. Level: zstd's (1-19).
  bool compress_sealed = false;
  int compression_level = 3;
  uint32_t compression_block_bytes = 64 * 1024;
};

// Returns the key of a record from its payload; false if the payload is not a valid record.
using KeyOfFn = std::function<bool(std::string_view payload, StreamId* key)>;

// Keys whose records were lost to damage: every record with after < key < before is gone (after
// is 0-0 when nothing intact precedes the damage, before is StreamId::max() when nothing follows).
struct KeyGap {
  StreamId after;
  StreamId before;
};

// What recovery found, for logging and tests.
struct RecoveryReport {
  uint64_t segments = 0;
  uint64_t records = 0;
  uint64_t truncated_bytes = 0;  // torn writes cut from the ends of unsealed segments
  std::string truncated_detail;  // human-readable: file, offset, why (the last damage seen)
  uint64_t rebuilt_indexes = 0;
  std::vector<std::string> corrupt;  // segments where corruption was found (repaired or fatal)
  uint64_t corrupt_ranges = 0;       // damaged ranges that were not torn writes
  uint64_t lost_records = 0;         // records they held (from frame headers, at least 1 each)
  uint64_t quarantined_bytes = 0;    // copied into quarantine files (see quarantine.h)
  std::vector<std::string> quarantine_files;
  std::vector<KeyGap> lost;     // where records are missing (torn writes and corruption)
  uint64_t empty_segments = 0;  // 0-byte segment files removed
};

class SegmentedLog {
 public:
  // Opens (creating the directory if needed) and recovers the log in `dir`. Fails with
  // kCorruption for a corrupt sealed segment unless options.quarantine_corrupt.
  static wire::Result<std::unique_ptr<SegmentedLog>> open(std::string dir, LogOptions options,
                                                          KeyOfFn key_of,
                                                          RecoveryReport* report = nullptr);
  ~SegmentedLog();
  SegmentedLog(const SegmentedLog&) = delete;
  SegmentedLog& operator=(const SegmentedLog&) = delete;

  // Appends a record with `key` (> last_key()). Returns kStorageFailed after an I/O failure.
  Status append(StreamId key, uint8_t type, std::string_view payload);

  // Visits records with from <= key <= to in key order (reverse: descending). The visitor
  // returns false to stop. Payload views are valid only during the callback. Records behind
  // drop_before() may still be visited if their segment survives; the owner filters by its
  // logical start.
  // expected_bytes is a hint for forward scans (0: none): about how many bytes of records the
  // visitor will take before it stops, so that one read from the file usually serves the whole
  // scan instead of reads that start small and double. It changes no result, only read sizes.
  using Visitor = std::function<bool(StreamId key, uint8_t type, std::string_view payload)>;
  Status scan(StreamId from, StreamId to, bool reverse, const Visitor& visit,
              uint64_t expected_bytes = 0) const;

  // Finds the record with exactly `key`.
  Status find(StreamId key, const Visitor& visit) const;

  void drop_before(StreamId key);
  // Unlinks every segment: the log is empty afterwards (last_key() stays until the next append).
  Status clear();
  // Deletes the whole directory (the stream was deleted). The object must not be used after.
  Status destroy();

  // Write buffered bytes to the OS (called once per loop iteration). Returns kStorageFailed
  // (and the log turns failed) on a write error; already written data is untouched.
  Status flush();
  bool has_unflushed() const;
  bool needs_sync() const;  // flushed bytes not yet fdatasynced
  // Descriptors the next flush may open (open_files.h): the tail segment's if the budget closed
  // it, or a new segment's and its directory's.
  size_t descriptors_to_open() const;
  // The fds to fdatasync for everything flushed so far; call mark_synced(token) on the loop
  // thread after they were synced. Lets the owner run fdatasync on the thread pool.
  // The fds stay open until mark_synced(token) or mark_sync_failed(token), even if the log
  // seals or drops their segments meanwhile. `hold` also keeps them open while it lives, even
  // past the log's destruction: keep it until the fdatasyncs are done if the log may go first.
  struct SyncTargets {
    std::vector<int> fds;
    uint64_t token = 0;
    std::shared_ptr<const void> hold;
  };
  // Empty fds (token 0) when nothing needs syncing.
  SyncTargets sync_targets();
  void mark_synced(uint64_t token);
  // A worker's fdatasync of these targets failed: the log turns failed().
  void mark_sync_failed(uint64_t token, const Status& cause);
  Status sync();  // flush + fdatasync in the calling thread (tests, shutdown)
  // Storage failed and what was written since must go: cuts the files back as `cut` says
  // (atomic_file.h), removing segment files created since, and drops buffered appends. The log
  // is failed() afterwards and writes nothing more, not even from its destructor: reopen it to
  // go on. Returns the first error met (it keeps cutting the other files).
  Status roll_back(CutTo cut);

  // Damage met by reads. Until finish_recovery() a read through a damaged record of a file fails
  // with kCorruption unless options.quarantine_corrupt; after it (and always under quarantine)
  // the read skips the damaged range: every intact record is still visited. The range's bytes
  // are copied aside (quarantine.h) and reported (ERROR log, corruption_stats()), the segment's
  // record count drops, and a sealed segment's .idx is removed so the next open checks the file
  // again (and repairs it, or refuses to start under refuse). The listener hears of the keys
  // lost, after the damage is recorded (it may read the log).
  using LossListener = std::function<void(std::span<const KeyGap> gaps)>;
  void finish_recovery();
  void set_loss_listener(LossListener listener);
  // Every gap found since open, by recovery and by reads.
  const std::vector<KeyGap>& lost_gaps() const;

  bool failed() const;
  bool empty() const;
  StreamId first_key() const;  // of the oldest surviving segment; 0-0 when empty
  StreamId last_key() const;   // largest key ever appended (survives drop/clear), 0-0 if none
  // Bytes of all segments, including appended but unflushed (a compressed segment counts its
  // file's size).
  uint64_t disk_bytes() const;
  // Bytes of all segments' records uncompressed (disk_bytes() when nothing is compressed).
  uint64_t record_bytes() const;
  // Takes note of compressions finished since (their files were replaced on disk already): the
  // segments' sizes and descriptors follow. Called on flushes, syncs and scans; tests call it.
  void poll_compressions();
  size_t segment_count() const;
  // One segment's keys, record count and size (bytes, including unflushed appends), for
  // decisions over whole segments such as retention. i < segment_count(); 0 is the oldest.
  struct SegmentInfo {
    StreamId first_key;
    StreamId last_key;
    uint64_t records = 0;
    uint64_t bytes = 0;  // on disk: a compressed segment counts its file's size
  };
  SegmentInfo segment_info(size_t i) const;
  uint64_t memory_bytes() const;  // indexes + cache, for INFO
  const std::string& dir() const;

 private:
  struct Impl;
  explicit SegmentedLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::storage
