// Compressed segment files: layout probing, block reads with a per-thread cache, the compressor
// thread and the raw copy that recovery writes when it repairs a compressed file.
#include "broker/storage/compressed_segment.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/mman.h>
#include <sys/statvfs.h>
#include <unistd.h>
#define ZSTD_STATIC_LINKING_ONLY  // ZSTD_createCCtx_advanced (exported by libzstd.so)
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <thread>

#include "broker/storage/atomic_file.h"
#include "broker/storage/journal.h"
#include "broker/storage/record_frame.h"
#include "wire/crc32c.h"

namespace sluice::storage {
namespace {

constexpr char kFileMagic[16] = {'S', 'L', 'U', 'I', 'C', 'E', '-', 'S',
                                 'E', 'G', 'M', 'E', 'N', 'T', '-', 'Z'};
constexpr uint32_t kBlockMagic = 0x425a4c53;    // "SLZB"
constexpr uint32_t kTrailerMagic = 0x465a4c53;  // "SLZF"
constexpr uint32_t kCodecZstd = 1;
// Blocks this many decompressed bytes at most (a frame larger than block_bytes gets a block of
// its own, so this bounds what a damaged length field can make a reader allocate).
constexpr uint64_t kMaxRawBlock = 1ull << 31;
constexpr size_t kCachedBlocks = 4;

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}
uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}
void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
void put_u64(char* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint64_t next_layout_uid() {
  static std::atomic<uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

Status corrupt(const std::string& path, const std::string& why) {
  return Status(wire::ErrorCode::kCorruption, path + ": " + why);
}

// Reads exactly n bytes at offset; kCorruption when the file ends first.
Status pread_exact(int fd, char* buf, size_t n, uint64_t offset, const std::string& path) {
  size_t got = 0;
  Status st = pread_full(fd, buf, n, offset, &got, path);
  if (!st) return st;
  if (got < n) return corrupt(path, "file ends at " + std::to_string(offset + got));
  return Status::ok();
}

// Parsed block header; false if it is not plausible.
struct BlockHeader {
  uint32_t crc = 0;
  uint32_t clen = 0;
  uint32_t rlen = 0;
  uint64_t logical = 0;
  uint32_t records = 0;
};
bool parse_block_header(const char* p, BlockHeader* h) {
  if (get_u32(p) != kBlockMagic || get_u32(p + 28) != 0) return false;
  h->crc = get_u32(p + 4);
  h->clen = get_u32(p + 8);
  h->rlen = get_u32(p + 12);
  h->logical = get_u64(p + 16);
  h->records = get_u32(p + 24);
  return h->clen > 0 && h->rlen > 0 && h->rlen <= kMaxRawBlock;
}

Status read_trailer_index(int fd, const std::string& path, CompressedLayout* l) {
  if (l->file_size < kCompressedHeaderBytes + kCompressedTrailerBytes) {
    return corrupt(path, "too short for a block index");
  }
  char t[kCompressedTrailerBytes];
  Status st = pread_exact(fd, t, sizeof(t), l->file_size - sizeof(t), path);
  if (!st) return st;
  const uint64_t n = get_u64(t);
  const uint64_t index_offset = get_u64(t + 8);
  if (get_u32(t + 28) != kTrailerMagic || n == 0 || n > l->file_size / kBlockHeaderBytes ||
      index_offset < kCompressedHeaderBytes ||
      index_offset + n * 16 + kCompressedTrailerBytes != l->file_size ||
      get_u64(t + 16) != l->logical_size) {
    return corrupt(path, "bad block index trailer");
  }
  std::string index(n * 16 + 24, '\0');
  st = pread_exact(fd, index.data(), n * 16, index_offset, path);
  if (!st) return st;
  std::memcpy(index.data() + n * 16, t, 24);
  if (wire::crc32c_mask(wire::crc32c(index.data(), index.size())) != get_u32(t + 24)) {
    return corrupt(path, "block index checksum mismatch");
  }
  l->blocks.resize(n);
  for (uint64_t i = 0; i < n; ++i) {
    l->blocks[i] = {get_u64(index.data() + 16 * i), get_u64(index.data() + 16 * i + 8)};
    const bool ordered =
        i == 0 ? l->blocks[0].logical == 0 && l->blocks[0].physical == kCompressedHeaderBytes
               : l->blocks[i].logical > l->blocks[i - 1].logical &&
                     l->blocks[i].physical > l->blocks[i - 1].physical;
    if (!ordered || l->blocks[i].logical >= l->logical_size ||
        l->blocks[i].physical >= index_offset) {
      return corrupt(path, "block index out of order");
    }
  }
  l->blocks_end = l->logical_size;
  l->index_offset = index_offset;
  l->from_index = true;
  return Status::ok();
}

// Lists blocks by walking their headers from the start, stopping at the first that does not
// verify (used when the block index is damaged).
Status walk_blocks(int fd, const std::string& path, CompressedLayout* l) {
  l->blocks.clear();
  uint64_t pos = kCompressedHeaderBytes;
  uint64_t logical = 0;
  std::string bytes;
  while (pos + kBlockHeaderBytes <= l->file_size && logical < l->logical_size) {
    char h[kBlockHeaderBytes];
    Status st = pread_exact(fd, h, sizeof(h), pos, path);
    if (!st) return st;
    BlockHeader bh;
    if (!parse_block_header(h, &bh) || bh.logical != logical ||
        pos + kBlockHeaderBytes + bh.clen > l->file_size) {
      break;
    }
    bytes.resize(kBlockHeaderBytes - 8 + bh.clen);
    std::memcpy(bytes.data(), h + 8, kBlockHeaderBytes - 8);
    st = pread_exact(fd, bytes.data() + kBlockHeaderBytes - 8, bh.clen, pos + kBlockHeaderBytes,
                     path);
    if (!st) return st;
    if (wire::crc32c_mask(wire::crc32c(bytes.data(), bytes.size())) != bh.crc) break;
    l->blocks.push_back({logical, pos});
    logical += bh.rlen;
    pos += kBlockHeaderBytes + padded_len(bh.clen);
  }
  l->blocks_end = std::min(logical, l->logical_size);
  l->index_offset = pos;
  l->from_index = false;
  return Status::ok();
}

struct CachedBlock {
  uint64_t layout_uid = 0;
  size_t block = 0;
  std::shared_ptr<const std::string> bytes;
  uint64_t used = 0;
};

struct BlockCache {
  CachedBlock slots[kCachedBlocks];
  uint64_t clock = 0;
  ZSTD_DCtx* dctx = nullptr;
  ~BlockCache() { ZSTD_freeDCtx(dctx); }
};

BlockCache& block_cache() {
  thread_local BlockCache cache;
  return cache;
}

// Decompresses block i of the file, verifying it.
Status load_block(int fd, const std::string& path, const CompressedLayout& l, size_t i,
                  std::string* out) {
  const uint64_t begin = l.blocks[i].physical;
  const uint64_t end = l.physical_end(i);
  const uint64_t want_raw = l.logical_end(i) - l.blocks[i].logical;
  if (end < begin + kBlockHeaderBytes || end - begin > kMaxRawBlock + kBlockHeaderBytes + 8) {
    return corrupt(path, "block " + std::to_string(i) + " has an impossible size");
  }
  std::string buf(end - begin, '\0');
  Status st = pread_exact(fd, buf.data(), buf.size(), begin, path);
  if (!st) return st;
  BlockHeader bh;
  const std::string where = "block at offset " + std::to_string(begin);
  if (!parse_block_header(buf.data(), &bh) || bh.logical != l.blocks[i].logical ||
      bh.rlen != want_raw || kBlockHeaderBytes + padded_len(bh.clen) != buf.size()) {
    return corrupt(path, where + ": bad block header");
  }
  if (wire::crc32c_mask(wire::crc32c(buf.data() + 8, kBlockHeaderBytes - 8 + bh.clen)) != bh.crc) {
    return corrupt(path, where + ": checksum mismatch");
  }
  BlockCache& cache = block_cache();
  if (cache.dctx == nullptr) cache.dctx = ZSTD_createDCtx();
  out->resize(bh.rlen);
  const size_t n = ZSTD_decompressDCtx(cache.dctx, out->data(), out->size(),
                                       buf.data() + kBlockHeaderBytes, bh.clen);
  if (ZSTD_isError(n) || n != bh.rlen) return corrupt(path, where + ": does not decompress");
  return Status::ok();
}

// The compressor thread and its queue.
struct Compressor {
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable idle;
  std::deque<std::shared_ptr<CompressJob>> queue;
  size_t running = 0;
  bool started = false;
  CompressionStats stats;
};

Compressor& compressor() {
  static Compressor* instance = new Compressor;  // the thread outlives static destructors
  return *instance;
}

void compressor_main() {
  Compressor& c = compressor();
  for (;;) {
    std::shared_ptr<CompressJob> job;
    {
      std::unique_lock lock(c.mu);
      c.wake.wait(lock, [&] { return !c.queue.empty(); });
      job = std::move(c.queue.front());
      c.queue.pop_front();
      ++c.running;
    }
    run_compress_job(*job);
    {
      std::lock_guard lock(c.mu);
      --c.running;
      if (job->replaced) {
        ++c.stats.segments;
        c.stats.raw_bytes += job->logical_size;
        c.stats.stored_bytes += job->file_size;
      } else if (!job->result && !job->cancelled) {
        ++c.stats.failures;
      }
      if (c.queue.empty() && c.running == 0) c.idle.notify_all();
    }
    job->done.store(true, std::memory_order_release);
  }
}

// The compressor's buffers and zstd's context are mapped for the job and unmapped after it: from
// malloc they would stay resident in the thread's arena (whose top is never trimmed) between jobs.
class MappedBuffer {
 public:
  MappedBuffer() = default;
  MappedBuffer(const MappedBuffer&) = delete;
  MappedBuffer& operator=(const MappedBuffer&) = delete;
  ~MappedBuffer() { release(); }
  // At least n bytes (contents not kept when it grows); null if the mapping fails.
  char* reserve(size_t n) {
    if (n > cap_) {
      release();
      void* p = ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) return nullptr;
      data_ = static_cast<char*>(p);
      cap_ = n;
    }
    return data_;
  }
  char* data() const { return data_; }

 private:
  void release() {
    if (data_ != nullptr) ::munmap(data_, cap_);
    data_ = nullptr;
    cap_ = 0;
  }
  char* data_ = nullptr;
  size_t cap_ = 0;
};

constexpr size_t kMappedHeader = 16;
void* mapped_alloc(void*, size_t size) {
  const size_t total = size + kMappedHeader;
  void* p = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  std::memcpy(p, &total, sizeof(total));
  return static_cast<char*>(p) + kMappedHeader;
}
void mapped_free(void*, void* address) {
  if (address == nullptr) return;
  char* p = static_cast<char*>(address) - kMappedHeader;
  size_t total = 0;
  std::memcpy(&total, p, sizeof(total));
  ::munmap(p, total);
}

// The compressor thread's I/O: plain system calls, not io_hooks() (tests swap those while the
// loop thread runs, and a compression failure only leaves a segment raw).
Status direct_pread(int fd, char* buf, size_t n, uint64_t offset, size_t* got,
                    const std::string& what) {
  *got = 0;
  while (*got < n) {
    const ssize_t r = ::pread(fd, buf + *got, n - *got, static_cast<off_t>(offset + *got));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error("read " + what, errno);
    if (r == 0) break;
    *got += static_cast<size_t>(r);
  }
  return Status::ok();
}
Status direct_pwrite(int fd, std::string_view bytes, uint64_t offset, const std::string& what) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t r =
        ::pwrite(fd, bytes.data() + done, bytes.size() - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return io_error("write " + what, errno);
    done += static_cast<size_t>(r);
  }
  return Status::ok();
}
Status direct_datasync(int fd, const std::string& what) {
  return ::fdatasync(fd) == 0 ? Status::ok() : io_error("fdatasync " + what, errno);
}

