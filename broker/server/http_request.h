// HTTP/1.x for the metrics endpoint and the web console: an incremental, size-bounded parser
// of one request (head and Content-Length body) and the responses the endpoint sends. No libuv:
// metrics_http.cc feeds it the bytes it reads.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace sluice::server::http {

// A request head (request line, headers, empty line) longer than this is refused with 400.
inline constexpr size_t kMaxRequestHeadBytes = 8192;
// A request body (Content-Length) longer than this is refused with 413.
inline constexpr size_t kMaxRequestBodyBytes = 64 * 1024;

struct Request {
  std::string method;  // as sent; methods are case-sensitive
  std::string target;  // as sent: origin-form "/metrics?x" or absolute-form "http://h/metrics"
  std::string path;    // the target's path, without query (absolute-form: without scheme/host)
  std::string query;   // the target's query, without '?' and fragment ("" if none)
  std::string authorization;  // the Authorization header's value (trimmed), "" if absent
  std::string content_type;   // the Content-Type header's value (trimmed), "" if absent
  std::string body;           // Content-Length bytes after the head ("" without the header)
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

// Parses one request from bytes fed in any pieces. Accepts HTTP/1.0 and HTTP/1.1, CRLF or
// bare LF line ends, and empty lines before the request line; refuses (kBad) a malformed
// request line or header line and a head over max_head_bytes (even before it ends). Headers
// are checked, and only Authorization, Content-Type and Content-Length are kept. A body is
// read when Content-Length gives one (kComplete once all of it arrived); one longer than
// max_body_bytes is refused with status 413, Transfer-Encoding (chunked) and a malformed or
// repeated Content-Length with 400. Bytes after the body are ignored: the endpoint answers one
// request per connection. Once kComplete or kBad, feed() ignores further bytes.
class RequestParser {
 public:
  explicit RequestParser(size_t max_head_bytes = kMaxRequestHeadBytes,
                         size_t max_body_bytes = kMaxRequestBodyBytes)
      : max_head_bytes_(max_head_bytes), max_body_bytes_(max_body_bytes) {}

  ParseState feed(std::string_view bytes);
  ParseState state() const { return state_; }
  // Valid once state() is kComplete.
  const Request& request() const { return request_; }
  // Why the request was refused (kBad), for the response body, and its status (400 or 413).
  const std::string& error() const { return error_; }
  int error_status() const { return error_status_; }

 private:
  ParseState fail(std::string why, int status = 400);
  ParseState parse_head(std::string_view head);
  ParseState take_body(std::string_view bytes);

  size_t max_head_bytes_;
  size_t max_body_bytes_;
  size_t body_length_ = 0;  // Content-Length
  bool in_body_ = false;    // the head is parsed; reading the body
  int error_status_ = 400;
  ParseState state_ = ParseState::kIncomplete;
  std::string buffer_;
  size_t scanned_ = 0;  // bytes of buffer_ already searched for the end of the head
  Request request_;
  std::string error_;
};

// A complete response with Content-Length and "Connection: close" (405 adds "Allow: GET, HEAD"
// unless extra_headers has an Allow line). extra_headers: whole header lines, each ending in
// CRLF. With head_only the body is left out but Content-Length still gives its length (HEAD).
std::string build_response(int status, std::string_view content_type, std::string_view body,
                           bool head_only = false, std::string_view extra_headers = {});

// Whether a request's credentials open the endpoint; null when no credentials are needed.
using Authorizer = std::function<bool(const Credentials&)>;

// The endpoint's answer to what `parser` saw (kComplete or kBad): 400 for a refused request,
// 401 (with WWW-Authenticate: Basic realm="sluice") when `authorize` refuses the request's
// credentials, 404 for a path other than /metrics, 405 for a method other than GET or HEAD on
// /metrics, and otherwise 200 with render_metrics()'s text (HEAD: headers only).
std::string metrics_response(const RequestParser& parser,
                             const std::function<std::string()>& render_metrics,
                             const Authorizer& authorize = nullptr);

// Answers a complete request for a path other than /metrics (the web console); null: 404.
using OtherHandler = std::function<std::string(const Request&)>;

// The endpoint's router: /metrics (and a refused request) as metrics_response(); any other
// path to `other` when given, else 404.
std::string route_response(const RequestParser& parser,
                           const std::function<std::string()>& render_metrics,
                           const Authorizer& authorize, const OtherHandler& other);

// The response to a connection over the endpoint's connection cap.
std::string_view service_unavailable_response();

}  // namespace sluice::server::http
