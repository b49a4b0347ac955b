// Pub/Sub commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH, SPUBLISH and PUBSUB, with
// Redis 7.0's reply shapes (pushes under RESP3, arrays under RESP2).
#include <string>
#include <vector>

#include "broker/commands/context.h"
#include "broker/pubsub/pubsub_hub.h"

namespace sluice::commands {
namespace {

using pubsub::ChannelSpace;

// Redis counts channels and patterns together; shard channels have their own count.
size_t subscription_count(const core::Client& c, ChannelSpace space) {
  return space == ChannelSpace::kShard ? c.shard_channels.size()
                                       : c.channels.size() + c.patterns.size();
}

// [kind, name, count]; `name` null for an unsubscribe-all that had nothing to drop.
void reply_subscription(CommandContext& ctx, std::string_view kind, const std::string* name,
                        ChannelSpace space) {
  ctx.reply.push(3);
  ctx.reply.bulk(kind);
  ctx.reply.bulk_or_null(name);
  ctx.reply.integer(static_cast<int64_t>(subscription_count(ctx.client, space)));
}

void subscribe_channels(CommandContext& ctx, ChannelSpace space, std::string_view kind) {
  auto& hub = ctx.broker.pubsub();
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string channel(ctx.arg(i));
    hub.subscribe(ctx.client, space, channel);
    reply_subscription(ctx, kind, &channel, space);
  }
}

void unsubscribe_channels(CommandContext& ctx, ChannelSpace space, std::string_view kind) {
  auto& hub = ctx.broker.pubsub();
  std::vector<std::string> names;
  if (ctx.argc() > 1) {
    for (size_t i = 1; i < ctx.argc(); ++i) names.emplace_back(ctx.arg(i));
  } else {
    const auto& mine =
        space == ChannelSpace::kShard ? ctx.client.shard_channels : ctx.client.channels;
    names.assign(mine.begin(), mine.end());
    if (names.empty()) return reply_subscription(ctx, kind, nullptr, space);
  }
  for (const std::string& channel : names) {
    hub.unsubscribe(ctx.client, space, channel);
    reply_subscription(ctx, kind, &channel, space);
  }
}

void subscribe(CommandContext& ctx) { subscribe_channels(ctx, ChannelSpace::kGlobal, "subscribe"); }

void unsubscribe(CommandContext& ctx) {
  unsubscribe_channels(ctx, ChannelSpace::kGlobal, "unsubscribe");
}

void ssubscribe(CommandContext& ctx) {
  // Redis refuses shard subscriptions from a transaction (a "deny blocking" client).
  if (ctx.client.in_multi) {
    return ctx.error_text("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client");
  }
  subscribe_channels(ctx, ChannelSpace::kShard, "ssubscribe");
}

void sunsubscribe(CommandContext& ctx) {
  unsubscribe_channels(ctx, ChannelSpace::kShard, "sunsubscribe");
}

void psubscribe(CommandContext& ctx) {
  auto& hub = ctx.broker.pubsub();
  for (size_t i = 1; i < ctx.argc(); ++i) {
    std::string pattern(ctx.arg(i));
    hub.psubscribe(ctx.client, pattern);
    reply_subscription(ctx, "psubscribe", &pattern, ChannelSpace::kGlobal);
  }
}

void punsubscribe(CommandContext& ctx) {
  auto& hub = ctx.broker.pubsub();
  std::vector<std::string> names;
  if (ctx.argc() > 1) {
    for (size_t i = 1; i < ctx.argc(); ++i) names.emplace_back(ctx.arg(i));
  } else {
    names.assign(ctx.client.patterns.begin(), ctx.client.patterns.end());
    if (names.empty())
      return reply_subscription(ctx, "punsubscribe", nullptr, ChannelSpace::kGlobal);
  }
  for (const std::string& pattern : names) {
    hub.punsubscribe(ctx.client, pattern);
    reply_subscription(ctx, "punsubscribe", &pattern, ChannelSpace::kGlobal);
  }
}

// Schedules the publisher's own flush before any receiver's: writes go out in scheduling order,
// so its reply leaves first and it can send the next PUBLISH while the fan-out is written, as
// Redis answers the publisher first (its pending-write list is LIFO). Bigger batches per
// subscriber write follow, which is what fan-out throughput is made of.
void flush_publisher_first(CommandContext& ctx) {
  if (ctx.client.host) ctx.client.host->output_ready(ctx.client);
}

void publish(CommandContext& ctx) {
  flush_publisher_first(ctx);
  size_t receivers = ctx.broker.pubsub().publish(ctx.arg(1), ctx.arg(2));
  ctx.reply.integer(static_cast<int64_t>(receivers));
}

void spublish(CommandContext& ctx) {
  flush_publisher_first(ctx);
  size_t receivers = ctx.broker.pubsub().spublish(ctx.arg(1), ctx.arg(2));
  ctx.reply.integer(static_cast<int64_t>(receivers));
}

void list_channels(CommandContext& ctx, ChannelSpace space) {
  if (ctx.argc() > 3) {
    return ctx.error_text("ERR unknown subcommand or wrong number of arguments for '" +
                          std::string(ctx.arg(1)) + "'. Try PUBSUB HELP.");
  }
  std::string_view pattern = ctx.argc() == 3 ? ctx.arg(2) : std::string_view();
  auto names = ctx.broker.pubsub().channels(space, ctx.argc() == 3 ? &pattern : nullptr);
  ctx.reply.array(names.size());
  for (std::string_view n : names) ctx.reply.bulk(n);
}

void count_subscribers(CommandContext& ctx, ChannelSpace space) {
  auto& hub = ctx.broker.pubsub();
  ctx.reply.array((ctx.argc() - 2) * 2);
  for (size_t i = 2; i < ctx.argc(); ++i) {
    ctx.reply.bulk(ctx.arg(i));
    ctx.reply.integer(static_cast<int64_t>(hub.subscriber_count(space, ctx.arg(i))));
  }
}

void pubsub_channels(CommandContext& ctx) { list_channels(ctx, ChannelSpace::kGlobal); }
void pubsub_shardchannels(CommandContext& ctx) { list_channels(ctx, ChannelSpace::kShard); }
void pubsub_numsub(CommandContext& ctx) { count_subscribers(ctx, ChannelSpace::kGlobal); }
void pubsub_shardnumsub(CommandContext& ctx) { count_subscribers(ctx, ChannelSpace::kShard); }

void pubsub_numpat(CommandContext& ctx) {
  ctx.reply.integer(static_cast<int64_t>(ctx.broker.pubsub().pattern_count()));
}

void pubsub_help(CommandContext& ctx) {
  static const char* kLines[] = {
      "PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
      "CHANNELS [<pattern>]",
      "    Return the currently active channels matching a <pattern> (default: '*').",
      "NUMPAT",
      "    Return number of subscriptions to patterns.",
      "NUMSUB [<channel> ...]",
      "    Return the number of subscribers for the specified channels, excluding",
      "    pattern subscriptions(default: no channels).",
      "SHARDCHANNELS [<pattern>]",
      "    Return the currently active shard level channels matching a <pattern> (default: '*').",
      "SHARDNUMSUB [<shardchannel> ...]",
      "    Return the number of subscribers for the specified shard level channel(s)",
      "HELP",
      "    Prints this help."};
  ctx.help_lines(kLines);
}

}  // namespace

