// Building blocks of KV journal records, shared by the type modules (strings and hashes in
// kv_store.cc, lists, sets and sorted sets in their own files): binary-safe flatbuffers strings,
// verified reads of a record, and KvRecordSink, where a finished record goes — the journal for a
// command's effect, a snapshot file for a key's whole value.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace sluice::kv {

inline flatbuffers::Offset<flatbuffers::String> fb_bytes(flatbuffers::FlatBufferBuilder& fbb,
                                                         std::string_view s) {
  return fbb.CreateString(s.data(), s.size());
}

inline std::string_view fb_view(const flatbuffers::String* s) {
  return s ? std::string_view(s->data(), s->size()) : std::string_view();
}

// A vector of binary-safe strings (members, elements, field/value pairs).
template <typename Strings>
flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>> fb_string_list(
    flatbuffers::FlatBufferBuilder& fbb, const Strings& items) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> offsets;
  offsets.reserve(std::size(items));
  for (const auto& s : items) offsets.push_back(fb_bytes(fbb, std::string_view(s)));
  return fbb.CreateVector(offsets);
}

// The record of type T in `payload`, or nullptr when it does not verify (corruption).
template <typename T>
const T* fb_verified(std::string_view payload) {
  flatbuffers::Verifier verifier(reinterpret_cast<const uint8_t*>(payload.data()), payload.size());
  if (!verifier.VerifyBuffer<T>(nullptr)) return nullptr;
  return flatbuffers::GetRoot<T>(payload.data());
}

// Where records go. Build a record in fbb() and Finish() it, then emit(type): the sink frames
// the finished buffer as a record of that type and clears fbb() for the next one.
class KvRecordSink {
 public:
  virtual ~KvRecordSink() = default;
  flatbuffers::FlatBufferBuilder& fbb() { return fbb_; }
  virtual void emit(uint8_t type) = 0;

 protected:
  std::string_view finished() const {
    return {reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize()};
  }

  flatbuffers::FlatBufferBuilder fbb_{256};
};

}  // namespace sluice::kv
