#include "broker/server/tls.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <sstream>

namespace sluice::server {

using wire::openssl_error;

namespace {

// tls-protocols: "TLSv1.2 TLSv1.3" (any case). Empty means TLSv1.2 and TLSv1.3, as in Redis.
bool protocol_options(const std::string& text, uint64_t* no_options) {
  bool v1 = false, v11 = false, v12 = false, v13 = false;
  std::istringstream in(text);
  std::string word;
  bool any = false;
  while (in >> word) {
    std::string w;
    for (char c : word) w += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (w == "tlsv1") {
      v1 = true;
    } else if (w == "tlsv1.1") {
      v11 = true;
    } else if (w == "tlsv1.2") {
      v12 = true;
    } else if (w == "tlsv1.3") {
      v13 = true;
    } else {
      return false;
    }
    any = true;
  }
  if (!any) v12 = v13 = true;
  uint64_t no = SSL_OP_NO_SSLv2 | SSL_OP_NO_SSLv3;
  if (!v1) no |= SSL_OP_NO_TLSv1;
  if (!v11) no |= SSL_OP_NO_TLSv1_1;
  if (!v12) no |= SSL_OP_NO_TLSv1_2;
  if (!v13) no |= SSL_OP_NO_TLSv1_3;
  *no_options = no;
  return true;
}

int key_password(char* buf, int size, int, void* userdata) {
  const auto* pass = static_cast<const std::string*>(userdata);
  if (pass == nullptr || pass->size() > static_cast<size_t>(size)) return 0;
  std::copy(pass->begin(), pass->end(), buf);
  return static_cast<int>(pass->size());
}

}  // namespace

TlsContext::~TlsContext() { SSL_CTX_free(ctx_); }

std::string TlsContext::configure(const config::Config& c) {
  ERR_clear_error();
  if (c.tls_cert_file.empty()) return "No tls-cert-file configured!";
  if (c.tls_key_file.empty()) return "No tls-key-file configured!";
  if (c.tls_auth_clients != "no" && c.tls_ca_cert_file.empty() && c.tls_ca_cert_dir.empty()) {
    return "Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-auth-clients "
           "is enabled!";
  }
  uint64_t no_protocols = 0;
  if (!protocol_options(c.tls_protocols, &no_protocols)) {
    return "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' "
           "and 'TLSv1.3'.";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) return "Failed to create TLS context: " + openssl_error();
  auto fail = [ctx](std::string why) {
    SSL_CTX_free(ctx);
    return why;
  };
  // No renegotiation (TLS 1.3 has none; this refuses it under 1.2, either side asking).
  uint64_t options =
      no_protocols | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_SINGLE_DH_USE;
  if (c.tls_prefer_server_ciphers) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  if (!c.tls_session_caching) options |= SSL_OP_NO_TICKET;
  SSL_CTX_set_options(ctx, options);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  if (c.tls_session_caching) {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    SSL_CTX_sess_set_cache_size(ctx, c.tls_session_cache_size);
    SSL_CTX_set_timeout(ctx, static_cast<long>(c.tls_session_cache_timeout));
    static const unsigned char kSessionId[] = "sluice";
    SSL_CTX_set_session_id_context(ctx, kSessionId, sizeof(kSessionId) - 1);
  } else {
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  }
  // The password is only read while the key loads.
  std::string pass = c.tls_key_file_pass;
  if (!pass.empty()) {
    SSL_CTX_set_default_passwd_cb(ctx, key_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &pass);
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, c.tls_cert_file.c_str()) <= 0) {
    return fail("Failed to load certificate: " + c.tls_cert_file + ": " + openssl_error());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, c.tls_key_file.c_str(), SSL_FILETYPE_PEM) <= 0) {
    return fail("Failed to load private key: " + c.tls_key_file + ": " + openssl_error());
  }
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (SSL_CTX_check_private_key(ctx) <= 0) {
    return fail("The private key does not match the certificate: " + openssl_error());
  }
  if (!c.tls_ca_cert_file.empty() || !c.tls_ca_cert_dir.empty()) {
    const char* file = c.tls_ca_cert_file.empty() ? nullptr : c.tls_ca_cert_file.c_str();
    const char* dir = c.tls_ca_cert_dir.empty() ? nullptr : c.tls_ca_cert_dir.c_str();
    if (SSL_CTX_load_verify_locations(ctx, file, dir) <= 0) {
      return fail("Failed to configure CA certificate(s) file/directory: " + openssl_error());
    }
  }
  if (!c.tls_dh_params_file.empty()) {
    BIO* file = BIO_new_file(c.tls_dh_params_file.c_str(), "r");
    EVP_PKEY* dh = file ? PEM_read_bio_Parameters(file, nullptr) : nullptr;
    BIO_free(file);
    if (dh == nullptr || SSL_CTX_set0_tmp_dh_pkey(ctx, dh) <= 0) {
      EVP_PKEY_free(dh);
      return fail("Failed to load DH parameters: " + c.tls_dh_params_file + ": " + openssl_error());
    }
  } else {
    SSL_CTX_set_dh_auto(ctx, 1);
  }
  if (!c.tls_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, c.tls_ciphers.c_str()) <= 0) {
    return fail("Failed to configure ciphers: " + c.tls_ciphers);
  }
  if (!c.tls_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, c.tls_ciphersuites.c_str()) <= 0) {
    return fail("Failed to configure ciphersuites: " + c.tls_ciphersuites);
  }
  int verify = SSL_VERIFY_NONE;
  if (c.tls_auth_clients == "yes") verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  if (c.tls_auth_clients == "optional") verify = SSL_VERIFY_PEER;
  SSL_CTX_set_verify(ctx, verify, nullptr);
  SSL_CTX_free(ctx_);
  ctx_ = ctx;
  return {};
}

