#include "broker/stream/entry_codec.h"

#include <charconv>
#include <cstring>

#include "wire/schema/stream_generated.h"

namespace sluice::stream {
namespace {

void append_len(std::string* out, char type, size_t n) {
  char buf[24];
  buf[0] = type;
  auto r = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
  *r.ptr++ = '\r';
  *r.ptr++ = '\n';
  out->append(buf, static_cast<size_t>(r.ptr - buf));
}

// "<type><n>\r\n" at out; returns its length (len_text_size(n)).
size_t len_text(char* out, char type, size_t n) {
  char* p = out;
  *p++ = type;
  p = std::to_chars(p, p + 21, n).ptr;
  *p++ = '\r';
  *p++ = '\n';
  return static_cast<size_t>(p - out);
}

size_t len_text_size(size_t n) {
  size_t digits = 1;
  while (n >= 10) {
    n /= 10;
    ++digits;
  }
  return digits + 3;
}

}  // namespace

void encode_entry_resp(std::string* out, StreamId id, std::span<const std::string_view> fields) {
  char idbuf[StreamId::kMaxText];
  size_t idlen = id.format(idbuf);
  out->append("*2\r\n", 4);
  append_len(out, '$', idlen);
  out->append(idbuf, idlen);
  out->append("\r\n", 2);
  append_len(out, '*', fields.size());
  for (std::string_view f : fields) {
    append_len(out, '$', f.size());
    out->append(f);
    out->append("\r\n", 2);
  }
}

std::string_view EntryEncoder::encode(StreamId id, uint64_t ordinal,
                                      std::span<const std::string_view> fields, bool node_start) {
  char idbuf[StreamId::kMaxText];
  const size_t idlen = id.format(idbuf);
  // The RESP is written once, straight into the record (no intermediate string: a giant field
  // would be copied one more time).
  size_t total = 4 + len_text_size(idlen) + idlen + 2 + len_text_size(fields.size());
  for (std::string_view f : fields) total += len_text_size(f.size()) + f.size() + 2;
  fbb_.Clear();
  uint8_t* bytes = nullptr;
  auto resp = fbb_.CreateUninitializedVector(total, 1, &bytes);
  char* p = reinterpret_cast<char*>(bytes);
  std::memcpy(p, "*2\r\n", 4);
  p += 4;
  p += len_text(p, '$', idlen);
  std::memcpy(p, idbuf, idlen);
  p += idlen;
  std::memcpy(p, "\r\n", 2);
  p += 2;
  p += len_text(p, '*', fields.size());
  for (std::string_view f : fields) {
    p += len_text(p, '$', f.size());
    if (!f.empty()) std::memcpy(p, f.data(), f.size());
    p += f.size();
    std::memcpy(p, "\r\n", 2);
    p += 2;
  }
  schema::Id fid(id.ms, id.seq);
  auto entry = schema::CreateStreamEntry(fbb_, &fid, ordinal, resp, node_start);
  fbb_.Finish(entry);
  return {reinterpret_cast<const char*>(fbb_.GetBufferPointer()), fbb_.GetSize()};
}

bool decode_entry(std::string_view payload, EntryView* out, bool verify) {
  const auto* data = reinterpret_cast<const uint8_t*>(payload.data());
  if (verify) {
    flatbuffers::Verifier v(data, payload.size());
    if (!v.VerifyBuffer<schema::StreamEntry>(nullptr)) return false;
  }
  const auto* e = flatbuffers::GetRoot<schema::StreamEntry>(data);
  if (e->id() == nullptr || e->resp() == nullptr) return false;
  out->id = StreamId{e->id()->ms(), e->id()->seq()};
  out->ordinal = e->ordinal();
  out->node_start = e->node_start();
  out->resp = {reinterpret_cast<const char*>(e->resp()->data()), e->resp()->size()};
  return true;
}

bool entry_fields(std::string_view resp, std::vector<std::string_view>* fields) {
  fields->clear();
  size_t pos = 0;
  auto read_line = [&](char type, uint64_t* n) {
    if (pos >= resp.size() || resp[pos] != type) return false;
    size_t end = resp.find("\r\n", pos);
    if (end == std::string_view::npos) return false;
    auto r = std::from_chars(resp.data() + pos + 1, resp.data() + end, *n);
    if (r.ec != std::errc()) return false;
    pos = end + 2;
    return true;
  };
  auto read_bulk = [&](std::string_view* s) {
    uint64_t n;
    if (!read_line('$', &n) || pos + n + 2 > resp.size()) return false;
    *s = resp.substr(pos, n);
    pos += n + 2;
    return true;
  };
  uint64_t n;
  std::string_view id;
  if (!read_line('*', &n) || n != 2 || !read_bulk(&id) || !read_line('*', &n)) return false;
  for (uint64_t i = 0; i < n; ++i) {
    std::string_view s;
    if (!read_bulk(&s)) return false;
    fields->push_back(s);
  }
  return pos == resp.size();
}

}  // namespace sluice::stream
