// The frame every record on disk is wrapped in (segments and journals alike).
//
//   offset  size  field
//   0       4     masked crc32c of bytes [4, 16 + padded payload)
//   4       4     payload_len (little endian), bytes of payload before padding
//   8       1     type   (owner-defined record type, never 0)
//   9       1     version (format version of the payload, currently 1)
//   10      6     reserved, zero
//   16      n     payload (a flatbuffers table), zero-padded to a multiple of 8
//
// The padding keeps every payload 8-byte aligned inside an 8-aligned buffer, so flatbuffers are
// read in place. A payload_len above the reader's max_record_bytes is corruption, detected before
// anything is allocated.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace sluice::storage {

inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr uint8_t kFrameVersion = 1;

inline constexpr size_t padded_len(size_t n) { return (n + 7) & ~size_t{7}; }
inline constexpr size_t frame_bytes(size_t payload_len) {
  return kFrameHeaderBytes + padded_len(payload_len);
}

// Appends one frame (header, payload, padding) to out.
void append_frame(std::string* out, uint8_t type, std::string_view payload);
// Writes one frame into out[0, frame_bytes(payload.size())), padding included.
void encode_frame(char* out, uint8_t type, std::string_view payload);

// The header (checksum included) of a frame whose payload is `head` followed by `body`, for
// writing a big frame in pieces from where its bytes lie instead of copying them into one
// buffer: header, head, body, then padded_len(n) - n zero bytes.
std::array<char, kFrameHeaderBytes> frame_header(uint8_t type, std::string_view head,
                                                 std::string_view body);

enum class FrameStatus {
  kOk,         // a whole, valid frame
  kTruncated,  // the bytes end inside the frame (torn write at end of file)
  kBadCrc,     // the checksum does not match
  kBadHeader,  // type 0, length over the limit, or non-zero reserved bytes
};

struct FrameView {
  uint8_t type = 0;
  std::string_view payload;  // unpadded
  size_t total_bytes = 0;    // header + padded payload
};

// Decodes the frame at the start of `bytes`.
// check_crc = false skips the checksum (the header is still checked): only for bytes whose frames
// were verified before and have not left memory since (the read-ahead's).
FrameStatus decode_frame(std::string_view bytes, size_t max_record_bytes, FrameView* out,
                         bool check_crc = true);

}  // namespace sluice::storage
