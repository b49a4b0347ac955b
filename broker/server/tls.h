// TLS over memory BIOs: libuv keeps doing the socket I/O and OpenSSL only transforms bytes. A
// TlsSession takes the ciphertext read from the socket and hands out plaintext for the RESP
// parser; replies go in as plaintext and come out as ciphertext to write. TlsContext holds the
// SSL_CTX built from the tls-* options (Redis's names) and swaps in a new one on reload: new
// connections use it, open sessions keep the context they started with (SSL_new holds a
// reference), and a reload that fails keeps the current one.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include "broker/config/config.h"

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace sluice::server {

class TlsContext {
 public:
  TlsContext() = default;
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  // Builds a context from the tls-* options and makes it current. On failure returns why (as
  // OpenSSL or Redis words it) and keeps the current context.
  std::string configure(const config::Config& config);
  // The client side (a replica connecting to its master with tls-replication): the client
  // certificate (tls-client-cert-file / -key-file, else tls-cert-file / -key-file) and the CA
  // that verifies the master's certificate (tls-ca-cert-file / -dir), as Redis's client context.
  std::string configure_client(const config::Config& config);
  ssl_ctx_st* get() const { return ctx_; }

 private:
  ssl_ctx_st* ctx_ = nullptr;
};

// One TLS connection (server side, or client side for replication). Never blocks: every call works
// on bytes already fed in.
class TlsSession {
 public:
  enum class Status { kDone, kWantInput, kClosed, kError };

  // A server session, or with `client` a client one (it speaks first: handshake() queues the
  // ClientHello).
  explicit TlsSession(ssl_ctx_st* ctx, bool client = false);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  // Ciphertext read from the socket.
  void feed(const char* data, size_t n);
  bool established() const { return established_; }
  // Advances the handshake with what was fed: kDone once established, kWantInput, or kError.
  Status handshake();
  // Decrypts up to `len` bytes. kDone with *n > 0; kWantInput when all fed ciphertext is
  // consumed; kClosed on the peer's close_notify; kError otherwise (see error()).
  Status read(char* buf, size_t len, size_t* n);
  // Encrypts plaintext (memory BIOs take everything at once).
  void write(const char* data, size_t n);
  // Queues a close_notify alert.
  void shutdown();

  // Ciphertext waiting for the socket. The view stays valid until the next call that produces
  // output (write, read, handshake, shutdown) or consume_output.
  std::string_view output();
  void consume_output(size_t n);
  // Everything output() would return, moved out.
  std::string take_output();
  bool has_output();
  size_t output_bytes();

  const std::string& error() const { return error_; }
  // What the client's certificate says, or "" without one (for logs).
  std::string peer_subject() const;

  // Where socket reads of TLS connections go: one read is handled at a time, on the loop
  // thread, and fed before the next.
  static std::span<char> read_scratch();

 private:
  void drain_bio();
  void set_error(int ret);

  ssl_st* ssl_ = nullptr;
  bio_st* rbio_ = nullptr;  // ciphertext in (owned by ssl_)
  bio_st* wbio_ = nullptr;  // ciphertext out (owned by ssl_)
  std::string out_;
  size_t out_pos_ = 0;
  std::string error_;
  bool established_ = false;
};

}  // namespace sluice::server
