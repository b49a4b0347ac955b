// Encoding and decoding of the record frame documented in record_frame.h.
#include "broker/storage/record_frame.h"

#include <cstring>

#include "wire/crc32c.h"

namespace sluice::storage {
namespace {

void put_u32(char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
  return v;
}

}  // namespace

void append_frame(std::string* out, uint8_t type, std::string_view payload) {
  const size_t start = out->size();
  out->resize(start + frame_bytes(payload.size()));  // zero-fills header, reserved and padding
  encode_frame(out->data() + start, type, payload);
}

void encode_frame(char* frame, uint8_t type, std::string_view payload) {
  const size_t total = frame_bytes(payload.size());
  std::memset(frame, 0, kFrameHeaderBytes);
  std::memset(frame + total - (padded_len(payload.size()) - payload.size()), 0,
              padded_len(payload.size()) - payload.size());
  put_u32(frame + 4, static_cast<uint32_t>(payload.size()));
  frame[8] = static_cast<char>(type);
  frame[9] = static_cast<char>(kFrameVersion);
  if (!payload.empty()) std::memcpy(frame + kFrameHeaderBytes, payload.data(), payload.size());
  put_u32(frame, wire::crc32c_mask(wire::crc32c(frame + 4, total - 4)));
}

std::array<char, kFrameHeaderBytes> frame_header(uint8_t type, std::string_view head,
                                                 std::string_view body) {
  std::array<char, kFrameHeaderBytes> header{};
  const size_t n = head.size() + body.size();
  put_u32(header.data() + 4, static_cast<uint32_t>(n));
  header[8] = static_cast<char>(type);
  header[9] = static_cast<char>(kFrameVersion);
  static constexpr char kZeros[8] = {};
  uint32_t crc = wire::crc32c_extend(0, header.data() + 4, kFrameHeaderBytes - 4);
  crc = wire::crc32c_extend(crc, head.data(), head.size());
  crc = wire::crc32c_extend(crc, body.data(), body.size());
  crc = wire::crc32c_extend(crc, kZeros, padded_len(n) - n);
  put_u32(header.data(), wire::crc32c_mask(crc));
  return header;
}

FrameStatus decode_frame(std::string_view bytes, size_t max_record_bytes, FrameView* out,
                         bool check_crc) {
  if (bytes.size() < kFrameHeaderBytes) return FrameStatus::kTruncated;
  const char* frame = bytes.data();
  const uint32_t payload_len = get_u32(frame + 4);
  const auto type = static_cast<uint8_t>(frame[8]);
  if (type == 0 || payload_len > max_record_bytes) return FrameStatus::kBadHeader;
  for (size_t i = 10; i < kFrameHeaderBytes; ++i) {
    if (frame[i] != 0) return FrameStatus::kBadHeader;
  }
  const size_t total = frame_bytes(payload_len);
  if (bytes.size() < total) return FrameStatus::kTruncated;
  if (check_crc && wire::crc32c(frame + 4, total - 4) != wire::crc32c_unmask(get_u32(frame))) {
    return FrameStatus::kBadCrc;
  }
  out->type = type;
  out->payload = std::string_view(frame + kFrameHeaderBytes, payload_len);
  out->total_bytes = total;
  return FrameStatus::kOk;
}

}  // namespace sluice::storage
