// Low-level file helpers shared by the segmented log and the journal: whole-buffer positioned
// writes and reads, fdatasync, and the storage logger. write_file_atomic, read_file and sync_dir
// are declared in journal.h (their public home) and implemented in atomic_file.cc.
//
// Test hook: every data write, read and fdatasync made by storage goes through io_hooks().
// Tests may replace a function pointer to inject EIO/ENOSPC or count reads (and must restore
// it); production code never changes them. The hooks are plain globals: swap them only while no
// storage I/O is running.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "wire/status.h"

namespace spdlog {
class logger;
}

namespace sluice::storage {

// How far roll_back() (SegmentedLog, Journal) cuts a file after storage failed.
enum class CutTo : uint8_t {
  kSynced,           // to what fdatasync made durable (appendfsync always)
  kBeforeLastFlush,  // to its size before the latest flush(), whose batch failed
  kNothing,          // keep the file as it is; only drop what is buffered
};

struct IoHooks {
  ssize_t (*pwrite)(int fd, const void* buf, size_t n, off_t offset);
  ssize_t (*pread)(int fd, void* buf, size_t n, off_t offset);
  int (*fdatasync)(int fd);
};
IoHooks& io_hooks();
// Restores the real system calls (for tests).
void reset_io_hooks();

// The "storage" logger, or spdlog's default logger when none is registered.
spdlog::logger& storage_log();

// Writes all of `bytes` at `offset`, retrying short writes and EINTR. On failure returns kIo
// with `what` and strerror; *written holds how many bytes reached the file.
wire::Status pwrite_all(int fd, std::string_view bytes, uint64_t offset, const std::string& what,
                        uint64_t* written = nullptr);
// Reads up to n bytes at offset (fewer only at end of file). Returns kIo on error.
wire::Status pread_full(int fd, char* buf, size_t n, uint64_t offset, size_t* got,
                        const std::string& what);
// fdatasync through the hook; kIo on error.
wire::Status datasync(int fd, const std::string& what);
// Writes a small file by tmp + rename without any fsync: for sidecars whose content is
// self-verifying and only describes data that is already durable (sparse index files).
wire::Status write_file_replace(const std::string& path, std::string_view bytes);
// Whether `dir` takes writes again after a failure: writes `bytes` bytes to a probe file in it,
// fdatasyncs them (through io_hooks()), and removes the file. OK if all of that worked.
wire::Status probe_writable(const std::string& dir, size_t bytes);
// Replaces `path` durably with what `fill` writes: `fill(fd, tmp_path)` writes the new content
// into <path>.tmp, which is then fdatasynced, renamed over `path`, and the directory fsynced. On
// success *new_fd is the new file's descriptor (read-write, the caller's to close); on failure
// the .tmp is gone and `path` is as it was (unless only the directory sync failed).
wire::Status replace_file_durably(
    const std::string& path,
    const std::function<wire::Status(int fd, const std::string& tmp)>& fill, int* new_fd);
// mkdir -p.
wire::Status make_dirs(const std::string& dir);
// The directory part of a path ("." when it has none).
std::string parent_dir(const std::string& path);
// "<what>: <strerror(err)>" as a kIo status.
wire::Status io_error(const std::string& what, int err);

}  // namespace sluice::storage
