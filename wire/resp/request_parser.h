// Server-side RESP request parser: multibulk ("*2\r\n$4\r\nPING\r\n...") and inline commands
// ("PING\r\n", with Redis's quoting rules). Incremental: a command may arrive split at any byte.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::wire::resp {

struct RequestLimits {
  uint64_t max_bulk_len = 512ull * 1024 * 1024;  // proto-max-bulk-len
  uint64_t max_multibulk_len = 1024 * 1024;      // arguments per command (Redis: 1024*1024)
  uint64_t max_inline_len = 64 * 1024;           // PROTO_INLINE_MAX_SIZE
};

class RequestParser {
 public:
  enum class Outcome {
    kCommand,     // argv holds one complete command; *consumed = its length in bytes
    kIncomplete,  // more bytes needed; call again with the same data start, extended
    kError,       // protocol error; error() holds Redis's text after "ERR ", e.g.
                  // "Protocol error: invalid multibulk length". Close after replying.
  };

  explicit RequestParser(RequestLimits limits = {}) : limits_(limits) {}
  void set_limits(const RequestLimits& limits) { limits_ = limits; }

  // Parses the command that starts at data[0]. On kCommand, argv's views point into `data` (for
  // inline commands with quotes or escapes, into storage owned by the parser, valid until the
  // next call). Progress on an incomplete command is kept, so a large bulk arriving in many
  // reads is not rescanned. An empty inline line ("\r\n") yields kCommand with argv empty.
  Outcome parse(std::string_view data, std::vector<std::string_view>* argv, size_t* consumed);

  const std::string& error() const { return error_; }
  // Bytes the current incomplete command still needs at least (a hint for read buffer sizing).
  size_t bytes_hint() const { return bytes_hint_; }
  // Forget progress on a partial command (e.g. after the connection dropped its input).
  void reset();

 private:
  Outcome parse_inline(std::string_view data, std::vector<std::string_view>* argv,
                       size_t* consumed);
  Outcome fail(std::string text);

  RequestLimits limits_;
  std::string error_;
  // Progress through a multibulk command, relative to data[0].
  int64_t multibulk_len_ = -1;  // -1: header not parsed yet
  size_t pos_ = 0;              // next byte to look at
  int64_t bulk_len_ = -1;       // length of the bulk being received; -1: its header not parsed
  size_t scan_pos_ = 0;         // where the search for the current line's end resumes
  std::vector<std::pair<size_t, size_t>> arg_spans_;  // (offset, length) of args parsed so far
  size_t bytes_hint_ = 0;
  std::vector<std::string> inline_storage_;
};

}  // namespace sluice::wire::resp