void register_pubsub_commands(CommandTable& t) {
  auto cmd = [](std::string name, int arity, uint32_t flags, Handler h, std::string cats,
                std::string summary, std::string since) {
    CommandSpec s;
    s.name = std::move(name);
    s.arity = arity;
    s.flags = flags;
    s.handler = h;
    s.group = "pubsub";
    s.acl_categories = std::move(cats);
    s.summary = std::move(summary);
    s.since = std::move(since);
    return s;
  };
  // The (un)subscribe family is what RESP2 subscribed mode allows (kSubscribedOk).
  const uint32_t kSub = kPubSub | kNoScript | kLoading | kStale | kSubscribedOk;
  auto shard_keys = [](CommandSpec s, int last_key) {
    s.first_key = 1;
    s.last_key = last_key;
    s.key_step = 1;
    return s;
  };
  t.add(cmd("subscribe", -2, kSub, subscribe, "@pubsub @slow",
            "Listens for messages published to channels.", "2.0.0"));
  t.add(cmd("unsubscribe", -1, kSub, unsubscribe, "@pubsub @slow",
            "Stops listening to messages posted to channels.", "2.0.0"));
  t.add(cmd("psubscribe", -2, kSub, psubscribe, "@pubsub @slow",
            "Listens for messages published to channels that match one or more patterns.",
            "2.0.0"));
  t.add(cmd("punsubscribe", -1, kSub, punsubscribe, "@pubsub @slow",
            "Stops listening to messages published to channels that match one or more patterns.",
            "2.0.0"));
  t.add(shard_keys(cmd("ssubscribe", -2, kSub, ssubscribe, "@pubsub @slow",
                       "Listens for messages published to shard channels.", "7.0.0"),
                   -1));
  t.add(shard_keys(cmd("sunsubscribe", -1, kSub, sunsubscribe, "@pubsub @slow",
                       "Stops listening to messages posted to shard channels.", "7.0.0"),
                   -1));
  t.add(cmd("publish", 3, kPubSub | kLoading | kStale | kFast | kMayReplicate, publish,
            "@pubsub @fast", "Posts a message to a channel.", "2.0.0"));
  t.add(shard_keys(cmd("spublish", 3, kPubSub | kLoading | kStale | kFast | kMayReplicate, spublish,
                       "@pubsub @fast", "Post a message to a shard channel", "7.0.0"),
                   1));

  CommandSpec pubsub =
      cmd("pubsub", -2, 0, nullptr, "@slow", "A container for Pub/Sub commands.", "2.8.0");
  const uint32_t kIntrospect = kPubSub | kLoading | kStale;
  auto sub = [&](std::string name, int arity, Handler h, std::string summary) {
    return cmd(std::move(name), arity, kIntrospect, h, "@pubsub @slow", std::move(summary),
               "2.8.0");
  };
  pubsub.subcommands.push_back(
      sub("channels", -2, pubsub_channels, "Returns the active channels."));
  pubsub.subcommands.push_back(
      sub("numpat", 2, pubsub_numpat, "Returns a count of unique pattern subscriptions."));
  pubsub.subcommands.push_back(
      sub("numsub", -2, pubsub_numsub, "Returns a count of subscribers to channels."));
  CommandSpec shardchannels =
      sub("shardchannels", -2, pubsub_shardchannels, "Returns the active shard channels.");
  shardchannels.since = "7.0.0";
  pubsub.subcommands.push_back(std::move(shardchannels));
  CommandSpec shardnumsub = sub("shardnumsub", -2, pubsub_shardnumsub,
                                "Returns the count of subscribers of shard channels.");
  shardnumsub.since = "7.0.0";
  pubsub.subcommands.push_back(std::move(shardnumsub));
  CommandSpec help = cmd("help", 2, kLoading | kStale, pubsub_help, "@slow",
                         "Returns helpful text about the different subcommands.", "6.2.0");
  pubsub.subcommands.push_back(std::move(help));
  t.add(std::move(pubsub));
}

}  // namespace sluice::commands
