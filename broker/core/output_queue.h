// OutputQueue: the bytes owed to one client, in order. Replies are appended to a staging
// string (the ReplyWriter's buffer); a shared frame (a PUBLISH message serialised once for all
// receivers) or a durability boundary closes the staging bytes into a chunk first, so order is
// always the order of appends.
//
// Durability gate: under `appendfsync always` a reply that depends on unsynced data is tagged
// with the epoch of the sync that will make it durable; releasable() stops at the first chunk
// whose epoch is above the durable epoch.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::core {

class OutputQueue {
 public:
  // The buffer replies are written into. Stable for the queue's lifetime.
  std::string* staging() { return &staging_; }

  // A reply whose length prefix is known only after its body (XRANGE's entry count):
  // open_prefix() reserves room for the prefix at the end of staging and returns a mark;
  // close_prefix() writes the prefix right before the body and drops the unused room without
  // moving the body (the unsent bytes before it move instead: usually none, or a few short
  // pipelined replies). abort_prefix() drops the prefix and everything after it.
  static constexpr size_t kPrefixRoom = 32;
  size_t open_prefix();
  void close_prefix(size_t mark, std::string_view prefix);
  void abort_prefix(size_t mark) { staging_.resize(mark); }

  // Unsent staging bytes, and truncation back to such a count (a reply dropped by CLIENT
  // REPLY OFF). Counts stay valid across close_prefix(), which may move earlier bytes.
  size_t staging_pending() const { return staging_.size() - staging_offset_; }
  // The unsent staging bytes (a script reads its command's reply here).
  std::string_view staging_view() const {
    return std::string_view(staging_).substr(staging_offset_);
  }
  void truncate_staging(size_t pending);

  // Appends a shared, immutable frame (no copy).
  void append_shared(std::shared_ptr<const std::string> frame);
  // Bytes appended from now on are released only once durable_epoch >= epoch.
  void hold(uint64_t epoch);

  // Total bytes queued (what output-buffer limits count).
  uint64_t bytes() const { return chunk_bytes_ + staging_.size() - staging_offset_; }
  bool empty() const { return chunks_.empty() && staging_.size() == staging_offset_; }

  // Fills iov with the bytes releasable at `durable_epoch`, up to max_iov entries; returns
  // the byte count. Does not consume.
  size_t releasable(uint64_t durable_epoch, std::vector<iovec>* iov, size_t max_iov) const;
  // Whether anything is waiting only for a later durable epoch.
  bool waiting_for_durability(uint64_t durable_epoch) const;
  // Moves the staging bytes into a chunk so every queued byte has a stable address (before an
  // asynchronous write that keeps pointers into the queue).
  void seal_staging();
  // Drops `n` bytes from the front (they were written).
  void consume(size_t n);
  void clear();
  // Drops everything, cheaply when only staging bytes are queued (a script's command replies).
  void reset() {
    if (chunks_.empty()) {
      staging_.clear();
      staging_offset_ = 0;
    } else {
      clear();
    }
  }

  // Storage failed (Server::roll_back_storage): the replies of the failed batch, not sent yet,
  // become `error` replies (the text without '-' and CRLF), one for each; RESP3 push messages
  // and shared frames (published messages, RESP2 ones too) among them stay as they are. fail_held()
  // takes the replies held for a durable epoch above `durable_epoch` (appendfsync always);
  // fail_uncommitted() those queued since the last commit(), which the server calls once the writes
  // of an iteration are stored (otherwise).
  void commit() { committed_ = consumed_total_ + bytes(); }
  void fail_held(uint64_t durable_epoch, std::string_view error);
  void fail_uncommitted(std::string_view error);

 private:
  struct Chunk {
    std::string owned;
    std::shared_ptr<const std::string> shared;
    size_t offset = 0;  // bytes already written
    uint64_t epoch = 0;
    const std::string& data() const { return shared ? *shared : owned; }
    size_t remaining() const { return data().size() - offset; }
  };

  std::deque<Chunk> chunks_;
  uint64_t chunk_bytes_ = 0;  // remaining bytes in chunks_
  std::string staging_;
  size_t staging_offset_ = 0;  // bytes of staging_ already written
  uint64_t staging_epoch_ = 0;
  // Positions count every byte ever queued: consumed_total_ is that of the first unsent byte.
  uint64_t consumed_total_ = 0;
  uint64_t committed_ = 0;

  // Replaces the replies from position `from` (a reply boundary) on, as fail_held() says.
  void fail_from(uint64_t from, std::string_view error);
};

}  // namespace sluice::core
