#include "wire/tls_session.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <climits>

namespace sluice::wire {
namespace {

constexpr size_t kReadScratch = 64 * 1024;

}  // namespace

std::string openssl_error() {
  unsigned long code = ERR_get_error();
  std::string text;
  if (code != 0) {
    char buf[256];
    ERR_error_string_n(code, buf, sizeof(buf));
    text = buf;
  }
  ERR_clear_error();
  return text.empty() ? "unknown error" : text;
}

TlsSession::TlsSession(ssl_ctx_st* ctx, bool client) {
  ssl_ = SSL_new(ctx);
  rbio_ = BIO_new(BIO_s_mem());
  wbio_ = BIO_new(BIO_s_mem());
  // An empty memory BIO reports "retry" rather than EOF, so SSL_read asks for more input.
  BIO_set_mem_eof_return(rbio_, -1);
  BIO_set_mem_eof_return(wbio_, -1);
  SSL_set_bio(ssl_, rbio_, wbio_);
  if (client) {
    SSL_set_connect_state(ssl_);
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

std::span<char> TlsSession::read_scratch() {
  static char buffer[kReadScratch];
  return {buffer, sizeof(buffer)};
}

void TlsSession::feed(const char* data, size_t n) {
  while (n > 0) {
    int chunk = static_cast<int>(std::min<size_t>(n, INT_MAX));
    int w = BIO_write(rbio_, data, chunk);
    if (w <= 0) return;
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void TlsSession::set_error(int ret) {
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_SYSCALL || err == SSL_ERROR_SSL) {
    error_ = openssl_error();
  } else {
    error_ = "SSL error " + std::to_string(err);
    ERR_clear_error();
  }
}

TlsSession::Status TlsSession::handshake() {
  if (established_) return Status::kDone;
  ERR_clear_error();
  int ret = SSL_do_handshake(ssl_);
  if (ret == 1) {
    established_ = true;
    return Status::kDone;
  }
  if (SSL_get_error(ssl_, ret) == SSL_ERROR_WANT_READ) return Status::kWantInput;
  set_error(ret);
  return Status::kError;
}

TlsSession::Status TlsSession::read(char* buf, size_t len, size_t* n) {
  *n = 0;
  ERR_clear_error();
  int ret = SSL_read(ssl_, buf, static_cast<int>(std::min<size_t>(len, INT_MAX)));
  if (ret > 0) {
    *n = static_cast<size_t>(ret);
    return Status::kDone;
  }
  int err = SSL_get_error(ssl_, ret);
  if (err == SSL_ERROR_WANT_READ) return Status::kWantInput;
  if (err == SSL_ERROR_ZERO_RETURN) return Status::kClosed;
  set_error(ret);
  return Status::kError;
}

void TlsSession::write(const char* data, size_t n) {
  ERR_clear_error();
  while (n > 0) {
    int chunk = static_cast<int>(std::min<size_t>(n, INT_MAX));
    int w = SSL_write(ssl_, data, chunk);
    if (w <= 0) {
      set_error(w);
      return;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
}

void TlsSession::shutdown() {
  ERR_clear_error();
  if (established_) SSL_shutdown(ssl_);
  ERR_clear_error();
}

void TlsSession::drain_bio() {
  size_t pending = BIO_ctrl_pending(wbio_);
  if (pending == 0) return;
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
  }
  size_t at = out_.size();
  out_.resize(at + pending);
  int got = BIO_read(wbio_, out_.data() + at, static_cast<int>(pending));
  out_.resize(at + static_cast<size_t>(std::max(got, 0)));
}

std::string_view TlsSession::output() {
  drain_bio();
  return std::string_view(out_).substr(out_pos_);
}

void TlsSession::consume_output(size_t n) {
  out_pos_ = std::min(out_.size(), out_pos_ + n);
  if (out_pos_ == out_.size()) {
    out_.clear();
    out_pos_ = 0;
    // A large reply's buffer is not kept for the connection's life.
    if (out_.capacity() > 1024 * 1024) out_.shrink_to_fit();
  }
}

std::string TlsSession::take_output() {
  drain_bio();
  std::string out = out_.substr(out_pos_);
  out_.clear();
  out_pos_ = 0;
  return out;
}

bool TlsSession::has_output() { return out_pos_ < out_.size() || BIO_ctrl_pending(wbio_) > 0; }

size_t TlsSession::output_bytes() { return out_.size() - out_pos_ + BIO_ctrl_pending(wbio_); }

std::string TlsSession::peer_subject() const {
  X509* cert = SSL_get1_peer_certificate(ssl_);
  if (cert == nullptr) return {};
  char buf[512];
  X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof(buf));
  X509_free(cert);
  return buf;
}

}  // namespace sluice::wire