bool cancelled(CompressJob& job) {
  std::lock_guard lock(job.mu);
  return job.cancelled;
}

}  // namespace

size_t CompressedLayout::block_of(uint64_t pos) const {
  if (pos >= blocks_end) return blocks.size();
  auto it = std::upper_bound(blocks.begin(), blocks.end(), pos,
                             [](uint64_t p, const Block& b) { return p < b.logical; });
  return static_cast<size_t>(it - blocks.begin()) - 1;
}

bool is_compressed_header(std::string_view first_bytes) {
  return first_bytes.size() >= sizeof(kFileMagic) &&
         std::memcmp(first_bytes.data(), kFileMagic, sizeof(kFileMagic)) == 0;
}

Status probe_segment_file(int fd, const std::string& path,
                          std::shared_ptr<const CompressedLayout>* layout) {
  layout->reset();
  char h[kCompressedHeaderBytes];
  size_t got = 0;
  Status st = pread_full(fd, h, sizeof(h), 0, &got, path);
  if (!st) return st;
  if (!is_compressed_header(std::string_view(h, got))) return Status::ok();
  auto l = std::make_shared<CompressedLayout>();
  l->uid = next_layout_uid();
  if (got == sizeof(h) && get_u32(h + 16) == kCompressedFormatVersion &&
      get_u32(h + 20) == kCodecZstd) {
    l->logical_size = get_u64(h + 24);
  }
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size < 0) return io_error("seek " + path, errno);
  l->file_size = static_cast<uint64_t>(size);
  if (!read_trailer_index(fd, path, l.get())) {
    st = walk_blocks(fd, path, l.get());
    if (!st) return st;
    storage_log().warn(
        "compressed segment {}: its block index does not verify; {} intact blocks found by their "
        "headers ({} of {} bytes)",
        path, l->blocks.size(), l->blocks_end, l->logical_size);
  }
  *layout = std::move(l);
  return Status::ok();
}

