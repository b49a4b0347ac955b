// tls_ping: connects to a server's tls-port with the client library's TLS (a CA to verify the
// server, optionally a client certificate), runs PING, SET/GET and XADD/XLEN over RESP3 and
// prints one SUMMARY line. Exit status 0 when every reply was as expected, 1 otherwise (a
// refused handshake or a refused client certificate included).
#include <cstdio>
#include <string>

#include "client/sync_client.h"
#include "examples/example_args.h"

using sluice::client::ConnectionOptions;
using sluice::client::Result;
using sluice::client::SyncClient;
using sluice::client::Value;

namespace {

std::string text_of(const Result<Value>& r) {
  if (!r) return "error:" + r.error().message();
  if (r->type == Value::Type::kInteger) return std::to_string(r->integer);
  return r->str;
}

}  // namespace

int main(int argc, char** argv) {
  sluice::examples::Args args(argc, argv, "PING, SET/GET and XADD over TLS with the C++ client");
  ConnectionOptions options;
  options.host = args.str("host", "127.0.0.1", "server address");
  options.port = static_cast<int>(args.num("port", 6380, "the server's tls-port"));
  options.protocol = static_cast<int>(args.num("protocol", 3, "2 or 3"));
  options.tls.enabled = true;
  options.tls.ca_file = args.str("cacert", "", "CA certificate file (PEM) verifying the server");
  options.tls.cert_file = args.str("cert", "", "client certificate (PEM), empty for none");
  options.tls.key_file = args.str("key", "", "client private key (PEM)");
  options.tls.server_name = args.str("sni", "", "name the server certificate must carry");
  options.password = args.str("password", "", "AUTH password");
  args.finish();
  options.reconnect = false;
  options.max_connect_attempts = 1;
  options.connect_timeout_ms = 5000;
  options.command_timeout_ms = 5000;

  SyncClient client(options);
  const std::string ping = text_of(client.call({"PING"}));
  const std::string set = text_of(client.call({"SET", "tls:key", "tls-value"}));
  const std::string get = text_of(client.call({"GET", "tls:key"}));
  const std::string id = text_of(client.call({"XADD", "tls:stream", "*", "f", "v"}));
  const std::string len = text_of(client.call({"XLEN", "tls:stream"}));
  const bool ok = ping == "PONG" && set == "OK" && get == "tls-value" && len != "" &&
                  len.rfind("error:", 0) != 0 && id.rfind("error:", 0) != 0;
  std::printf("SUMMARY %s protocol=%d ping=%s set=%s get=%s xlen=%s\n", ok ? "ok" : "failed",
              client.connection().protocol(), ping.c_str(), set.c_str(), get.c_str(), len.c_str());
  return ok ? 0 : 1;
}
