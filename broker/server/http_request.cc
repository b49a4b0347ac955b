#include "broker/server/http_request.h"

#include <cstdint>

#include "broker/commands/arg_parse.h"
#include "broker/commands/prometheus_text.h"

namespace sluice::server::http {
namespace {

using commands::iequals;

constexpr std::string_view kTextPlain = "text/plain; charset=utf-8";

// RFC 9110 tchar: the characters of methods and header names.
bool is_tchar(char ch) {
  if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) {
    return true;
  }
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}

bool is_token(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (!is_tchar(ch)) return false;
  }
  return true;
}

// Visible ASCII only: no spaces, controls or bytes >= 0x80 (those must be percent-encoded).
bool is_target(std::string_view s) {
  if (s.empty()) return false;
  for (char ch : s) {
    if (ch <= ' ' || ch >= 0x7f) return false;
  }
  return true;
}

// Splits off the next line (without its LF and an optional CR before it).
std::string_view next_line(std::string_view* rest) {
  size_t lf = rest->find('\n');
  std::string_view line = rest->substr(0, lf);
  *rest = lf == std::string_view::npos ? std::string_view() : rest->substr(lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

const char* reason_phrase(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 500:
      return "Internal Server Error";
    case 503:
      return "Service Unavailable";
    default:
      return "Unknown";
  }
}

// Standard base64 (RFC 4648, padding optional); false on any other character.
bool base64_decode(std::string_view in, std::string* out) {
  uint32_t acc = 0;
  int bits = 0;
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  for (char ch : in) {
    int v;
    if (ch >= 'A' && ch <= 'Z') {
      v = ch - 'A';
    } else if (ch >= 'a' && ch <= 'z') {
      v = ch - 'a' + 26;
    } else if (ch >= '0' && ch <= '9') {
      v = ch - '0' + 52;
    } else if (ch == '+') {
      v = 62;
    } else if (ch == '/') {
      v = 63;
    } else {
      return false;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xff));
    }
  }
  return true;
}

std::string_view trim_ows(std::string_view value) {
  size_t first = value.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  value = value.substr(first);
  return value.substr(0, value.find_last_not_of(" \t") + 1);
}

}  // namespace

Credentials parse_authorization(std::string_view header) {
  Credentials c;
  size_t sp = header.find(' ');
  if (sp == std::string_view::npos) return c;
  std::string_view scheme = header.substr(0, sp);
  std::string_view rest = header.substr(header.find_first_not_of(' ', sp));
  if (iequals(scheme, "bearer") && !rest.empty()) {
    c.scheme = Credentials::Scheme::kBearer;
    c.secret = rest;
  } else if (iequals(scheme, "basic")) {
    std::string decoded;
    if (!base64_decode(rest, &decoded)) return c;
    size_t colon = decoded.find(':');
    c.scheme = Credentials::Scheme::kBasic;
    if (colon == std::string::npos) {
      c.secret = std::move(decoded);  // a bare password
    } else {
      c.user = decoded.substr(0, colon);
      c.secret = decoded.substr(colon + 1);
    }
  }
  return c;
}

ParseState RequestParser::fail(std::string why, int status) {
  error_ = std::move(why);
  error_status_ = status;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return state_ = ParseState::kBad;
}

ParseState RequestParser::feed(std::string_view bytes) {
  if (state_ != ParseState::kIncomplete) return state_;
  if (in_body_) return take_body(bytes);
  if (buffer_.empty()) {
    // Empty lines before the request line are skipped (RFC 9112 section 2.2).
    size_t start = bytes.find_first_not_of("\r\n");
    if (start == std::string_view::npos) return state_;
    bytes.remove_prefix(start);
  }
  // Never hold more than the limit: a head that has not ended within it is refused anyway.
  size_t room = max_head_bytes_ - buffer_.size();
  buffer_.append(bytes.substr(0, room));
  std::string_view beyond = bytes.size() > room ? bytes.substr(room) : std::string_view();
  // The head ends at its first empty line: "\n\n" or "\n\r\n". A line end seen at the end of
  // the previous piece ("\n" or "\n\r") is looked at again.
  size_t from = scanned_ > 2 ? scanned_ - 2 : 0;
  for (size_t i = buffer_.find('\n', from); i != std::string::npos; i = buffer_.find('\n', i + 1)) {
    size_t next = i + 1;
    if (next < buffer_.size() && buffer_[next] == '\r') ++next;
    if (next < buffer_.size() && buffer_[next] == '\n') {
      // What follows the head is the start of the body.
      std::string rest = buffer_.substr(next + 1);
      rest.append(beyond);
      if (parse_head(std::string_view(buffer_).substr(0, i + 1)) == ParseState::kBad) {
        return state_;
      }
      if (body_length_ == 0) return state_ = ParseState::kComplete;
      in_body_ = true;
      request_.body.reserve(body_length_);
      return take_body(rest);
    }
  }
  scanned_ = buffer_.size();
  if (buffer_.size() >= max_head_bytes_) {
    return fail("request head longer than " + std::to_string(max_head_bytes_) + " bytes");
  }
  return state_;
}

