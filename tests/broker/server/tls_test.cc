// TlsContext and TlsSession without sockets: a client SSL on memory BIOs talks to a server
// session, bytes moved by hand in chunks of any size. The certificate is made here (a
// self-signed P-256 certificate written to a temporary directory).
#include "broker/server/tls.h"

#include <doctest/doctest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace sluice::server {
namespace {

struct TempCert {
  std::filesystem::path dir;
  std::string cert;
  std::string key;
  std::string other_key;  // a key that does not match cert

  TempCert() {
    char pattern[] = "/tmp/sluice-tls-test-XXXXXX";
    dir = mkdtemp(pattern);
    cert = (dir / "server.crt").string();
    key = (dir / "server.key").string();
    other_key = (dir / "other.key").string();
    EVP_PKEY* pkey = EVP_EC_gen("P-256");
    EVP_PKEY* other = EVP_EC_gen("P-256");
    X509* x = X509_new();
    ASN1_INTEGER_set(X509_get_serialNumber(x), 42);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, pkey);
    X509_NAME* name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                               reinterpret_cast<const unsigned char*>("localhost"), -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_sign(x, pkey, EVP_sha256());
    write(cert, [&](FILE* f) { PEM_write_X509(f, x); });
    write(key,
          [&](FILE* f) { PEM_write_PrivateKey(f, pkey, nullptr, nullptr, 0, nullptr, nullptr); });
    write(other_key,
          [&](FILE* f) { PEM_write_PrivateKey(f, other, nullptr, nullptr, 0, nullptr, nullptr); });
    X509_free(x);
    EVP_PKEY_free(pkey);
    EVP_PKEY_free(other);
  }
  ~TempCert() { std::filesystem::remove_all(dir); }

  template <typename Fn>
  static void write(const std::string& path, Fn fn) {
    FILE* f = std::fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    fn(f);
    std::fclose(f);
  }

  config::Config config() const {
    config::Config c;
    c.tls_port = 1;
    c.tls_cert_file = cert;
    c.tls_key_file = key;
    c.tls_auth_clients = "no";
    return c;
  }
};

// A TLS client on memory BIOs.
struct Client {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL* ssl = nullptr;
  BIO* in = BIO_new(BIO_s_mem());
  BIO* out = BIO_new(BIO_s_mem());

  Client() {
    ssl = SSL_new(ctx);
    SSL_set_bio(ssl, in, out);
    SSL_set_connect_state(ssl);
  }
  ~Client() {
    SSL_free(ssl);
    SSL_CTX_free(ctx);
  }
  std::string take() {
    std::string bytes(BIO_ctrl_pending(out), '\0');
    if (!bytes.empty()) BIO_read(out, bytes.data(), static_cast<int>(bytes.size()));
    return bytes;
  }
  void give(std::string_view bytes) {
    if (!bytes.empty()) BIO_write(in, bytes.data(), static_cast<int>(bytes.size()));
  }
  std::string read_all() {
    std::string plain;
    char buf[4096];
    int n;
    while ((n = SSL_read(ssl, buf, sizeof(buf))) > 0) plain.append(buf, static_cast<size_t>(n));
    return plain;
  }
};

// Moves bytes both ways, `chunk` at a time into the server, until neither side has any.
void pump(Client& client, TlsSession& server, size_t chunk, std::string* plain = nullptr) {
  for (int round = 0; round < 1000; ++round) {
    SSL_do_handshake(client.ssl);
    std::string to_server = client.take();
    for (size_t i = 0; i < to_server.size(); i += chunk) {
      std::string_view part = std::string_view(to_server).substr(i, chunk);
      server.feed(part.data(), part.size());
      if (!server.established()) {
        REQUIRE(server.handshake() != TlsSession::Status::kError);
      }
      if (server.established() && plain != nullptr) {
        char buf[1000];
        size_t got = 0;
        while (server.read(buf, sizeof(buf), &got) == TlsSession::Status::kDone) {
          plain->append(buf, got);
        }
      }
    }
    std::string to_client = server.take_output();
    client.give(to_client);
    if (to_server.empty() && to_client.empty()) return;
  }
  FAIL("the exchange did not settle");
}

