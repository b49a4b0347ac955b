// HTTP/1.x for the metrics endpoint: an incremental, size-bounded parser of one request head
// and the responses the endpoint sends. No libuv: metrics_http.cc feeds it the bytes it reads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sluice::server::http {

// A request head (request line, headers, empty line) longer than this is refused with 400.
inline constexpr size_t kMaxRequestHeadBytes = 8192;

struct Request {
  std::string method;  // as sent; methods are case-sensitive
  std::string target;  // as sent: origin-form "/metrics?x" or absolute-form "http://h/metrics"
  std::string path;    // the target's path, without query (absolute-form: without scheme/host)
  std::string authorization;  // the Authorization header's value (trimmed), "" if absent
};

// Credentials of an Authorization header: "Basic base64(user:password)" or "Bearer <token>".
struct Credentials {
  enum class Scheme { kNone, kBasic, kBearer } scheme = Scheme::kNone;
  std::string user;    // Basic: "" when the header gives no user (a bare password)
  std::string secret;  // Basic: the password; Bearer: the token
};
// kNone for a missing, malformed or other-scheme header. Scheme names are case-insensitive.
Credentials parse_authorization(std::string_view header);

enum class ParseState { kIncomplete, kComplete, kBad };

// Parses one request head from bytes fed in any pieces. Accepts HTTP/1.0 and HTTP/1.1, CRLF or
// bare LF line ends, and empty lines before the request line; refuses (kBad) a malformed
// request line or header line and a head over max_head_bytes (even before it ends). Headers
// are checked, and only Authorization is kept: the endpoint answers every request the same
// way and then closes, so a body is never read. Once kComplete or kBad, feed() ignores
// further bytes.
class RequestParser {
 public:
  explicit RequestParser(size_t max_head_bytes = kMaxRequestHeadBytes)
      : max_head_bytes_(max_head_bytes) {}

  ParseState feed(std::string_view bytes);
  ParseState state() const { return state_; }
  // Valid once state() is kComplete.
  const Request& request() const { return request_; }
  // Why the request was refused (kBad), for the 400 body.
  const std::string& error() const { return error_; }

 private:
  ParseState fail(std::string why);
  ParseState parse_head(std::string_view head);

  size_t max_head_bytes_;
  ParseState state_ = ParseState::kIncomplete;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ already searched for the end of the head
  Request request_;
  std::string error_;
};

// A complete response with Content-Length and "Connection: close" (405 adds Allow). With
// head_only the body is left out but Content-Length still gives its length (HEAD).
std::string build_response(int status, std::string_view content_type, std::string_view body,
                           bool head_only = false);

// Whether a request's credentials open the endpoint; null when no credentials are needed.
using Authorizer = std::function<bool(const Credentials&)>;

// The endpoint's answer to what `parser` saw (kComplete or kBad): 400 for a refused request,
// 401 (with WWW-Authenticate: Basic realm="sluice") when `authorize` refuses the request's
// credentials, 404 for a path other than /metrics, 405 for a method other than GET or HEAD on
// /metrics, and otherwise 200 with render_metrics()'s text (HEAD: headers only).
std::string metrics_response(const RequestParser& parser,
                             const std::function<std::string()>& render_metrics,
                             const Authorizer& authorize = nullptr);

// The response to a connection over the endpoint's connection cap.
std::string_view service_unavailable_response();

}  // namespace sluice::server::http