std::string TlsContext::configure_client(const config::Config& c) {
  ERR_clear_error();
  const bool own = !c.tls_client_cert_file.empty();
  const std::string& cert = own ? c.tls_client_cert_file : c.tls_cert_file;
  const std::string& key = own ? c.tls_client_key_file : c.tls_key_file;
  const std::string& pass = own ? c.tls_client_key_file_pass : c.tls_key_file_pass;
  uint64_t no_protocols = 0;
  if (!protocol_options(c.tls_protocols, &no_protocols)) {
    return "Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' "
           "and 'TLSv1.3'.";
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (ctx == nullptr) return "Failed to create TLS context: " + openssl_error();
  auto fail = [ctx](std::string why) {
    SSL_CTX_free(ctx);
    return why;
  };
  SSL_CTX_set_options(ctx, no_protocols | SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER |
                            SSL_MODE_RELEASE_BUFFERS);
  std::string password = pass;
  if (!password.empty()) {
    SSL_CTX_set_default_passwd_cb(ctx, key_password);
    SSL_CTX_set_default_passwd_cb_userdata(ctx, &password);
  }
  if (!cert.empty() && SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) <= 0) {
    return fail("Failed to load certificate: " + cert + ": " + openssl_error());
  }
  if (!key.empty() && SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) <= 0) {
    return fail("Failed to load private key: " + key + ": " + openssl_error());
  }
  SSL_CTX_set_default_passwd_cb(ctx, nullptr);
  SSL_CTX_set_default_passwd_cb_userdata(ctx, nullptr);
  if (!c.tls_ca_cert_file.empty() || !c.tls_ca_cert_dir.empty()) {
    const char* file = c.tls_ca_cert_file.empty() ? nullptr : c.tls_ca_cert_file.c_str();
    const char* dir = c.tls_ca_cert_dir.empty() ? nullptr : c.tls_ca_cert_dir.c_str();
    if (SSL_CTX_load_verify_locations(ctx, file, dir) <= 0) {
      return fail("Failed to configure CA certificate(s) file/directory: " + openssl_error());
    }
  }
  if (!c.tls_ciphers.empty() && SSL_CTX_set_cipher_list(ctx, c.tls_ciphers.c_str()) <= 0) {
    return fail("Failed to configure ciphers: " + c.tls_ciphers);
  }
  if (!c.tls_ciphersuites.empty() &&
      SSL_CTX_set_ciphersuites(ctx, c.tls_ciphersuites.c_str()) <= 0) {
    return fail("Failed to configure ciphersuites: " + c.tls_ciphersuites);
  }
  // The master's certificate must chain to the CA (Redis verifies it, not the host name).
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL_CTX_free(ctx_);
  ctx_ = ctx;
  return {};
}

}  // namespace sluice::server
