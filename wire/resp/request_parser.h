// Server-side RESP request parser: multibulk ("*2\r\n$4\r\nPING\r\n...") and inline commands
// ("PING\r\n", with Redis's quoting rules). Incremental: a command may arrive split at any byte.
// Limits and their errors are Redis 7.0's, including those on connections that must still AUTH.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::wire::resp {

struct RequestLimits {
  uint64_t max_bulk_len = 512ull * 1024 * 1024;  // proto-max-bulk-len
  uint64_t max_multibulk_len = 2147483647;       // arguments per command (Redis 7.0: INT_MAX)
  uint64_t max_inline_len = 64 * 1024;           // PROTO_INLINE_MAX_SIZE
  // While authentication is required (set_auth_required), as Redis since its fix for
  // CVE-2021-32675: a stranger cannot make the server allocate much.
  uint64_t unauth_max_multibulk_len = 10;
  uint64_t unauth_max_bulk_len = 16384;
};

class RequestParser {
 public:
  enum class Outcome {
    kCommand,     // argv holds one complete command; *consumed = its length in bytes
    kIncomplete,  // more bytes needed; call again with the same data start, extended
    kError,       // protocol error; error() holds Redis's text after "ERR ", e.g.
                  // "Protocol error: invalid multibulk length". Close after replying.
  };

  explicit RequestParser(RequestLimits limits = {}) { set_limits(limits); }
  void set_limits(const RequestLimits& limits) {
    limits_ = limits;
    quick_multibulk_len_ = std::min(limits.max_multibulk_len, limits.unauth_max_multibulk_len);
    quick_bulk_len_ = std::min(limits.max_bulk_len, limits.unauth_max_bulk_len);
  }
  // Whether the connection must still AUTH: then the unauth_* limits apply to the headers
  // parsed from then on. Asked only when a header is over them (Redis's authRequired()), so the
  // answer may come from live state: `required(context)`; or fixed with set_auth_required.
  void set_auth_check(bool (*required)(const void* context), const void* context) {
    auth_check_ = required;
    auth_context_ = context;
  }
  void set_auth_required(bool required) {
    auth_check_ = nullptr;
    auth_fixed_ = required;
  }
  // proto-max-bulk-len read live at each bulk header (CONFIG SET changes it), instead of
  // limits.max_bulk_len. The value must outlive the parser.
  void set_max_bulk_len_source(const uint64_t* bytes) {
    max_bulk_len_source_ = bytes;
    // proto-max-bulk-len is never set below 1 MiB (Redis's range).
    quick_bulk_len_ = std::min<uint64_t>(limits_.unauth_max_bulk_len, 1024 * 1024);
  }

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
  // Bytes at the start of `data` that belong to the arguments of the current, incomplete
  // command parsed so far (Redis has moved them out of its query buffer by then).
  size_t parsed_bytes() const { return multibulk_len_ > 0 ? pos_ : 0; }

  // Big bulks. A bulk of at least kBigBulk bytes (Redis's PROTO_MBULK_BIG_ARG) need not pass
  // through the caller's buffer. Right after parse() returned kIncomplete inside one, big_bulk()
  // gives its length and the offset in `data` where its bytes begin. The caller may then take it
  // over: keep only data[0, offset), receive the bulk and the CRLF after it into a buffer of its
  // own (of exactly that size, so it never grows nor moves), and call supply_big_bulk() with the
  // bulk's bytes (the CRLF is dropped unchecked, as Redis does). Parsing resumes after it with
  // the bytes that follow in the caller's buffer. The supplied bytes must stay valid until the
  // command is returned by parse() and run; its argv view of them is that buffer.
  static constexpr size_t kBigBulk = 32 * 1024;
  struct BigBulk {
    size_t offset = 0;
    size_t length = 0;  // 0: no big bulk is pending
  };
  BigBulk big_bulk() const;
  void supply_big_bulk(std::string_view bytes);

 private:
  Outcome parse_inline(std::string_view data, std::vector<std::string_view>* argv,
                       size_t* consumed);
  Outcome fail(std::string text);

  bool auth_required() const { return auth_check_ ? auth_check_(auth_context_) : auth_fixed_; }
  uint64_t max_bulk_len() const {
    return max_bulk_len_source_ ? *max_bulk_len_source_ : limits_.max_bulk_len;
  }

  RequestLimits limits_;
  bool (*auth_check_)(const void*) = nullptr;
  const void* auth_context_ = nullptr;
  bool auth_fixed_ = false;
  const uint64_t* max_bulk_len_source_ = nullptr;
  // Lengths up to these pass every limit whatever the state (checked first, alone).
  uint64_t quick_multibulk_len_ = 0;
  uint64_t quick_bulk_len_ = 0;
  std::string error_;
  // Progress through a multibulk command, relative to data[0].
  int64_t multibulk_len_ = -1;  // -1: header not parsed yet
  size_t pos_ = 0;              // next byte to look at
  int64_t bulk_len_ = -1;       // length of the bulk being received; -1: its header not parsed
  size_t scan_pos_ = 0;         // where the search for the current line's end resumes
  // (offset, length) of args parsed so far; a supplied big bulk's offset is tagged, see .cc.
  std::vector<std::pair<size_t, size_t>> arg_spans_;
  std::vector<std::string_view> supplied_;  // big bulks given by supply_big_bulk (a prefix:)
  size_t supplied_count_ = 0;
  size_t bytes_hint_ = 0;
  std::vector<std::string> inline_storage_;
};

}  // namespace sluice::wire::resp
