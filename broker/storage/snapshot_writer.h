// SnapshotWriter: writes the file named by Journal::begin_snapshot() — its header, then framed
// records — for the process that snapshots a journal's state, which may be a forked child.
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

  // Creates (or truncates) target.path and writes its header.
  Status open(const Journal::SnapshotTarget& target);
  // One record of `type` whose payload is `head` followed by `body`.
  Status append(uint8_t type, std::string_view head, std::string_view body = {});
  // Writes what is buffered, fdatasyncs and closes. The file is complete when this returns OK.
  Status finish();

 private:
  Status write(std::string_view bytes);
  Status write_buffer();

  int fd_ = -1;
  std::string path_;
  std::string buffer_;
  uint64_t offset_ = 0;  // file bytes written
};

}  // namespace sluice::storage