TEST_CASE("tls: handshake and both directions over memory BIOs, in any split") {
  TempCert certs;
  TlsContext ctx;
  REQUIRE(ctx.configure(certs.config()) == "");
  for (size_t chunk : {size_t{1}, size_t{7}, size_t{1000}, size_t{1} << 20}) {
    CAPTURE(chunk);
    TlsSession server(ctx.get());
    Client client;
    pump(client, server, chunk);
    REQUIRE(server.established());
    REQUIRE(SSL_is_init_finished(client.ssl));
    // Client to server.
    std::string request = "*1\r\n$4\r\nPING\r\n";
    REQUIRE(SSL_write(client.ssl, request.data(), static_cast<int>(request.size())) > 0);
    std::string got;
    pump(client, server, chunk, &got);
    CHECK(got == request);
    // Server to client: a reply far larger than a TLS record.
    std::string reply(300 * 1024, 'x');
    for (size_t i = 0; i < reply.size(); ++i) reply[i] = static_cast<char>('a' + i % 26);
    server.write(reply.data(), reply.size());
    CHECK(server.output_bytes() > reply.size());
    client.give(server.take_output());
    CHECK(client.read_all() == reply);
    CHECK(!server.has_output());
  }
}

TEST_CASE("tls: output is consumed in parts and the close_notify is reported") {
  TempCert certs;
  TlsContext ctx;
  REQUIRE(ctx.configure(certs.config()) == "");
  TlsSession server(ctx.get());
  Client client;
  pump(client, server, 1 << 20);
  server.write("+PONG\r\n", 7);
  std::string_view first = server.output();
  std::string all(first);
  server.consume_output(3);
  CHECK(server.output() == std::string_view(all).substr(3));
  server.consume_output(all.size() - 3);
  CHECK(server.output().empty());
  client.give(all);
  CHECK(client.read_all() == "+PONG\r\n");
  SSL_shutdown(client.ssl);
  std::string alert = client.take();
  server.feed(alert.data(), alert.size());
  char buf[16];
  size_t got = 0;
  CHECK(server.read(buf, sizeof(buf), &got) == TlsSession::Status::kClosed);
}

TEST_CASE("tls: plaintext instead of a handshake is an error with OpenSSL's reason") {
  TempCert certs;
  TlsContext ctx;
  REQUIRE(ctx.configure(certs.config()) == "");
  TlsSession server(ctx.get());
  std::string ping = "*1\r\n$4\r\nPING\r\n";
  server.feed(ping.data(), ping.size());
  CHECK(server.handshake() == TlsSession::Status::kError);
  CHECK(server.error().find("wrong version number") != std::string::npos);
  // A partial record header is not yet an error.
  TlsSession waiting(ctx.get());
  waiting.feed("\x16\x03", 2);
  CHECK(waiting.handshake() == TlsSession::Status::kWantInput);
}

TEST_CASE("tls: configure refuses bad options and keeps the current context") {
  TempCert certs;
  TlsContext ctx;
  config::Config c = certs.config();
  REQUIRE(ctx.configure(c) == "");
  ssl_ctx_st* current = ctx.get();
  REQUIRE(current != nullptr);

  config::Config missing = c;
  missing.tls_cert_file = (certs.dir / "missing.crt").string();
  CHECK(ctx.configure(missing).find("Failed to load certificate") == 0);
  config::Config mismatched = c;
  mismatched.tls_key_file = certs.other_key;
  CHECK(ctx.configure(mismatched).find("Failed to load private key") == 0);
  config::Config no_ca = c;
  no_ca.tls_auth_clients = "yes";
  CHECK(ctx.configure(no_ca).find("Either tls-ca-cert-file or tls-ca-cert-dir") == 0);
  config::Config bad_protocols = c;
  bad_protocols.tls_protocols = "TLSv1.2 SSLv3";
  CHECK(ctx.configure(bad_protocols).find("Invalid tls-protocols") == 0);
  config::Config bad_ciphers = c;
  bad_ciphers.tls_ciphers = "NO-SUCH-CIPHER";
  CHECK(ctx.configure(bad_ciphers).find("Failed to configure ciphers") == 0);
  CHECK(ctx.get() == current);

  // A good one replaces it; sessions made from the old context keep working.
  TlsSession old_session(current);
  REQUIRE(ctx.configure(c) == "");
  CHECK(ctx.get() != current);
  Client client;
  pump(client, old_session, 1 << 20);
  CHECK(old_session.established());
}

}  // namespace
}  // namespace sluice::server
