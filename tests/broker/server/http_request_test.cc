// The metrics endpoint's HTTP request parser and responses: well-formed heads in any split,
// malformed and oversized heads refused, and the status codes of each route.
#include "broker/server/http_request.h"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

namespace sluice::server::http {
namespace {

constexpr std::string_view kScrape =
    "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:9121\r\nUser-Agent: Prometheus/2.45.0\r\n"
    "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n\r\n";

ParseState parse(std::string_view bytes, RequestParser* parser) { return parser->feed(bytes); }

std::string respond_to(std::string_view bytes, int* renders = nullptr) {
  RequestParser parser;
  parser.feed(bytes);
  return metrics_response(parser, [&] {
    if (renders) ++*renders;
    return std::string("sluice_up 1\n");
  });
}

TEST_SUITE("server.http_request") {
  TEST_CASE("a Prometheus scrape request parses into method, target and path") {
    RequestParser p;
    REQUIRE(parse(kScrape, &p) == ParseState::kComplete);
    CHECK(p.request().method == "GET");
    CHECK(p.request().target == "/metrics");
    CHECK(p.request().path == "/metrics");
  }

  TEST_CASE("a request fed in two pieces split at any byte parses the same as whole") {
    for (size_t split = 0; split <= kScrape.size(); ++split) {
      CAPTURE(split);
      RequestParser p;
      ParseState first = p.feed(kScrape.substr(0, split));
      CHECK(first == (split == kScrape.size() ? ParseState::kComplete : ParseState::kIncomplete));
      CHECK(p.feed(kScrape.substr(split)) == ParseState::kComplete);
      CHECK(p.request().path == "/metrics");
    }
  }

  TEST_CASE("a request fed one byte at a time completes on its last byte") {
    RequestParser p;
    for (size_t i = 0; i + 1 < kScrape.size(); ++i) {
      REQUIRE(p.feed(kScrape.substr(i, 1)) == ParseState::kIncomplete);
    }
    CHECK(p.feed(kScrape.substr(kScrape.size() - 1)) == ParseState::kComplete);
  }

  TEST_CASE("bare LF line ends, HTTP/1.0 and leading empty lines are accepted") {
    RequestParser p;
    CHECK(p.feed("\r\n\nGET /metrics HTTP/1.0\nHost: x\n\n") == ParseState::kComplete);
    CHECK(p.request().path == "/metrics");
  }

  TEST_CASE("the query is not part of the path, and absolute-form targets give their path") {
    RequestParser q;
    REQUIRE(q.feed("GET /metrics?name[]=x HTTP/1.1\r\n\r\n") == ParseState::kComplete);
    CHECK(q.request().path == "/metrics");
    CHECK(q.request().target == "/metrics?name[]=x");
    RequestParser a;
    REQUIRE(a.feed("GET http://127.0.0.1:9121/metrics HTTP/1.1\r\n\r\n") == ParseState::kComplete);
    CHECK(a.request().path == "/metrics");
    RequestParser root;
    REQUIRE(root.feed("GET http://host HTTP/1.1\r\n\r\n") == ParseState::kComplete);
    CHECK(root.request().path == "/");
  }

  TEST_CASE("bytes after the head (a body, a second request) are ignored") {
    RequestParser p;
    REQUIRE(p.feed("GET /metrics HTTP/1.1\r\n\r\nGARBAGE") == ParseState::kComplete);
    CHECK(p.feed("more garbage\r\n\r\n") == ParseState::kComplete);
    CHECK(p.request().path == "/metrics");
  }

  TEST_CASE("malformed request lines and header lines are refused") {
    const char* bad[] = {
        "GET /metrics\r\n\r\n",                              // HTTP/0.9: no version
        "GET  /metrics HTTP/1.1\r\n\r\n",                    // two spaces
        "GET /metrics HTTP/1.1 extra\r\n\r\n",               // four words
        "GET /metrics HTTP/2.0\r\n\r\n",                     // unsupported version
        "GET /metrics http/1.1\r\n\r\n",                     // version is case-sensitive
        "G(T /metrics HTTP/1.1\r\n\r\n",                     // not a token
        "GET metrics HTTP/1.1\r\n\r\n",                      // not origin-form
        "GET /met\x01rics HTTP/1.1\r\n\r\n",                 // control byte in the target
        "GET /m\xc3\xa9trics HTTP/1.1\r\n\r\n",              // raw non-ASCII in the target
        "GET /metrics HTTP/1.1\r\nHost 127.0.0.1\r\n\r\n",   // no colon
        "GET /metrics HTTP/1.1\r\nHost : x\r\n\r\n",         // space before the colon
        "GET /metrics HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",  // obsolete line folding
        "GET /metrics HTTP/1.1\r\nA: b\rc\r\n\r\n",          // stray CR
        "\x16\x03\x01\x02\x01\x01\xfc\x03\x03\n\n",          // the start of a TLS ClientHello
    };
    for (const char* request : bad) {
      CAPTURE(request);
      RequestParser p;
      CHECK(p.feed(request) == ParseState::kBad);
      CHECK(!p.error().empty());
    }
    static constexpr char kNulInHeader[] = "GET /metrics HTTP/1.1\r\nA: b\0c\r\n\r\n";
    RequestParser nul;
    CHECK(nul.feed(std::string_view(kNulInHeader, sizeof(kNulInHeader) - 1)) == ParseState::kBad);
  }

  TEST_CASE("a head that has not ended within the limit is refused without waiting for more") {
    RequestParser p(64);
    std::string line = "GET /metrics HTTP/1.1\r\nX-Long: " + std::string(100, 'a');
    CHECK(p.feed(line.substr(0, 40)) == ParseState::kIncomplete);
    CHECK(p.feed(line.substr(40)) == ParseState::kBad);
    CHECK(p.error() == "request head longer than 64 bytes");
    CHECK(p.feed("\r\n\r\n") == ParseState::kBad);
  }

  TEST_CASE("a head of exactly the limit is accepted, one byte more is refused") {
    std::string head = "GET /metrics HTTP/1.1\r\nX: ";
    head += std::string(64 - head.size() - 4, 'a') + "\r\n\r\n";
    REQUIRE(head.size() == 64);
    RequestParser exact(64);
    CHECK(exact.feed(head) == ParseState::kComplete);
    RequestParser over(63);
    CHECK(over.feed(head) == ParseState::kBad);
  }

  TEST_CASE("an endless stream of blank lines never grows the buffer past the limit") {
    RequestParser p(64);
    for (int i = 0; i < 1000; ++i) REQUIRE(p.feed("\r\n") == ParseState::kIncomplete);
    CHECK(p.feed("GET /metrics HTTP/1.1\r\n\r\n") == ParseState::kComplete);
  }

  TEST_CASE("GET /metrics answers 200 with the exposition content type and exact length") {
    int renders = 0;
    std::string r = respond_to(kScrape, &renders);
    CHECK(renders == 1);
    CHECK(r ==
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
          "Content-Length: 12\r\n"
          "Connection: close\r\n\r\n"
          "sluice_up 1\n");
  }

  TEST_CASE("HEAD /metrics answers the headers of GET without the body") {
    std::string r = respond_to("HEAD /metrics HTTP/1.1\r\n\r\n");
    CHECK(r ==
          "HTTP/1.1 200 OK\r\n"
          "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
          "Content-Length: 12\r\n"
          "Connection: close\r\n\r\n");
  }

  TEST_CASE("another path is 404, another method is 405, a bad request is 400; none renders") {
    int renders = 0;
    CHECK(respond_to("GET / HTTP/1.1\r\n\r\n", &renders).starts_with("HTTP/1.1 404 Not Found\r\n"));
    CHECK(respond_to("GET /metrics/ HTTP/1.1\r\n\r\n", &renders).starts_with("HTTP/1.1 404 "));
    CHECK(respond_to("GET /METRICS HTTP/1.1\r\n\r\n", &renders).starts_with("HTTP/1.1 404 "));
    std::string post =
        respond_to("POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", &renders);
    CHECK(post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
    CHECK(post.find("\r\nAllow: GET, HEAD\r\n") != std::string::npos);
    std::string bad = respond_to("NONSENSE\r\n\r\n", &renders);
    CHECK(bad ==
          "HTTP/1.1 400 Bad Request\r\n"
          "Content-Type: text/plain; charset=utf-8\r\n"
          "Content-Length: 36\r\n"
          "Connection: close\r\n\r\n"
          "Bad Request: malformed request line\n");
    CHECK(renders == 0);
  }

  TEST_CASE("the Authorization header is kept trimmed, whatever the case of its name") {
    RequestParser p;
    REQUIRE(parse("GET /metrics HTTP/1.1\r\nauthorization:   Bearer t0k  \r\n\r\n", &p) ==
            ParseState::kComplete);
    CHECK(p.request().authorization == "Bearer t0k");
    RequestParser none;
    REQUIRE(parse(kScrape, &none) == ParseState::kComplete);
    CHECK(none.request().authorization.empty());
  }

  TEST_CASE("Basic and Bearer credentials are decoded; anything else is no credentials") {
    Credentials c = parse_authorization("Basic YWxpY2U6cHc6eA==");  // alice:pw:x
    CHECK(c.scheme == Credentials::Scheme::kBasic);
    CHECK(c.user == "alice");
    CHECK(c.secret == "pw:x");
    c = parse_authorization("basic c2VjcmV0");  // "secret": a bare password
    CHECK(c.scheme == Credentials::Scheme::kBasic);
    CHECK(c.user.empty());
    CHECK(c.secret == "secret");
    c = parse_authorization("Bearer abc.def");
    CHECK(c.scheme == Credentials::Scheme::kBearer);
    CHECK(c.secret == "abc.def");
    CHECK(parse_authorization("").scheme == Credentials::Scheme::kNone);
    CHECK(parse_authorization("Basic").scheme == Credentials::Scheme::kNone);
    CHECK(parse_authorization("Basic not*base64").scheme == Credentials::Scheme::kNone);
    CHECK(parse_authorization("Digest abc").scheme == Credentials::Scheme::kNone);
  }

  TEST_CASE("refused credentials get 401 with WWW-Authenticate and do not render") {
    RequestParser parser;
    parser.feed("GET /metrics HTTP/1.1\r\nAuthorization: Bearer no\r\n\r\n");
    int renders = 0;
    std::string seen;
    auto render = [&] {
      ++renders;
      return std::string("sluice_up 1\n");
    };
    std::string r = metrics_response(parser, render, [&](const Credentials& c) {
      seen = c.secret;
      return c.secret == "yes";
    });
    CHECK(r.starts_with("HTTP/1.1 401 Unauthorized\r\n"));
    CHECK(r.find("\r\nWWW-Authenticate: Basic realm=\"sluice\"\r\n") != std::string::npos);
    CHECK(seen == "no");
    CHECK(renders == 0);
    RequestParser ok;
    ok.feed("GET /metrics HTTP/1.1\r\nAuthorization: Bearer yes\r\n\r\n");
    CHECK(metrics_response(ok, render, [](const Credentials& c) {
            return c.secret == "yes";
          }).starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(renders == 1);
  }

  TEST_CASE("the over-capacity response is a complete 503 that closes") {
    std::string_view r = service_unavailable_response();
    CHECK(r.starts_with("HTTP/1.1 503 Service Unavailable\r\n"));
    CHECK(r.find("\r\nConnection: close\r\n\r\n") != std::string_view::npos);
  }

  TEST_CASE("a Content-Length body is read whole, in any split, and the query is kept") {
    const std::string req =
        "POST /api/xadd?db=1&x=%41 HTTP/1.1\r\nContent-Type: application/json\r\n"
        "Content-Length: 12\r\n\r\n{\"key\":\"s\"}\n";
    for (size_t split = 0; split <= req.size(); ++split) {
      CAPTURE(split);
      RequestParser p;
      p.feed(std::string_view(req).substr(0, split));
      REQUIRE(p.feed(std::string_view(req).substr(split)) == ParseState::kComplete);
      CHECK(p.request().method == "POST");
      CHECK(p.request().path == "/api/xadd");
      CHECK(p.request().query == "db=1&x=%41");
      CHECK(p.request().content_type == "application/json");
      CHECK(p.request().body == "{\"key\":\"s\"}\n");
    }
    RequestParser partial;
    CHECK(partial.feed(req.substr(0, req.size() - 1)) == ParseState::kIncomplete);
  }

  TEST_CASE("bytes after the body are ignored; no Content-Length means no body") {
    RequestParser p;
    CHECK(p.feed("POST /x HTTP/1.1\r\nContent-Length: 2\r\n\r\nabGET / HTTP/1.1\r\n\r\n") ==
          ParseState::kComplete);
    CHECK(p.request().body == "ab");
    RequestParser q;
    CHECK(q.feed("GET /api/whoami?a HTTP/1.1\r\n\r\nrest") == ParseState::kComplete);
    CHECK(q.request().body.empty());
    CHECK(q.request().query == "a");
  }

  TEST_CASE("an oversized body is 413, chunked and malformed lengths are 400") {
    RequestParser big;
    CHECK(big.feed("POST /api/xadd HTTP/1.1\r\nContent-Length: " +
                   std::to_string(kMaxRequestBodyBytes + 1) + "\r\n\r\n") == ParseState::kBad);
    CHECK(big.error_status() == 413);
    std::string r = metrics_response(big, [] { return std::string(); });
    CHECK(r.starts_with("HTTP/1.1 413 Content Too Large\r\n"));
    RequestParser exact;
    CHECK(exact.feed("POST /api/xadd HTTP/1.1\r\nContent-Length: " +
                     std::to_string(kMaxRequestBodyBytes) + "\r\n\r\n") == ParseState::kIncomplete);
    for (const char* head : {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
                             "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n",
                             "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
                             "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n"}) {
      CAPTURE(head);
      RequestParser p;
      CHECK(p.feed(head) == ParseState::kBad);
      CHECK(p.error_status() == 400);
    }
  }

  TEST_CASE("route_response sends /metrics to the metrics and other paths to the handler") {
    auto route = [](std::string_view bytes, bool with_other) {
      RequestParser p;
      p.feed(bytes);
      OtherHandler other;
      if (with_other) {
        other = [](const Request& r) { return "other " + r.method + " " + r.path + " " + r.body; };
      }
      return route_response(
          p, [] { return std::string("sluice_up 1\n"); }, nullptr, other);
    };
    CHECK(route("GET /metrics HTTP/1.1\r\n\r\n", true).find("sluice_up 1\n") != std::string::npos);
    CHECK(route("POST /api/x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", true) ==
          "other POST /api/x abc");
    CHECK(route("GET / HTTP/1.1\r\n\r\n", false).starts_with("HTTP/1.1 404 "));
    CHECK(route("GET /x HTTP/1.1\r\nContent-Length: z\r\n\r\n", true).starts_with("HTTP/1.1 400 "));
  }

  TEST_CASE("build_response adds extra headers, and their Allow replaces the default one") {
    std::string r = build_response(405, "application/json", "{}", false,
                                   "Allow: POST\r\nCache-Control: no-store\r\n");
    CHECK(r.find("Allow: POST\r\n") != std::string::npos);
    CHECK(r.find("Allow: GET, HEAD") == std::string::npos);
    CHECK(r.find("Cache-Control: no-store\r\n") != std::string::npos);
    CHECK(r.ends_with("\r\n\r\n{}"));
  }
}

}  // namespace
}  // namespace sluice::server::http