Status read_block(int fd, const std::string& path, const CompressedLayout& layout, size_t i,
                  std::shared_ptr<const std::string>* out) {
  BlockCache& cache = block_cache();
  CachedBlock* victim = &cache.slots[0];
  for (CachedBlock& slot : cache.slots) {
    if (slot.bytes && slot.layout_uid == layout.uid && slot.block == i) {
      slot.used = ++cache.clock;
      *out = slot.bytes;
      return Status::ok();
    }
    if (slot.used < victim->used) victim = &slot;
  }
  auto bytes = std::make_shared<std::string>();
  Status st = load_block(fd, path, layout, i, bytes.get());
  if (!st) return st;
  *victim = CachedBlock{layout.uid, i, bytes, ++cache.clock};
  *out = std::move(bytes);
  return Status::ok();
}

Status read_logical(int fd, const std::string& path, const CompressedLayout* layout, char* buf,
                    size_t n, uint64_t pos, size_t* got) {
  if (layout == nullptr) return pread_full(fd, buf, n, pos, got, path);
  *got = 0;
  while (*got < n && pos < layout->logical_size) {
    const size_t i = layout->block_of(pos);
    if (i >= layout->blocks.size()) {
      return corrupt(path, "no intact block holds offset " + std::to_string(pos));
    }
    std::shared_ptr<const std::string> block;
    Status st = read_block(fd, path, *layout, i, &block);
    if (!st) return st;
    const uint64_t rel = pos - layout->blocks[i].logical;
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n - *got, block->size() - rel));
    std::memcpy(buf + *got, block->data() + rel, take);
    *got += take;
    pos += take;
  }
  return Status::ok();
}

