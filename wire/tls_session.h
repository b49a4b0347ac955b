// TLS over memory BIOs, shared by the broker and the client: the caller keeps doing the socket
// I/O (libuv) and OpenSSL only transforms bytes. A TlsSession takes the ciphertext read from the
// socket and hands out plaintext; plaintext written in comes out as ciphertext to send.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

struct ssl_st;
struct ssl_ctx_st;
struct bio_st;

namespace sluice::wire {

// The oldest queued OpenSSL error as text ("unknown error" if none), and the queue emptied (so
// the next failure does not report a stale one).
std::string openssl_error();

// One TLS connection, server side (accepting) or client side (connecting). Never blocks: every
// call works on bytes already fed in.
class TlsSession {
 public:
  enum class Status { kDone, kWantInput, kClosed, kError };

  // `ctx` is referenced by the session (SSL_new), so it may be freed after this returns.
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
  // What the peer's certificate says, or "" without one (for logs).
  std::string peer_subject() const;

  // Where a server's socket reads of TLS connections go: one read is handled at a time, on the
  // loop thread, and fed before the next.
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

}  // namespace sluice::wire
