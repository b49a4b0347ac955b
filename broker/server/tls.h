// TLS over memory BIOs: libuv keeps doing the socket I/O and OpenSSL only transforms bytes. A
// TlsSession takes the ciphertext read from the socket and hands out plaintext for the RESP
// parser; replies go in as plaintext and come out as ciphertext to write. TlsContext holds the
// SSL_CTX built from the tls-* options (Redis's names) and swaps in a new one on reload: new
// connections use it, open sessions keep the context they started with (SSL_new holds a
// reference), and a reload that fails keeps the current one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "broker/config/config.h"
#include "wire/tls_session.h"

struct ssl_ctx_st;

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

using TlsSession = wire::TlsSession;

}  // namespace sluice::server
