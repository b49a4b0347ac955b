// File helpers: positioned writes and reads, atomic whole-file replacement, directory fsync.
#include "broker/storage/atomic_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "broker/storage/cold_read.h"
#include "broker/storage/journal.h"

namespace sluice::storage {
namespace {

IoHooks g_hooks{&::pwrite, &::pread, &::fdatasync};

class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

}  // namespace

IoHooks& io_hooks() { return g_hooks; }
void reset_io_hooks() { g_hooks = IoHooks{&::pwrite, &::pread, &::fdatasync}; }

spdlog::logger& storage_log() {
  auto named = spdlog::get("storage");
  if (named) return *named;
  return *spdlog::default_logger_raw();
}

Status io_error(const std::string& what, int err) {
  return Status(wire::ErrorCode::kIo, what + ": " + std::strerror(err));
}

Status pwrite_all(int fd, std::string_view bytes, uint64_t offset, const std::string& what,
                  uint64_t* written) {
  size_t done = 0;
  Status status;
  while (done < bytes.size()) {
    ssize_t n = g_hooks.pwrite(fd, bytes.data() + done, bytes.size() - done,
                               static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      status = io_error("write " + what, n < 0 ? errno : ENOSPC);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (written != nullptr) *written = done;
  return status;
}

Status pread_full(int fd, char* buf, size_t n, uint64_t offset, size_t* got,
                  const std::string& what) {
  size_t done = 0;
  while (done < n) {
    if (NoWaitReads::active()) [[unlikely]] {
      // Only what the page cache holds (cold_read.h); a short read here may be the cached part.
      ssize_t r = -1;
      errno = EAGAIN;
      if (!NoWaitReads::missed_now()) {
        // No kernel read-ahead from here: RWF_NOWAIT does not wait for data, but it still
        // starts read-ahead I/O in the caller, which can block; workers read what is missing.
        if (done == 0) ::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM);
        iovec iov{buf + done, n - done};
        r = ::preadv2(fd, &iov, 1, static_cast<off_t>(offset + done), RWF_NOWAIT);
      }
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EOPNOTSUPP || errno == ENOSYS)) {
        NoWaitReads::unsupported();
        continue;
      }
      if (r < 0 && errno == EAGAIN) {
        NoWaitReads::note_miss(fd, offset + done, n - done);
        *got = done;
        return Status(wire::ErrorCode::kIo, "read " + what + ": not in the page cache");
      }
      if (r < 0) return io_error("read " + what, errno);
      if (r == 0) break;
      done += static_cast<size_t>(r);
      continue;
    }
    ssize_t r = g_hooks.pread(fd, buf + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error("read " + what, errno);
    if (r == 0) break;
    done += static_cast<size_t>(r);
  }
  *got = done;
  return Status::ok();
}

Status datasync(int fd, const std::string& what) {
  if (g_hooks.fdatasync(fd) != 0) return io_error("fdatasync " + what, errno);
  return Status::ok();
}

std::string parent_dir(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

Status make_dirs(const std::string& dir) {
  for (size_t pos = 1; pos <= dir.size(); ++pos) {
    if (pos != dir.size() && dir[pos] != '/') continue;
    std::string prefix = dir.substr(0, pos);
    if (::mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
      return io_error("mkdir " + prefix, errno);
    }
  }
  return Status::ok();
}

Status write_file_replace(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return io_error("open " + tmp, errno);
  Status st = pwrite_all(fd.get(), bytes, 0, tmp);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::close(fd.release()) != 0) return io_error("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename " + tmp, errno);
  return Status::ok();
}

Status probe_writable(const std::string& dir, size_t bytes) {
  const std::string path = dir + "/.sluice-write-probe";
  ScopedFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return io_error("create " + path, errno);
  Status st = pwrite_all(fd.get(), std::string(bytes, '\0'), 0, path);
  if (st) st = datasync(fd.get(), path);
  ::unlink(path.c_str());
  return st;
}

Status write_file_atomic(const std::string& path, std::string_view bytes) {
  const std::string tmp = path + ".tmp";
  ScopedFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) return io_error("open " + tmp, errno);
  Status st = pwrite_all(fd.get(), bytes, 0, tmp);
  if (st) st = datasync(fd.get(), tmp);
  if (!st) {
    ::unlink(tmp.c_str());
    return st;
  }
  if (::close(fd.release()) != 0) return io_error("close " + tmp, errno);
  if (::rename(tmp.c_str(), path.c_str()) != 0) return io_error("rename " + tmp, errno);
  return sync_dir(parent_dir(path));
}

wire::Result<std::string> read_file(const std::string& path) {
  ScopedFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) return Status(wire::ErrorCode::kNotFound, path);
    return io_error("open " + path, errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return io_error("stat " + path, errno);
  std::string out(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  Status status = pread_full(fd.get(), out.data(), out.size(), 0, &got, path);
  if (!status) return status;
  out.resize(got);
  return out;
}

Status replace_file_durably(const std::string& path,
                            const std::function<Status(int fd, const std::string& tmp)>& fill,
                            int* new_fd) {
  const std::string tmp = path + ".tmp";
  int out = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (out < 0) return io_error("create " + tmp, errno);
  Status st = fill(out, tmp);
  if (st) st = datasync(out, tmp);
  if (st && ::rename(tmp.c_str(), path.c_str()) != 0) st = io_error("rename " + tmp, errno);
  if (!st) {
    ::close(out);
    ::unlink(tmp.c_str());
    return st;
  }
  st = sync_dir(parent_dir(path));
  if (!st) {
    ::close(out);
    return st;
  }
  *new_fd = out;
  return Status::ok();
}

Status sync_dir(const std::string& dir) {
  ScopedFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) return io_error("open directory " + dir, errno);
  if (::fsync(fd.get()) != 0) return io_error("fsync directory " + dir, errno);
  return Status::ok();
}

}  // namespace sluice::storage
