#include "broker/stream/stream.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <iterator>

#include "broker/storage/record_frame.h"
#include "broker/stream/consumer_group.h"
#include "wire/schema/stream_generated.h"

namespace sluice::stream {
namespace {

using wire::ErrorCode;
using wire::Result;
using wire::Status;

enum ControlRecord : uint8_t { kState = 1, kTombstone = 2, kExpire = 3, kSnapshot = 4 };

// A state record every this many appends bounds the log scan recovery needs.
constexpr uint64_t kStateEveryRecords = 100000;
constexpr uint64_t kSnapshotJournalBytes = 1 << 20;

schema::Id to_fb(StreamId id) { return schema::Id(id.ms, id.seq); }
StreamId from_fb(const schema::Id* id) { return id ? StreamId{id->ms(), id->seq()} : StreamId{}; }

std::string_view as_view(const flatbuffers::FlatBufferBuilder& fbb) {
  return {reinterpret_cast<const char*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

template <typename T>
const T* verified_root(std::string_view payload) {
  flatbuffers::Verifier v(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!v.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(payload.data());
}

}  // namespace

Stream::~Stream() = default;

Result<std::unique_ptr<Stream>> Stream::open(std::string dir, const StreamOptions& options,
                                             storage::RecoveryReport* report) {
  std::unique_ptr<Stream> s(new Stream());
  s->dir_ = std::move(dir);
  s->options_ = options;
  Status st = s->recover(options, report);
  if (!st.is_ok()) return st;
  return s;
}

Status Stream::recover(const StreamOptions& options, storage::RecoveryReport* report) {
  // 1. The control journal: the latest absolute state, tombstones and the TTL.
  StreamId anchor;
  uint64_t anchor_records = 0;
  bool state_node_marks = false;
  auto apply_state = [&](const schema::StreamState* s) {
    state_node_marks = s->node_marks();
    tail_node_.first_ordinal = s->tail_node_ordinal();
    last_id_ = from_fb(s->last_id());
    entries_added_ = s->entries_added();
    max_deleted_id_ = from_fb(s->max_deleted_id());
    start_ = from_fb(s->start());
    anchor_records = s->records();
    anchor = from_fb(s->log_last_id());
    next_ordinal_ = s->next_ordinal();
    deleted_.erase(deleted_.begin(), deleted_.lower_bound(start_));
  };
  auto replay = [&](uint8_t type, std::string_view payload, bool) -> Status {
    switch (type) {
      case kSnapshot: {
        const auto* snap = verified_root<schema::StreamSnapshot>(payload);
        if (!snap || !snap->state()) return {ErrorCode::kCorruption, "bad stream snapshot"};
        deleted_.clear();
        if (snap->deleted()) {
          for (const auto* id : *snap->deleted()) deleted_.insert(StreamId{id->ms(), id->seq()});
        }
        apply_state(snap->state());
        expire_at_ms = snap->expire_at_ms();
        return {};
      }
      case kState: {
        const auto* s = verified_root<schema::StreamState>(payload);
        if (!s) return {ErrorCode::kCorruption, "bad stream state record"};
        apply_state(s);
        return {};
      }
      case kTombstone: {
        const auto* t = verified_root<schema::Tombstone>(payload);
        if (!t) return {ErrorCode::kCorruption, "bad tombstone record"};
        if (t->ids()) {
          for (const auto* id : *t->ids()) {
            StreamId sid{id->ms(), id->seq()};
            if (sid >= start_) deleted_.insert(sid);
            max_deleted_id_ = std::max(max_deleted_id_, sid);
          }
        }
        return {};
      }
      case kExpire: {
        const auto* e = verified_root<schema::Expire>(payload);
        if (!e) return {ErrorCode::kCorruption, "bad expire record"};
        expire_at_ms = e->at_ms();
        return {};
      }
      default:
        return {ErrorCode::kCorruption, "unknown control record type " + std::to_string(type)};
    }
  };
  auto journal = storage::Journal::open(dir_, "control", replay);
  if (!journal) return journal.status();
  control_ = std::move(*journal);

  // 2. The log.
  auto key_of = [](std::string_view payload, StreamId* out_key) {
    EntryView e;
    if (!decode_entry(payload, &e, true)) return false;
    *out_key = e.id;
    return true;
  };
  auto log = storage::SegmentedLog::open(dir_ + "/log", options.log, key_of, report);
  if (!log) return log.status();
  log_ = std::move(*log);
  // A trim unlinks its segments right away and journals its state with the next flush; if only
  // the state reached the disk, finish the unlinking now. If only the unlinks did, the state's
  // start is behind the log's first record: repair_lost_head() below moves it.
  log_->drop_before(start_);
  // Node marks: said by the state, or by the log's first entry (a stream's first entry starts a
  // node; segments go only after a state that says so was written). An empty log starts marking.
  node_marks_ = state_node_marks || log_->empty();
  if (!node_marks_) {
    Status st = log_->scan(StreamId::min(), StreamId::max(), false,
                           [&](StreamId, uint8_t, std::string_view payload) {
                             EntryView e;
                             node_marks_ = decode_entry(payload, &e) && e.node_start;
                             return false;
                           });
    if (!st.is_ok()) return st;
  }

  // 3. Records appended after the anchor. If the log lost records the state had counted (a
  // crash under appendfsync no/everysec), recount everything from the start instead.
  const bool recount = log_->last_key() < anchor;
  if (recount && !log_->empty()) {
    spdlog::warn("stream {}: log ends before its last state record; recounting", dir_);
  }
  const uint64_t base = recount ? 0 : anchor_records;
  StreamId scan_from = start_;
  bool scan = true;
  if (!recount && !anchor.is_zero()) scan = anchor.increment(&scan_from);
  if (scan_from < start_) scan_from = start_;
  uint64_t added = 0;
  uint64_t max_ordinal = 0;
  std::optional<uint64_t> first_ordinal;  // of the first record scanned
  bool any = false;
  if (scan) {
    Status st = log_->scan(scan_from, StreamId::max(), false,
                           [&](StreamId, uint8_t, std::string_view payload) {
                             EntryView e;
                             if (decode_entry(payload, &e)) {
                               if (added == 0) first_ordinal = e.ordinal;
                               max_ordinal = std::max(max_ordinal, e.ordinal);
                               any = true;
                             }
                             ++added;
                             return true;
                           });
    if (!st.is_ok()) return st;
  }
  records_ = base + added;
  // The first record after the anchor has ordinal next_ordinal_ unless appends after the state
  // are gone from the front of the log (see repair_lost_head); they were added all the same.
  uint64_t lost_appends = 0;
  if (!recount && first_ordinal && *first_ordinal > next_ordinal_) {
    lost_appends = *first_ordinal - next_ordinal_;
  }
  // Records lost to damage after the anchor were appended all the same: ordinals count appends.
  uint64_t appended = added + lost_appends;
  if (any && max_ordinal + 1 > next_ordinal_) {
    appended = std::max(appended, max_ordinal + 1 - next_ordinal_);
  }
  if (!recount) entries_added_ += appended;
  if (any) next_ordinal_ = std::max(next_ordinal_, max_ordinal + 1);
  last_id_ = std::max(last_id_, log_->last_key());
  // Tombstones of entries the log never got (lost with an unsynced tail) are dropped.
  StreamId log_last = log_->last_key();
  deleted_.erase(deleted_.upper_bound(log_last), deleted_.end());
  bool repaired = repair_lost_head(lost_appends);
  if (records_ < deleted_.size()) records_ = deleted_.size();
  // Records lost to damage (found at open or by the scan above) were counted by the state; the
  // damaged files are repaired now, so the new count must be journaled.
  if (!log_->lost_gaps().empty()) {
    recount_after_loss(log_->lost_gaps());
    repaired = true;
  }
  log_->finish_recovery();
  log_->set_loss_listener(
      [this](std::span<const storage::KeyGap> gaps) { recount_after_loss(gaps); });
  recompute_first_id();
  if (repaired) {
    // Journal the repaired start and count now, so the next recovery starts from them. If that
    // fails the journal is failed (writes refused), and the next recovery repeats the repair.
    Status st = write_state();
    if (st.is_ok()) st = control_->sync();
    if (!st.is_ok()) {
      spdlog::error("stream {}: cannot journal the repaired start: {}", dir_, st.detail());
    }
  }
  return {};
}

bool Stream::repair_lost_head(uint64_t lost_appends) {
  if (log_->empty()) return false;
  const StreamId first = log_->first_key();
  if (first <= start_) return false;
  // Every surviving record is >= first > start_, so the segments' record counts are exactly the
  // records the stream still has. A legitimate gap (the start was moved past the last entry and
  // later entries came) has nothing missing: no counted record, no tombstone below `first` and
  // no append missing after the anchor.
  const uint64_t present = segment_records(0);
  const auto stale_tombstones =
      static_cast<uint64_t>(std::distance(deleted_.begin(), deleted_.lower_bound(first)));
  if (present >= records_ && stale_tombstones == 0 && lost_appends == 0) return false;
  const uint64_t lost = (records_ > present ? records_ - present : 0) + lost_appends;
  spdlog::warn(
      "stream {}: the log starts at {} but the journaled start is {}: {} records ({} of them "
      "tombstoned) before it are gone, as after a trim whose state record was lost in a crash; "
      "moving the start to {}",
      dir_, first.to_string(), start_.to_string(), lost, stale_tombstones, first.to_string());
  start_ = first;
  records_ = present;
  deleted_.erase(deleted_.begin(), deleted_.lower_bound(first));
  head_.valid = false;
  return true;
}

void Stream::recount_after_loss(std::span<const storage::KeyGap> gaps) {
  // Tombstones of lost records go with them; then count what the log still has from the start.
  for (const storage::KeyGap& gap : gaps) {
    if (!(gap.after < gap.before)) continue;
    deleted_.erase(deleted_.upper_bound(gap.after), deleted_.lower_bound(gap.before));
  }
  uint64_t records = 0;
  size_t i = 0;
  const size_t segments = log_->segment_count();
  while (i < segments && log_->segment_info(i).last_key < start_) ++i;
  if (i < segments && log_->segment_info(i).first_key < start_) {
    log_->scan(start_, log_->segment_info(i).last_key, false,
               [&](StreamId, uint8_t, std::string_view) {
                 ++records;
                 return true;
               });
    ++i;
  }
  records += segment_records(i);
  spdlog::warn("stream {}: records lost to damage; {} records from the start remain (was {})", dir_,
               records, records_);
  records_ = std::max<uint64_t>(records, deleted_.size());
  head_.valid = false;
  recompute_first_id();
}

void Stream::recompute_first_id() {
  first_id_ = StreamId{};
  if (length() == 0) return;
  log_->scan(start_, StreamId::max(), false, [&](StreamId id, uint8_t, std::string_view) {
    if (deleted_.count(id)) return true;
    first_id_ = id;
    return false;
  });
}

StreamId Stream::last_entry_id() const {
  if (length() == 0) return {};
  StreamId out;
  log_->scan(start_, StreamId::max(), true, [&](StreamId id, uint8_t, std::string_view) {
    if (deleted_.count(id)) return true;
    out = id;
    return false;
  });
  return out;
}

Result<StreamId> Stream::next_id(const IdRequest& request, int64_t now_ms) const {
  StreamId id;
  switch (request.kind) {
    case IdRequest::Kind::kAuto: {
      auto ms = static_cast<uint64_t>(now_ms);
      if (ms > last_id_.ms) {
        id = {ms, 0};
      } else if (!last_id_.increment(&id)) {
        return Status(
            ErrorCode::kInvalidArgument,
            "ERR The stream has exhausted the last possible ID, unable to add more items");
      }
      return id;
    }
    case IdRequest::Kind::kAutoSeq:
      if (request.id.ms == last_id_.ms) {
        if (last_id_.seq == UINT64_MAX) return Status(ErrorCode::kIdTooSmall);
        id = {last_id_.ms, last_id_.seq + 1};
      } else if (request.id.ms > last_id_.ms) {
        id = {request.id.ms, 0};
      } else {
        return Status(ErrorCode::kIdTooSmall);
      }
      return id;
    case IdRequest::Kind::kExplicit:
      if (request.id <= last_id_) return Status(ErrorCode::kIdTooSmall);
      return request.id;
  }
  return Status(ErrorCode::kSyntax);
}

Status Stream::append(StreamId id, std::span<const std::string_view> fields) {
  const bool node_start = node_marks_ && starts_node(id, fields);
  std::string_view payload = encoder_.encode(id, next_ordinal_, fields, node_start);
  Status st = log_->append(id, kEntryRecord, payload);
  encoder_.release();
  if (!st.is_ok()) return st;
  ++next_ordinal_;
  ++records_;
  ++entries_added_;
  last_id_ = id;
  if (length() == 1) first_id_ = id;
  // The head node may be the one this entry joined.
  head_.valid = false;
  if (entries_added_ % kStateEveryRecords == 0) return write_state();
  return {};
}

StreamId Stream::after_last() const {
  StreamId last = std::max(last_id_, log_->last_key());
  StreamId next;
  if (!last.increment(&next)) return last;
  return next;
}

bool Stream::starts_node(StreamId id, std::span<const std::string_view> fields) {
  if (!tail_restored_) restore_tail_node();
  const bool starts =
      tail_node_.add(id, fields, options_.node_max_entries, options_.node_max_bytes);
  if (starts) tail_node_.first_ordinal = next_ordinal_;
  return starts;
}

// After a restart: replays the records of the tail node (from the last marked one) into the
// model, with the node as it is (no split), deleted and trimmed entries marked deleted.
void Stream::restore_tail_node() {
  tail_restored_ = true;
  tail_node_.reset();
  if (length() == 0) return;                              // Redis freed every node
  std::vector<std::pair<StreamId, std::string>> records;  // newest first
  bool found_start = false;
  uint64_t oldest_ordinal = 0;
  Status st = log_->scan(StreamId::min(), StreamId::max(), true,
                         [&](StreamId id, uint8_t, std::string_view payload) {
                           EntryView e;
                           if (!decode_entry(payload, &e)) return false;
                           records.emplace_back(id, std::string(e.resp));
                           oldest_ordinal = e.ordinal;
                           found_start = e.node_start;
                           return !e.node_start;
                         });
  if (!st.is_ok() || records.empty()) return;  // the next append opens a node
  std::vector<std::string_view> fields;
  for (auto it = records.rbegin(); it != records.rend(); ++it) {
    if (!entry_fields(it->second, &fields)) return;
    tail_node_.add(it->first, fields, 0, 0, it == records.rbegin());
  }
  if (found_start) {
    tail_node_.first_ordinal = oldest_ordinal;
  } else if (tail_node_.first_ordinal < oldest_ordinal) {
    // The node's first entries were trimmed and their segment unlinked; the state written by
    // that trim kept where the node began. Their sizes are gone: counted at the average.
    tail_node_.add_missing(oldest_ordinal - tail_node_.first_ordinal,
                           tail_node_.bytes() / std::max<uint64_t>(tail_node_.entries(), 1));
  }
  for (const auto& [id, resp] : records) {
    if (id < start_ || deleted_.count(id)) tail_node_.entry_deleted(id);
  }
}

const Stream::HeadNode& Stream::head_node() {
  if (head_.valid) return head_;
  head_ = HeadNode{};
  uint64_t per_node =
      options_.node_max_entries > 0 ? static_cast<uint64_t>(options_.node_max_entries) : UINT64_MAX;
  bool first = true;
  uint64_t node = 0;
  bool have_next = false;
  log_->scan(start_, StreamId::max(), false, [&](StreamId id, uint8_t, std::string_view payload) {
    EntryView e;
    if (!decode_entry(payload, &e)) return false;
    // Marked streams: a node runs to the next node_start; older ones: ordinal / per_node.
    uint64_t n = node_marks_ ? node + (e.node_start ? 1 : 0) : e.ordinal / per_node;
    if (first) {
      node = n;
      first = false;
    } else if (n != node) {
      head_.next_start = id;
      have_next = true;
      return false;
    }
    ++head_.total;
    if (!deleted_.count(id)) ++head_.live;
    head_.last_id = id;
    return true;
  });
  if (!have_next) head_.next_start = after_last();
  head_.valid = true;
  return head_;
}

Status Stream::move_start(StreamId new_start, uint64_t records_removed) {
  start_ = new_start;
  records_ -= std::min(records_, records_removed);
  deleted_.erase(deleted_.begin(), deleted_.lower_bound(start_));
  if (records_ < deleted_.size()) records_ = deleted_.size();
  recompute_first_id();
  skip_head_tombstones();
  drop_pending_ = start_;
  head_.valid = false;
  return write_state();
}

// A tombstone only has to hide its record while the record is at or after the start, and every
// record between the start and the first live entry is deleted (or was never there): so the
// start moves to that entry (past the last record when nothing is left). Trims, retention and
// XDEL all end here, so the start is the same whichever way a stream got to its entries.
bool Stream::skip_head_tombstones() {
  const StreamId target = length() == 0 ? after_last() : first_id_;
  if (target <= start_) return false;
  const auto dead = deleted_.lower_bound(target);
  const auto count = static_cast<uint64_t>(std::distance(deleted_.begin(), dead));
  start_ = target;
  records_ -= std::min(records_, count);
  deleted_.erase(deleted_.begin(), dead);
  return true;
}

std::optional<StreamId> Stream::pending_drop() const {
  if (!drop_pending_ || control_->has_unflushed()) return std::nullopt;
  return drop_pending_;
}

void Stream::start_durable(StreamId start) {
  log_->drop_before(start);  // start <= start_: starts only move forward
  if (drop_pending_ && *drop_pending_ <= start) drop_pending_.reset();
}

size_t Stream::dead_segments() const {
  size_t dead = 0;
  while (dead < log_->segment_count() && log_->segment_info(dead).last_key < start_) ++dead;
  return dead;
}

Result<uint64_t> Stream::trim(const TrimSpec& spec) {
  if (spec.strategy == TrimSpec::Strategy::kNone) return uint64_t{0};
  const bool by_len = spec.strategy == TrimSpec::Strategy::kMaxLen;
  uint64_t per_node =
      options_.node_max_entries > 0 ? static_cast<uint64_t>(options_.node_max_entries) : 0;
  // Redis's default LIMIT for `~`: 100 nodes' worth, 10000 without an entry limit, at most 1M.
  uint64_t limit = spec.limit >= 0 ? static_cast<uint64_t>(spec.limit)
                   : spec.approx
                       ? std::min<uint64_t>(per_node > 0 ? 100 * per_node : 10000, 1000000)
                       : 0;
  uint64_t removed = 0;
  uint64_t records_removed = 0;
  StreamId new_start = start_;
  if (by_len && length() <= spec.maxlen) return uint64_t{0};

  if (!spec.approx) {
    uint64_t len = length();
    bool stopped = false;
    Status st =
        log_->scan(start_, StreamId::max(), false, [&](StreamId id, uint8_t, std::string_view) {
          if ((by_len && len <= spec.maxlen) || (!by_len && id >= spec.minid) ||
              (spec.keep_from && id >= *spec.keep_from)) {
            new_start = id;
            stopped = true;
            return false;
          }
          if (!deleted_.count(id)) {
            --len;
            ++removed;
            if (tail_restored_) tail_node_.entry_deleted(id);  // Redis marks it deleted in place
          }
          ++records_removed;
          return true;
        });
    if (!st.is_ok()) return st;
    if (!stopped) new_start = after_last();
  } else {
    uint64_t len = length();
    while (true) {
      if (by_len && len <= spec.maxlen) break;
      const HeadNode& node = head_node();
      if (node.total == 0) break;
      if (limit && removed + node.live > limit) break;
      bool remove_node = by_len ? len - node.live >= spec.maxlen : node.last_id < spec.minid;
      if (spec.keep_from && !(node.last_id < *spec.keep_from)) remove_node = false;
      if (!remove_node) break;
      len -= node.live;
      removed += node.live;
      records_removed += node.total;
      // Advance past this node and look at the next one.
      start_ = node.next_start;
      new_start = start_;
      head_.valid = false;
    }
  }
  if (records_removed == 0 && new_start == start_) return removed;
  Status st = move_start(new_start, records_removed);
  if (!st.is_ok()) return st;
  if (length() == 0) tail_node_.reset();  // every node went
  return removed;
}

uint64_t Stream::segment_records(size_t from) const {
  uint64_t total = 0;
  for (size_t i = from; i < log_->segment_count(); ++i) total += log_->segment_info(i).records;
  return total;
}

size_t Stream::expired_segments(int64_t now_ms, const RetentionPolicy& policy) const {
  const size_t segments = log_->segment_count();
  size_t expired = 0;
  if (policy.max_age_ms > 0 && now_ms > policy.max_age_ms) {
    const auto cutoff = static_cast<uint64_t>(now_ms - policy.max_age_ms);
    while (expired + 1 < segments && log_->segment_info(expired).last_key.ms < cutoff) ++expired;
  }
  if (policy.max_bytes > 0) {
    uint64_t bytes = log_->disk_bytes();
    for (size_t i = 0; i < expired; ++i) bytes -= log_->segment_info(i).bytes;
    while (expired + 1 < segments && bytes > policy.max_bytes) {
      bytes -= log_->segment_info(expired++).bytes;
    }
  }
  return expired;
}

Result<uint64_t> Stream::drop_oldest_segments(size_t count) {
  if (count == 0 || count >= log_->segment_count()) return uint64_t{0};
  const StreamId new_start = log_->segment_info(count).first_key;
  if (new_start <= start_) return uint64_t{0};
  // Every record >= start_ is in a segment and every record of the kept segments is >= new_start,
  // so what the dropped segments held of the stream is the rest; minus tombstones, the entries.
  const uint64_t kept = segment_records(count);
  const uint64_t records_removed = records_ > kept ? records_ - kept : 0;
  const auto tombstoned =
      static_cast<uint64_t>(std::distance(deleted_.begin(), deleted_.lower_bound(new_start)));
  const uint64_t removed = records_removed - std::min(records_removed, tombstoned);
  Status st = move_start(new_start, records_removed);
  if (!st.is_ok()) return st;
  return removed;
}

Result<uint64_t> Stream::remove(std::span<const StreamId> ids) {
  flatbuffers::FlatBufferBuilder fbb(256);
  std::vector<schema::Id> done;
  for (StreamId id : ids) {
    if (id < start_ || deleted_.count(id)) continue;
    bool found = false;
    log_->find(id, [&](StreamId, uint8_t, std::string_view) {
      found = true;
      return false;
    });
    if (!found) continue;
    deleted_.insert(id);
    max_deleted_id_ = std::max(max_deleted_id_, id);
    done.push_back(to_fb(id));
  }
  if (done.empty()) return uint64_t{0};
  head_.valid = false;
  if (tail_restored_) {
    for (const schema::Id& id : done) tail_node_.entry_deleted(StreamId{id.ms(), id.seq()});
  }
  auto vec = fbb.CreateVectorOfStructs(done);
  fbb.Finish(schema::CreateTombstone(fbb, vec));
  Status st = control_->append(kTombstone, as_view(fbb));
  if (!st.is_ok()) return st;
  if (deleted_.count(first_id_) || length() == 0) recompute_first_id();
  st = compact_head();
  if (!st.is_ok()) return st;
  st = maybe_snapshot();
  if (!st.is_ok()) return st;
  return static_cast<uint64_t>(done.size());
}

// XDEL of the entry at the head: the start moves past it and any tombstones after it (see
// skip_head_tombstones()), as a trim would move it, but nothing live goes. So the common worker
// pattern (XADD, process, XDEL) keeps only the deletions ahead of the oldest unprocessed entry
// in RAM and in snapshots, and segments that hold nothing live any more are unlinked. Nothing a
// client sees depends on the start: length, first entry, max-deleted-entry-id, entries-added
// and consumer-group lag are unchanged, and `~` trims count live entries per node.
Status Stream::compact_head() {
  if (!skip_head_tombstones()) return {};
  drop_pending_ = start_;
  head_.valid = false;
  return write_state();
}

Status Stream::set_id(StreamId last_id, std::optional<uint64_t> entries_added,
                      std::optional<StreamId> max_deleted_id) {
  last_id_ = last_id;
  if (entries_added) entries_added_ = *entries_added;
  if (max_deleted_id) max_deleted_id_ = *max_deleted_id;
  return write_state();
}

Status Stream::write_state() {
  if (node_marks_ && !tail_restored_) restore_tail_node();  // its first ordinal goes in the state
  flatbuffers::FlatBufferBuilder fbb(256);
  schema::Id last = to_fb(last_id_), maxdel = to_fb(max_deleted_id_), start = to_fb(start_),
             anchor = to_fb(log_->last_key());
  fbb.Finish(schema::CreateStreamState(fbb, &last, entries_added_, &maxdel, &start, records_,
                                       &anchor, next_ordinal_, node_marks_,
                                       tail_node_.first_ordinal));
  Status st = control_->append(kState, as_view(fbb));
  if (!st.is_ok()) return st;
  return maybe_snapshot();
}

Status Stream::persist_expire() {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.Finish(schema::CreateExpire(fbb, expire_at_ms));
  return control_->append(kExpire, as_view(fbb));
}

Status Stream::maybe_snapshot() {
  if (control_->journal_bytes() < kSnapshotJournalBytes) return {};
  if (node_marks_ && !tail_restored_) restore_tail_node();
  // The snapshot's anchor must be on disk before the journal that led to it is dropped.
  Status st = log_->sync();
  if (!st.is_ok()) return st;
  flatbuffers::FlatBufferBuilder fbb(1024 + deleted_.size() * 16);
  schema::Id last = to_fb(last_id_), maxdel = to_fb(max_deleted_id_), start = to_fb(start_),
             anchor = to_fb(log_->last_key());
  std::vector<schema::Id> dels;
  dels.reserve(deleted_.size());
  for (StreamId id : deleted_) dels.push_back(to_fb(id));
  auto dv = fbb.CreateVectorOfStructs(dels);
  auto state =
      schema::CreateStreamState(fbb, &last, entries_added_, &maxdel, &start, records_, &anchor,
                                next_ordinal_, node_marks_, tail_node_.first_ordinal);
  fbb.Finish(schema::CreateStreamSnapshot(fbb, state, dv, expire_at_ms));
  std::string frames;
  storage::append_frame(&frames, kSnapshot, as_view(fbb));
  return control_->write_snapshot(frames);
}

Status Stream::range(StreamId from, StreamId to, bool reverse, uint64_t count,
                     const EntryVisitor& visit) const {
  if (from < start_) from = start_;
  if (from > to || length() == 0) return {};
  uint64_t n = 0;
  const uint64_t expected_bytes = count > 0 && !reverse ? expected_scan_bytes(count) : 0;
  return log_->scan(
      from, to, reverse,
      [&](StreamId id, uint8_t, std::string_view payload) {
        if (!deleted_.empty() && deleted_.count(id)) return true;
        EntryView e;
        if (!decode_entry(payload, &e)) return true;
        if (!visit(id, e.resp)) return false;
        return count == 0 || ++n < count;
      },
      expected_bytes);
}

uint64_t Stream::expected_scan_bytes(uint64_t count) const {
  const uint64_t log_records = segment_records(0);
  const uint64_t live = length();
  if (log_records == 0 || live == 0) return 0;
  // Bounded first, so the products below cannot overflow: the log clamps the hint to far less.
  constexpr uint64_t kMaxCounted = 1 << 20;
  const uint64_t wanted = std::min({count, live, kMaxCounted});
  // Tombstoned records are read and skipped: records_ / live log records per live entry. Record
  // sizes vary around the average, so 1/16 more plus one record: a little over-read is far
  // cheaper than a second pread.
  const uint64_t records = wanted * records_ / live;
  const uint64_t average = (log_->record_bytes() + log_records - 1) / log_records;
  return (records + records / 16 + 1) * average;
}

bool Stream::lookup(StreamId id, const EntryVisitor& visit) const {
  if (id < start_ || deleted_.count(id)) return false;
  bool found = false;
  log_->find(id, [&](StreamId found_id, uint8_t, std::string_view payload) {
    EntryView e;
    if (decode_entry(payload, &e)) {
      found = true;
      visit(found_id, e.resp);
    }
    return false;
  });
  return found;
}

bool Stream::contains(StreamId id) const {
  return lookup(id, [](StreamId, std::string_view) { return false; });
}

Status Stream::flush() {
  Status a = log_->flush();
  Status b = control_->flush();
  Status c = group_journal ? group_journal->flush() : Status();
  if (!a.is_ok()) return a;
  if (!b.is_ok()) return b;
  return c;
}

bool Stream::needs_sync() const {
  return log_->needs_sync() || control_->needs_sync() ||
         (group_journal && group_journal->needs_sync());
}

bool Stream::failed() const { return log_->failed() || control_->failed(); }

Status Stream::sync() {
  Status a = log_->sync();
  Status b = control_->sync();
  Status c = group_journal ? group_journal->sync() : Status();
  if (!a.is_ok()) return a;
  if (!b.is_ok()) return b;
  if (drop_pending_) start_durable(*drop_pending_);
  return c;
}

Status Stream::roll_back(storage::CutTo cut) {
  Status a = log_->roll_back(cut);
  Status b = control_->roll_back(cut);
  Status c = group_journal ? group_journal->roll_back(cut) : Status();
  if (!a.is_ok()) return a;
  if (!b.is_ok()) return b;
  return c;
}

Status Stream::destroy_files() {
  if (group_journal) group_journal->destroy();
  control_->destroy();
  return log_->destroy();
}

uint64_t Stream::memory_bytes() const {
  return sizeof(*this) + key.size() + log_->memory_bytes() + deleted_.size() * 48;
}

}  // namespace sluice::stream