ParseState RequestParser::take_body(std::string_view bytes) {
  request_.body.append(bytes.substr(0, body_length_ - request_.body.size()));
  if (request_.body.size() == body_length_) state_ = ParseState::kComplete;
  return state_;
}

ParseState RequestParser::parse_head(std::string_view head) {
  std::string_view rest = head;
  std::string_view line = next_line(&rest);
  // request-line = method SP request-target SP HTTP-version
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return fail("malformed request line");
  }
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return fail("malformed method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return fail("unsupported HTTP version");
  if (!is_target(target)) return fail("malformed request target");
  std::string_view path = target;
  if (path.starts_with("http://") || path.starts_with("https://")) {
    path.remove_prefix(path.find("//") + 2);
    size_t slash = path.find('/');
    path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
  } else if (path.front() != '/' && path != "*") {
    return fail("malformed request target");
  }
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    query = query.substr(0, query.find('#'));
  }
  path = path.substr(0, path.find_first_of("?#"));
  bool have_length = false;
  while (!rest.empty()) {
    line = next_line(&rest);
    if (line.empty()) break;
    // field-line = field-name ":" OWS field-value OWS; no obsolete line folding, no space
    // before the colon (RFC 9112 section 5), no stray CR or NUL.
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || !is_token(line.substr(0, colon))) {
      return fail("malformed header line");
    }
    if (line.find_first_of(std::string_view("\r\0", 2)) != std::string_view::npos) {
      return fail("malformed header line");
    }
    std::string_view name = line.substr(0, colon);
    std::string_view value = trim_ows(line.substr(colon + 1));
    if (iequals(name, "authorization")) {
      request_.authorization = value;
    } else if (iequals(name, "content-type")) {
      request_.content_type = value;
    } else if (iequals(name, "transfer-encoding")) {
      return fail("Transfer-Encoding is not supported: send a Content-Length body");
    } else if (iequals(name, "content-length")) {
      if (have_length || value.empty() || value.size() > 18 ||
          value.find_first_not_of("0123456789") != std::string_view::npos) {
        return fail("malformed Content-Length");
      }
      have_length = true;
      body_length_ = std::stoull(std::string(value));
      if (body_length_ > max_body_bytes_) {
        return fail("request body longer than " + std::to_string(max_body_bytes_) + " bytes", 413);
      }
    }
  }
  request_.method = method;
  request_.target = target;
  request_.path = path;
  request_.query = query;
  buffer_.clear();
  buffer_.shrink_to_fit();
  return state_;
}

std::string build_response(int status, std::string_view content_type, std::string_view body,
                           bool head_only, std::string_view extra_headers) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
  out += "Content-Type: ";
  out += content_type;
  out += "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  if (status == 405 && extra_headers.find("Allow:") == std::string_view::npos) {
    out += "Allow: GET, HEAD\r\n";
  }
  out += extra_headers;
  if (status == 401) out += "WWW-Authenticate: Basic realm=\"sluice\"\r\n";
  out += "Connection: close\r\n\r\n";
  if (!head_only) out += body;
  return out;
}

std::string metrics_response(const RequestParser& parser,
                             const std::function<std::string()>& render_metrics,
                             const Authorizer& authorize) {
  if (parser.state() != ParseState::kComplete) {
    int status = parser.error_status();
    return build_response(status, kTextPlain,
                          std::string(status == 413 ? "Content Too Large: " : "Bad Request: ") +
                              parser.error() + "\n");
  }
  const Request& req = parser.request();
  if (authorize && !authorize(parse_authorization(req.authorization))) {
    return build_response(401, kTextPlain, "Unauthorized: credentials required\n",
                          req.method == "HEAD");
  }
  if (req.path != "/metrics") {
    return build_response(404, kTextPlain, "Not Found: the metrics are at /metrics\n");
  }
  bool head = req.method == "HEAD";
  if (req.method != "GET" && !head) {
    return build_response(405, kTextPlain, "Method Not Allowed: use GET\n");
  }
  return build_response(200, commands::prometheus::kContentType, render_metrics(), head);
}

std::string route_response(const RequestParser& parser,
                           const std::function<std::string()>& render_metrics,
                           const Authorizer& authorize, const OtherHandler& other) {
  if (parser.state() != ParseState::kComplete || parser.request().path == "/metrics" || !other) {
    return metrics_response(parser, render_metrics, authorize);
  }
  return other(parser.request());
}

std::string_view service_unavailable_response() {
  static const std::string kResponse =
      build_response(503, kTextPlain, "Service Unavailable: too many metrics connections\n");
  return kResponse;
}

}  // namespace sluice::server::http
