#include "broker/commands/cold_read.h"

#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "broker/commands/dispatch.h"
#include "broker/storage/cold_read.h"

namespace sluice::commands {
namespace {

// The first round warms this much from the refused offset; each further round of the same
// command twice as much, up to kMaxWarmBytes.
constexpr uint64_t kFirstWarmBytes = 1 << 20;
constexpr uint64_t kMaxWarmBytes = 64 << 20;

bool reads_history(const CommandSpec& spec) {
  const std::string& n = spec.name;
  if (n.empty() || n[0] != 'x') return false;
  return n == "xrange" || n == "xrevrange" || n == "xread" || n == "xreadgroup" || n == "xclaim" ||
         n == "xautoclaim";
}

}  // namespace

bool may_defer_cold_read(const core::Broker& broker, const core::Client& client,
                         const CommandSpec& spec) {
  return broker.control != nullptr && !client.in_multi && !client.script && !client.master &&
         client.cold_rounds < kMaxColdRounds && reads_history(spec);
}

bool cold_read_active() { return storage::NoWaitReads::active(); }

bool cold_read_missed() { return storage::NoWaitReads::missed_now(); }

void cold_read_commit() { storage::NoWaitReads::suspend(); }

bool defer_cold_read(core::Broker& broker, core::Client& client,
                     std::span<const std::string_view> argv, int fd, uint64_t offset,
                     uint64_t length) {
  const uint64_t window =
      std::min(kMaxWarmBytes, kFirstWarmBytes << std::min(client.cold_rounds, 6u));
  if (!broker.control->warm_cold_read(client.id, fd, offset, std::max(length, window))) {
    if (fd >= 0) ::close(fd);
    return false;
  }
  client.cold_argv.assign(argv.begin(), argv.end());
  for (size_t i = 0; i < argv.size(); ++i) {
    // A big argument received into a buffer of its own moves instead of being copied.
    std::string owned;
    if (core::take_owned_arg(client, argv[i], &owned)) client.cold_argv[i] = std::move(owned);
  }
  ++client.cold_rounds;
  client.reading_cold = true;
  client.blocked = true;
  client.blocked_waiter = 0;
  ++broker.stats().cold_reads_deferred;
  return true;
}

void resume_cold_read(core::Broker& broker, uint64_t client_id) {
  core::Client* c = broker.find_client(client_id);
  if (c == nullptr || !c->reading_cold) return;
  c->reading_cold = false;
  c->blocked = false;
  std::vector<std::string> args = std::move(c->cold_argv);
  c->cold_argv.clear();
  std::vector<std::string_view> argv(args.begin(), args.end());
  c->owned_args = args;
  execute(broker, *c, argv);
  c->owned_args = {};
  if (c->reading_cold) return;  // refused again: it waits for the next round
  c->cold_rounds = 0;
  if (!c->blocked) c->host->unblocked(*c);
  c->host->output_ready(*c);
}

}  // namespace sluice::commands
