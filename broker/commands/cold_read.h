// Cold reads off the loop thread: a command that reads stream history (XRANGE, XREVRANGE, XREAD,
// XREADGROUP, XCLAIM, XAUTOCLAIM) runs under a storage::NoWaitReads guard (storage/cold_read.h).
// When a read of a segment file would wait for the disk, the command's partial reply is dropped,
// the client is parked as a blocked client is (its pipelined commands wait behind it in its input
// buffer, so replies keep their order), a worker thread reads the missing bytes into the page
// cache, and the command runs again from the start on the loop thread once they are there. Other
// clients' commands run meanwhile; none waits for the disk.
//
// - Running again is correct because nothing was changed before the refused read: pure reads
//   (XRANGE, XREVRANGE, XREAD) change nothing, and the group commands read before they act and
//   call cold_read_commit() before their first change, after which their reads wait for the disk
//   as before (the second key of a multi-key XREADGROUP, the entries after the first that XCLAIM
//   claims). The result is that of the command run at the moment it is answered.
// - Each round warms at least 1 MiB from the refused offset, doubling while the same command
//   keeps being refused (up to 64 MiB, a whole default segment), so that a long range costs a
//   few rounds, not one per block. After kMaxColdRounds rounds the command reads synchronously.
// - Inside MULTI/EXEC, inside a script or function, for the master's stream on a replica, and in
//   a blocked client's wake-up (which reads new entries, from memory), reads stay synchronous: a
//   transaction or a script cannot be suspended halfway.
// - A client that disconnects while its bytes are being read loses nothing: the command had
//   changed nothing, the worker only warms the page cache, and its completion finds no client.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "broker/commands/command_table.h"
#include "broker/core/broker.h"

namespace sluice::commands {

inline constexpr uint32_t kMaxColdRounds = 12;

// Whether `spec`, run now by `client`, runs under a NoWaitReads guard.
bool may_defer_cold_read(const core::Broker& broker, const core::Client& client,
                         const CommandSpec& spec);

// For handlers: whether this command's reads are refused when cold (it runs under the guard).
bool cold_read_active();
// For handlers: whether a read of this command was refused (it then replies nothing more and
// changes nothing: the dispatcher runs it again later).
bool cold_read_missed();
// For handlers: the command is about to change state; its further reads wait for the disk.
void cold_read_commit();

// The command in argv was refused a read (`miss`, storage::ColdMiss, whose descriptor this takes
// over): parks the client and asks the server to warm the bytes. Returns false when the server
// cannot (the caller runs the command again synchronously).
bool defer_cold_read(core::Broker& broker, core::Client& client,
                     std::span<const std::string_view> argv, int fd, uint64_t offset,
                     uint64_t length);

// The bytes client `client_id` waited for are in the page cache: runs its command again (it may
// wait again) and resumes its input. Nothing happens if the client is gone.
void resume_cold_read(core::Broker& broker, uint64_t client_id);

}  // namespace sluice::commands