void run_compress_job(CompressJob& job) {
  int own_fd = -1;
  if (job.source_fd < 0) {
    own_fd = ::open(job.path.c_str(), O_RDONLY | O_CLOEXEC);
    if (own_fd < 0) {
      if (errno != ENOENT) job.result = io_error("open " + job.path, errno);
      return;  // (ENOENT: the segment was dropped meanwhile)
    }
    char head[sizeof(kFileMagic)];
    size_t got = 0;
    Status st = direct_pread(own_fd, head, sizeof(head), 0, &got, job.path);
    if (!st || is_compressed_header(std::string_view(head, got))) {
      ::close(own_fd);
      job.result = st;
      return;  // already compressed (or unreadable: reads report it)
    }
    job.source_fd = own_fd;
  }
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{own_fd};
  // The copy exists beside the raw file until the rename, and the raw file's space returns only
  // once no descriptor holds it: on a nearly full disk compression would take the space that
  // writes need, so it waits (the segment stays raw until the next start).
  struct statvfs space {};
  const std::string dir = parent_dir(job.path);
  if (::statvfs(dir.c_str(), &space) == 0 &&
      uint64_t{space.f_bavail} * space.f_frsize < 2 * job.logical_size + (16u << 20)) {
    job.result = Status(wire::ErrorCode::kIo, "not enough free space to compress " + job.path);
    return;
  }
  const std::string tmp = job.path + ".z.tmp";
  int out = -1;
  {
    std::lock_guard lock(job.mu);
    if (job.cancelled) return;
    out = ::open(tmp.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  }
  if (out < 0) {
    job.result = io_error("create " + tmp, errno);
    return;
  }
  auto give_up = [&](Status st) {
    ::close(out);
    ::unlink(tmp.c_str());
    job.result = std::move(st);
    if (!job.cancelled) {
      storage_log().warn("segment {} stays uncompressed: {}", job.path, job.result.detail());
    }
  };
  const ZSTD_customMem mapped{mapped_alloc, mapped_free, nullptr};
  std::unique_ptr<ZSTD_CCtx, size_t (*)(ZSTD_CCtx*)> cctx(ZSTD_createCCtx_advanced(mapped),
                                                          ZSTD_freeCCtx);
  if (!cctx) return give_up(Status(wire::ErrorCode::kIo, "cannot create a zstd context"));
  char header[kCompressedHeaderBytes] = {};
  std::memcpy(header, kFileMagic, sizeof(kFileMagic));
  put_u32(header + 16, kCompressedFormatVersion);
  put_u32(header + 20, kCodecZstd);
  put_u64(header + 24, job.logical_size);
  if (Status st = direct_pwrite(out, std::string_view(header, sizeof(header)), 0, tmp); !st) {
    return give_up(st);
  }
  uint64_t written = sizeof(header);
  std::vector<CompressedLayout::Block> blocks;
  MappedBuffer raw_buffer;  // the frames of one block
  size_t raw_len = 0;
  MappedBuffer packed;  // one block as written: header, zstd frame, padding
  uint64_t pos = 0;
  // Reads a run of whole frames starting at pos (at least one frame, about block_bytes).
  const Status no_memory(wire::ErrorCode::kIo, "cannot map a compression buffer");
  while (pos < job.logical_size) {
    if (cancelled(job)) return give_up(Status(wire::ErrorCode::kInvalidArgument, "cancelled"));
    const size_t want =
        static_cast<size_t>(std::min<uint64_t>(job.block_bytes, job.logical_size - pos));
    char* raw = raw_buffer.reserve(want);
    if (raw == nullptr) return give_up(no_memory);
    size_t got = 0;
    Status st = direct_pread(job.source_fd, raw, want, pos, &got, job.path);
    if (!st) return give_up(st);
    raw_len = got;
    size_t cut = 0;
    uint32_t records = 0;
    for (;;) {
      FrameView frame;
      std::string_view rest(raw + cut, raw_len - cut);
      FrameStatus fs = decode_frame(rest, job.max_record_bytes, &frame);
      if (fs == FrameStatus::kTruncated && cut == 0 && rest.size() >= kFrameHeaderBytes &&
          pos + frame_bytes(get_u32(rest.data() + 4)) <= job.logical_size) {
        // One frame larger than the block: read it whole into a block of its own.
        const size_t total = frame_bytes(get_u32(rest.data() + 4));
        raw = raw_buffer.reserve(total);
        if (raw == nullptr) return give_up(no_memory);
        st = direct_pread(job.source_fd, raw, total, pos, &got, job.path);
        if (!st) return give_up(st);
        if (got != total) return give_up(corrupt(job.path, "changed while compressing"));
        raw_len = total;
        continue;
      }
      if (fs != FrameStatus::kOk) break;
      cut += frame.total_bytes;
      ++records;
      if (cut >= raw_len) break;
    }
    if (cut == 0) {
      return give_up(
          corrupt(job.path, "a frame at offset " + std::to_string(pos) + " does not verify"));
    }
    const size_t packed_size = kBlockHeaderBytes + ZSTD_compressBound(cut) + 8;
    if (packed.reserve(packed_size) == nullptr) return give_up(no_memory);
    const size_t c = ZSTD_compressCCtx(cctx.get(), packed.data() + kBlockHeaderBytes,
                                       packed_size - kBlockHeaderBytes - 8, raw, cut, job.level);
    if (ZSTD_isError(c)) {
      return give_up(Status(wire::ErrorCode::kIo, ZSTD_getErrorName(c)));
    }
    char* h = packed.data();
    std::memset(h, 0, kBlockHeaderBytes);
    put_u32(h, kBlockMagic);
    put_u32(h + 8, static_cast<uint32_t>(c));
    put_u32(h + 12, static_cast<uint32_t>(cut));
    put_u64(h + 16, pos);
    put_u32(h + 24, records);
    put_u32(h + 4, wire::crc32c_mask(wire::crc32c(h + 8, kBlockHeaderBytes - 8 + c)));
    const size_t block_bytes = kBlockHeaderBytes + padded_len(c);
    std::memset(h + kBlockHeaderBytes + c, 0, padded_len(c) - c);
    st = direct_pwrite(out, std::string_view(h, block_bytes), written, tmp);
    if (!st) return give_up(st);
    blocks.push_back({pos, written});
    written += block_bytes;
    pos += cut;
  }
  const uint64_t index_offset = written;
  std::string file;  // the block index and trailer
  for (const auto& b : blocks) {
    char e[16];
    put_u64(e, b.logical);
    put_u64(e + 8, b.physical);
    file.append(e, sizeof(e));
  }
  char t[kCompressedTrailerBytes] = {};
  put_u64(t, blocks.size());
  put_u64(t + 8, index_offset);
  put_u64(t + 16, job.logical_size);
  uint32_t crc = wire::crc32c(file.data(), file.size());
  crc = wire::crc32c_extend(crc, t, 24);
  put_u32(t + 24, wire::crc32c_mask(crc));
  put_u32(t + 28, kTrailerMagic);
  file.append(t, sizeof(t));
  Status st = direct_pwrite(out, file, written, tmp);
  if (!st) return give_up(st);
  written += file.size();
  st = direct_datasync(out, tmp);
  if (!st) return give_up(st);
  {
    std::lock_guard lock(job.mu);
    if (job.cancelled) {
      ::close(out);
      ::unlink(tmp.c_str());
      return;
    }
    if (::rename(tmp.c_str(), job.path.c_str()) != 0) {
      const int err = errno;
      ::close(out);
      ::unlink(tmp.c_str());
      job.result = io_error("rename " + tmp, err);
      return;
    }
    job.replaced = true;
    job.file_size = written;
  }
  ::close(out);
  st = sync_dir(parent_dir(job.path));
  if (!st) storage_log().warn("compressed {}: {}", job.path, st.detail());
}

void submit_compress_job(std::shared_ptr<CompressJob> job) {
  Compressor& c = compressor();
  std::lock_guard lock(c.mu);
  if (!c.started) {
    std::thread(compressor_main).detach();
    c.started = true;
  }
  c.queue.push_back(std::move(job));
  c.wake.notify_one();
}

void wait_for_compressions() {
  Compressor& c = compressor();
  std::unique_lock lock(c.mu);
  c.idle.wait(lock, [&] { return c.queue.empty() && c.running == 0; });
}

CompressionStats compression_stats() {
  Compressor& c = compressor();
  std::lock_guard lock(c.mu);
  return c.stats;
}

Status decompress_without(int fd, const std::string& path, const CompressedLayout& layout,
                          const std::vector<std::pair<uint64_t, uint64_t>>& skip, int* new_fd,
                          uint64_t* new_size) {
  uint64_t written = 0;
  Status st = replace_file_durably(
      path,
      [&](int out, const std::string& tmp) {
        for (size_t i = 0; i < layout.blocks.size(); ++i) {
          const uint64_t begin = layout.blocks[i].logical;
          const bool skipped = std::any_of(skip.begin(), skip.end(), [&](const auto& r) {
            return r.first <= begin && begin < r.second;
          });
          if (skipped) continue;
          std::string bytes;
          Status read = load_block(fd, path, layout, i, &bytes);
          if (read) read = pwrite_all(out, bytes, written, tmp);
          if (!read) return read;
          written += bytes.size();
        }
        return Status::ok();
      },
      new_fd);
  if (st) *new_size = written;
  return st;
}

}  // namespace sluice::storage
