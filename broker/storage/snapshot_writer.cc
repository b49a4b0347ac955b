// SnapshotWriter: buffered frames, big payloads written in place.
#include "broker/storage/snapshot_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include "broker/storage/atomic_file.h"
#include "broker/storage/record_frame.h"

namespace sluice::storage {
namespace {

// Records are gathered up to this many bytes per write; a payload this big is written alone.
constexpr size_t kBufferBytes = 1u << 20;

}  // namespace

SnapshotWriter::~SnapshotWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Status SnapshotWriter::open(const Journal::SnapshotTarget& target) {
  target_ = target;
  path_ = target.tmp_path;
  fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) return io_error("open " + path_, errno);
  buffer_.reserve(kBufferBytes + kFrameHeaderBytes);
  buffer_ = snapshot_file_header(target.generation);
  return Status::ok();
}

Status SnapshotWriter::write(std::string_view bytes) {
  Status st = pwrite_all(fd_, bytes, offset_, path_);
  offset_ += bytes.size();
  return st;
}

Status SnapshotWriter::write_buffer() {
  if (buffer_.empty()) return Status::ok();
  Status st = write(buffer_);
  buffer_.clear();
  return st;
}

Status SnapshotWriter::append(uint8_t type, std::string_view head, std::string_view body) {
  if (fd_ < 0) return Status(wire::ErrorCode::kInvalidArgument, "snapshot writer is not open");
  const size_t n = head.size() + body.size();
  const auto header = frame_header(type, head, body);
  static constexpr char kZeros[8] = {};
  const std::string_view pad(kZeros, padded_len(n) - n);
  if (n < kBufferBytes) {
    buffer_.append(header.data(), header.size()).append(head).append(body).append(pad);
    return buffer_.size() >= kBufferBytes ? write_buffer() : Status::ok();
  }
  buffer_.append(header.data(), header.size()).append(head);
  Status st = write_buffer();
  if (st) st = write(body);
  if (st) st = write(pad);
  return st;
}

Status SnapshotWriter::finish() {
  if (fd_ < 0) return Status(wire::ErrorCode::kInvalidArgument, "snapshot writer is not open");
  Status st = write_buffer();
  if (st) st = datasync(fd_, path_);
  if (::close(fd_) != 0 && st) st = io_error("close " + path_, errno);
  fd_ = -1;
  if (st && ::rename(path_.c_str(), target_.final_path.c_str()) != 0) {
    st = io_error("rename " + path_, errno);
  }
  if (st) st = sync_dir(target_.dir);
  return st;
}

}  // namespace sluice::storage
