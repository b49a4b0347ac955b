// SnapshotWriter: writes the file named by Journal::begin_snapshot() — its header, then framed
// records — for the process that snapshots a journal's state, which may be a forked child, and
// renames it into place when it is complete and durable.
// Small records are gathered into one buffer; a big payload goes from the caller's bytes
// straight to the file, so a giant value is never copied to be snapshotted. Safe after fork():
// no logging, no locks, nothing shared with the parent but the bytes it reads.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "broker/storage/journal.h"
#include "wire/status.h"

namespace sluice::storage {

class SnapshotWriter {
 public:
  SnapshotWriter() = default;
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;
  ~SnapshotWriter();

  // Creates (or truncates) target.tmp_path and writes its header.
  Status open(const Journal::SnapshotTarget& target);
  // One record of `type` whose payload is `head` followed by `body`.
  Status append(uint8_t type, std::string_view head, std::string_view body = {});
  // Writes what is buffered, fdatasyncs, closes, renames the file to target.final_path and
  // fsyncs the directory. The snapshot is in place and durable when this returns OK.
  Status finish();
  // Bytes of the file so far.
  uint64_t bytes() const { return offset_ + buffer_.size(); }

 private:
  Status write(std::string_view bytes);
  Status write_buffer();

  int fd_ = -1;
  Journal::SnapshotTarget target_;
  std::string path_;
  std::string buffer_;
  uint64_t offset_ = 0;  // file bytes written
};

}  // namespace sluice::storage
