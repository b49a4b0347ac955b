// Compressed sealed segments: the byte format, reading blocks back, and writing a compressed copy
// of a sealed segment in place of the raw file.
//
// A compressed segment holds exactly the bytes of the raw segment (its "logical" bytes: the
// frames, record_frame.h), cut at frame boundaries into blocks of about `block_bytes` that are
// compressed independently. Every offset the rest of storage uses (sparse index, damaged ranges,
// read-ahead, the .idx sidecar's file size) is a logical offset, so a segment reads the same
// whether its file is raw or compressed; only the file reads differ. A raw segment file starts
// with a frame header and a compressed one with a header that can never be a valid frame header
// (non-zero reserved bytes): the first 16 bytes tell the two formats apart.
//
// Layout (all integers little endian):
//   file header (32 bytes)
//     0   16  magic "SLUICE-SEGMENT-Z"
//     16  4   format version (1)
//     20  4   codec (1 = zstd)
//     24  8   logical size: bytes of the raw segment
//   blocks, each at an 8-aligned offset:
//     0   4   magic "SLZB"
//     4   4   masked crc32c of bytes [8, 32 + compressed length)
//     8   4   compressed length c
//     12  4   raw length
//     16  8   logical offset of the block's first byte
//     24  4   records (frames) in the block
//     28  4   reserved, zero
//     32  c   zstd frame, then zero padding to a multiple of 8
//   block index: n entries of (logical offset u64, file offset u64), one per block
//   trailer (32 bytes)
//     0   8   n
//     8   8   file offset of the block index
//     16  8   logical size (again)
//     24  4   masked crc32c of the block index and trailer bytes [0, 24)
//     28  4   magic "SLZF"
//
// Each block verifies itself (its checksum covers its header fields and its compressed bytes), so
// a damaged block loses only its own records, and a file whose block index is damaged or missing
// (a torn copy) is still read block by block from the start through the block headers.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "broker/storage/segmented_log.h"
#include "wire/status.h"

namespace sluice::storage {

inline constexpr size_t kCompressedHeaderBytes = 32;
inline constexpr size_t kBlockHeaderBytes = 32;
inline constexpr size_t kCompressedTrailerBytes = 32;
inline constexpr uint32_t kCompressedFormatVersion = 1;

// Where the blocks of a compressed segment file are: read from its block index, or, when that is
// damaged, by walking the block headers from the start (then only the intact prefix is listed).
struct CompressedLayout {
  struct Block {
    uint64_t logical = 0;   // logical offset of the block's first byte
    uint64_t physical = 0;  // file offset of its header
  };
  uint64_t uid = 0;           // unique in the process (names blocks in the decompressed cache)
  uint64_t logical_size = 0;  // from the file header
  uint64_t file_size = 0;
  std::vector<Block> blocks;  // logical order, contiguous from 0
  uint64_t blocks_end = 0;    // logical end of the last listed block (logical_size when whole)
  uint64_t index_offset = 0;  // file offset where the blocks end (index, or damage)
  bool from_index = false;    // blocks came from a verified block index

  // The block holding logical offset pos, or blocks.size() when none does.
  size_t block_of(uint64_t pos) const;
  uint64_t logical_end(size_t i) const {
    return i + 1 < blocks.size() ? blocks[i + 1].logical : blocks_end;
  }
  uint64_t physical_end(size_t i) const {
    return i + 1 < blocks.size() ? blocks[i + 1].physical : index_offset;
  }
};

// Whether the first bytes of a file are a compressed segment's header.
bool is_compressed_header(std::string_view first_bytes);

// Reads the header of the segment file `fd`: *layout stays null for a raw segment. A compressed
// file gets its layout (from its block index, else from its block headers). kIo on read errors.
Status probe_segment_file(int fd, const std::string& path,
                          std::shared_ptr<const CompressedLayout>* layout);

// The decompressed bytes of block i (checksum and lengths verified), through a small per-thread
// cache of recently decompressed blocks. kCorruption (with the reason) for a damaged block.
Status read_block(int fd, const std::string& path, const CompressedLayout& layout, size_t i,
                  std::shared_ptr<const std::string>* out);

// Reads logical bytes [pos, pos + n) of a segment file, raw (layout null) or compressed, into buf;
// *got is shorter only at the end of the data. kCorruption if a block on the way is damaged.
Status read_logical(int fd, const std::string& path, const CompressedLayout* layout, char* buf,
                    size_t n, uint64_t pos, size_t* got);

// A request to compress one sealed segment, shared by the log (loop thread) and the compressor
// thread. The log cancels it before it unlinks or rewrites the file; the compressor renames its
// copy over the segment only while holding `mu` and seeing it not cancelled.
struct CompressJob {
  std::string path;
  uint64_t logical_size = 0;
  int level = 3;
  size_t block_bytes = 64 * 1024;
  size_t max_record_bytes = 0;
  int source_fd = -1;  // the raw file to read; -1: the compressor opens `path` itself

  std::mutex mu;
  bool cancelled = false;  // under mu
  std::atomic<bool> done{false};
  bool replaced = false;  // the compressed copy is in place (valid once done)
  uint64_t file_size = 0;
  Status result;
};

// Writes a compressed copy of bytes [0, job.logical_size) of job.source_fd to job.path + ".z.tmp",
// fdatasyncs it, renames it over job.path (unless cancelled) and fsyncs the directory. A crash at
// any point leaves the raw file or the compressed one at the path (recovery removes *.tmp). A raw
// file whose frames do not verify is left alone (reads and recovery handle it).
void run_compress_job(CompressJob& job);

// Queues a job for the compressor thread (started on first use; it lives for the process).
void submit_compress_job(std::shared_ptr<CompressJob> job);

// Waits until every job submitted so far has finished (tests, shutdown).
void wait_for_compressions();

// What compression did since the process started (INFO, tests).
struct CompressionStats {
  uint64_t segments = 0;      // segments replaced by a compressed copy
  uint64_t raw_bytes = 0;     // their logical bytes
  uint64_t stored_bytes = 0;  // their compressed files' bytes
  uint64_t failures = 0;      // jobs that failed (I/O errors, damaged raw files)
};
CompressionStats compression_stats();

// Writes a raw copy of the logical bytes of a compressed segment, leaving out `skip` (logical
// ranges, in order, that are damaged blocks), to path + ".tmp", fdatasyncs it, renames it over
// path and fsyncs the directory. Returns the new file's descriptor (read-write) and size.
Status decompress_without(int fd, const std::string& path, const CompressedLayout& layout,
                          const std::vector<std::pair<uint64_t, uint64_t>>& skip, int* new_fd,
                          uint64_t* new_size);

}  // namespace sluice::storage
