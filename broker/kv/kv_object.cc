#include "broker/kv/kv_object.h"

#include "wire/stream_id.h"

namespace sluice::kv {

bool looks_like_int(std::string_view s, int64_t* out) {
  int64_t v = 0;
  if (s.empty() || s.size() > 20 || !wire::parse_i64(s, &v)) return false;
  if (out) *out = v;
  return true;
}

std::string_view StringObject::encoding() const {
  if (raw) return "raw";
  if (looks_like_int(value)) return "int";
  return value.size() <= kEmbstrMaxBytes ? "embstr" : "raw";
}

const std::string* HashObject::get(std::string_view field) const {
  if (is_table_) {
    auto* e = table_.find(field);
    return e ? &e->value : nullptr;
  }
  for (auto& [f, v] : small_) {
    if (f == field) return &v;
  }
  return nullptr;
}

std::string* HashObject::get_mut(std::string_view field) {
  return const_cast<std::string*>(get(field));
}

bool HashObject::set(std::string_view field, std::string_view value, const HashLimits& limits) {
  if (is_table_) {
    bool created = false;
    auto* e = table_.insert(field, &created);
    e->value.assign(value);
    return created;
  }
  for (auto& [f, v] : small_) {
    if (f == field) {
      v.assign(value);
      return false;
    }
  }
  small_.emplace_back(field, value);
  if (small_.size() > limits.max_entries) convert();
  return true;
}

void HashObject::add_absent(std::string_view field, std::string_view value,
                            const HashLimits& limits) {
  if (is_table_) {
    set(field, value, limits);
    return;
  }
  small_.emplace_back(field, value);
  if (small_.size() > limits.max_entries) convert();
}

bool HashObject::erase(std::string_view field) {
  if (is_table_) return table_.erase(field);
  for (auto it = small_.begin(); it != small_.end(); ++it) {
    if (it->first == field) {
      small_.erase(it);
      return true;
    }
  }
  return false;
}

void HashObject::prepare_for(size_t field_len, size_t value_len, const HashLimits& limits) {
  if (!is_table_ && (field_len > limits.max_value || value_len > limits.max_value)) {
    convert();
  }
}

std::pair<const std::string*, const std::string*> HashObject::at(size_t i) const {
  return {&small_[i].first, &small_[i].second};
}

void HashObject::convert() {
  if (is_table_) return;
  is_table_ = true;
  for (auto& [f, v] : small_) {
    bool created = false;
    table_.insert(f, &created)->value = std::move(v);
  }
  small_.clear();
  small_.shrink_to_fit();
}

}  // namespace sluice::kv
