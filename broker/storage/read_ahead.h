// Read-ahead for sequential scans of segment files.
//
// A client replaying a stream pages through it: XRANGE key <after the last id> + COUNT n, again
// and again. Each page's scan starts with a pread of the bytes it will visit, and the client
// waits for that pread although the server sat idle while the client read the previous page.
// So a forward scan that stops early (its visitor had enough, as a COUNT does) in the file part
// of a segment leaves a request for the bytes the next page will likely visit, and the loop runs
// it (run_read_ahead()) after writing an iteration's replies, while the client is busy with
// the page just sent. The run also checks what it read, frame by frame: checksum, header and
// the key (the owner's KeyOfFn, which for streams verifies the flatbuffer), and keeps the keys.
// The next scan that starts inside those bytes takes them from memory, skips the checksums of
// the verified frames and uses their kept keys: what is left for the client to wait on is
// decoding entries and writing the reply. The verified bytes are a private copy that nothing
// writes to, so checking them once is as good as checking them at every read.
//
// Only sequential scans read ahead: a stopped scan asks for read-ahead when it itself started
// right after the key where the scan before it stopped (the second page of a replay on), so a
// client reading at random places costs nothing extra. One request and one buffer per thread: the
// latest stopped scan wins. Concurrent replays that interleave still work, they just read from the
// file. Bytes below a segment's flushed size never change, so what was read ahead stays correct for
// as long as the segment exists; segments are told apart by a process-wide serial, never by
// address. Not thread-safe: storage reads run on the loop thread (tests call run_read_ahead()
// directly).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "broker/storage/segmented_log.h"

namespace sluice::storage {

class FileHandle;

// Reads the range the latest stopped forward scan asked for, if any. Errors are dropped: the
// next scan then reads the file itself and reports them.
void run_read_ahead();

// What the loop thread's read-ahead did so far (INFO streams, /metrics).
struct ReadAheadStats {
  uint64_t reads = 0;  // run_read_ahead() calls that read something
  uint64_t bytes = 0;  // bytes they read
  uint64_t hits = 0;   // scans that started on bytes read ahead
};
ReadAheadStats read_ahead_stats();

// Reserves and touches the scan and read-ahead buffers now, so that the first pages a client
// reads do not pay for faulting fresh memory in.
void prepare_read_buffers();

namespace read_ahead {

// Reserves and touches `bytes` of the read-ahead buffer (prepare_read_buffers()).
void prepare(size_t bytes);

// Whether a forward scan of `log` from `from` continues the last stopped one: it starts right
// after the key where that one stopped.
bool continues(const void* log, StreamId from);

// A forward scan of `log` stopped early after `key` in segment `segment_uid`, whose file is
// `file`; the next page will likely start at a frame boundary `pos` <= the end of that record and
// read about `len` bytes. When `sequential` (the stopped scan continued the one before it), asks
// run_read_ahead() to read and check those bytes; the file is not kept open for it, a segment
// dropped or closed meanwhile is skipped.
void stopped(const void* log, uint64_t segment_uid, const std::shared_ptr<FileHandle>& file,
             StreamId key, uint64_t pos, uint64_t len, size_t max_record_bytes, KeyOfFn key_of,
             bool sequential);

// File bytes read ahead, from some position on.
struct Ahead {
  std::string_view bytes;
  uint64_t checked = 0;            // bytes[0, checked) are whole frames, verified
  std::span<const StreamId> keys;  // the keys of those frames, in order
};

// What was read ahead of segment `segment_uid` from `pos` on (empty bytes when nothing). Valid
// until the next run_read_ahead().
Ahead take(uint64_t segment_uid, uint64_t pos);

}  // namespace read_ahead
}  // namespace sluice::storage
