#include "broker/stream/idmp.h"

namespace sluice::stream {

size_t IdmpState::iids_tracked() const {
  size_t n = 0;
  for (const auto& [pid, p] : producers_) n += p.order.size();
  return n;
}

void IdmpState::expire(int64_t now_ms) {
  const int64_t cutoff = now_ms - duration_s_ * 1000;
  for (auto it = producers_.begin(); it != producers_.end();) {
    Producer& p = it->second;
    while (!p.order.empty() && p.order.front().added_ms <= cutoff) {
      p.ids.erase(p.order.front().iid);
      p.order.pop_front();
    }
    it = p.order.empty() ? producers_.erase(it) : std::next(it);
  }
}

std::optional<wire::StreamId> IdmpState::find(std::string_view pid, std::string_view iid) const {
  auto it = producers_.find(pid);
  if (it == producers_.end()) return std::nullopt;
  auto found = it->second.ids.find(std::string(iid));
  if (found == it->second.ids.end()) return std::nullopt;
  return found->second;
}

void IdmpState::add(std::string_view pid, std::string_view iid, wire::StreamId id, int64_t now_ms) {
  auto it = producers_.find(pid);
  if (it == producers_.end()) it = producers_.emplace(std::string(pid), Producer{}).first;
  Producer& p = it->second;
  p.order.push_back(Iid{std::string(iid), id, now_ms});
  p.ids[std::string(iid)] = id;
  while (static_cast<int64_t>(p.order.size()) > max_size_) {
    p.ids.erase(p.order.front().iid);
    p.order.pop_front();
  }
  ++iids_added_;
}

void IdmpState::restore_iid(std::string_view pid, std::string_view iid, wire::StreamId id,
                            int64_t added_ms) {
  auto it = producers_.find(pid);
  if (it == producers_.end()) it = producers_.emplace(std::string(pid), Producer{}).first;
  it->second.order.push_back(Iid{std::string(iid), id, added_ms});
  it->second.ids[std::string(iid)] = id;
}

void IdmpState::configure(int64_t duration_s, int64_t max_size) {
  duration_s_ = duration_s;
  max_size_ = max_size;
  configured_ = true;
  producers_.clear();
}

void IdmpState::restore(int64_t duration_s, int64_t max_size, bool configured, uint64_t added,
                        uint64_t duplicates) {
  duration_s_ = duration_s;
  max_size_ = max_size;
  configured_ = configured;
  iids_added_ = added;
  iids_duplicates_ = duplicates;
  producers_.clear();
}

std::string content_iid(std::span<const std::string_view> fields) {
  uint64_t a = 14695981039346656037ull;  // FNV-1a 64 offset basis
  uint64_t b = 0x9e3779b97f4a7c15ull;    // a second, independent start
  auto mix = [&](unsigned char byte) {
    a = (a ^ byte) * 1099511628211ull;
    b = (b ^ byte) * 0x100000001b3ull + 0x632be59bd9b4e019ull;
  };
  for (std::string_view f : fields) {
    uint64_t len = f.size();
    for (int i = 0; i < 8; ++i) mix(static_cast<unsigned char>(len >> (8 * i)));
    for (char c : f) mix(static_cast<unsigned char>(c));
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(32, '0');
  for (int i = 0; i < 16; ++i) {
    out[static_cast<size_t>(15 - i)] = kHex[(a >> (4 * i)) & 0xf];
    out[static_cast<size_t>(31 - i)] = kHex[(b >> (4 * i)) & 0xf];
  }
  return out;
}

}  // namespace sluice::stream
