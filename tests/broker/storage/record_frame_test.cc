// The record frame: layout, padding, and how decode_frame tells torn, damaged and bad frames apart.
#include "broker/storage/record_frame.h"

#include <doctest/doctest.h>

#include <cstring>
#include <string>
#include <vector>

#include "wire/crc32c.h"

namespace sluice::storage {
namespace {

std::string frame_of(uint8_t type, std::string_view payload) {
  std::string out;
  append_frame(&out, type, payload);
  return out;
}

}  // namespace

TEST_SUITE("storage.frame") {
  TEST_CASE("a frame round-trips its type and payload and pads to a multiple of 8") {
    for (size_t n = 0; n <= 40; ++n) {
      std::string payload(n, 'x');
      for (size_t i = 0; i < n; ++i) payload[i] = static_cast<char>('a' + i % 26);
      std::string frame = frame_of(7, payload);
      CHECK(frame.size() == frame_bytes(n));
      CHECK(frame.size() % 8 == 0);
      FrameView view;
      REQUIRE(decode_frame(frame, 1024, &view) == FrameStatus::kOk);
      CHECK(view.type == 7);
      CHECK(view.payload == payload);
      CHECK(view.total_bytes == frame.size());
      CHECK(reinterpret_cast<uintptr_t>(view.payload.data()) % 8 ==
            reinterpret_cast<uintptr_t>(frame.data()) % 8);
    }
  }

  TEST_CASE("the header carries the length, type and version, and the stored crc is masked") {
    std::string frame = frame_of(3, "hello");
    uint32_t len = 0;
    std::memcpy(&len, frame.data() + 4, 4);
    CHECK(len == 5);
    CHECK(frame[8] == 3);
    CHECK(frame[9] == kFrameVersion);
    for (size_t i = 10; i < 16; ++i) CHECK(frame[i] == 0);
    for (size_t i = 16 + 5; i < frame.size(); ++i) CHECK(frame[i] == 0);
    uint32_t stored = 0;
    std::memcpy(&stored, frame.data(), 4);
    uint32_t crc = wire::crc32c(frame.data() + 4, frame.size() - 4);
    CHECK(stored == wire::crc32c_mask(crc));
    CHECK(stored != crc);
  }

  TEST_CASE("every proper prefix of a frame decodes as truncated") {
    std::string frame = frame_of(1, std::string(29, 'p'));
    for (size_t cut = 0; cut < frame.size(); ++cut) {
      FrameView view;
      CHECK(decode_frame(std::string_view(frame).substr(0, cut), 1024, &view) ==
            FrameStatus::kTruncated);
    }
  }

  TEST_CASE("any single flipped bit makes a frame fail to decode") {
    std::string frame = frame_of(9, "some payload bytes");
    for (size_t byte = 0; byte < frame.size(); ++byte) {
      for (int bit = 0; bit < 8; ++bit) {
        std::string damaged = frame;
        damaged[byte] = static_cast<char>(damaged[byte] ^ (1 << bit));
        FrameView view;
        CHECK(decode_frame(damaged, 1 << 20, &view) != FrameStatus::kOk);
      }
    }
  }

  TEST_CASE("a damaged payload is a checksum mismatch, not a truncation") {
    std::string frame = frame_of(2, "payload");
    frame[17] ^= 0x40;
    FrameView view;
    CHECK(decode_frame(frame, 1024, &view) == FrameStatus::kBadCrc);
  }

  TEST_CASE("type 0, reserved bytes and oversized lengths are bad headers") {
    FrameView view;
    SUBCASE("type 0") {
      std::string frame = frame_of(1, "abc");
      frame[8] = 0;
      CHECK(decode_frame(frame, 1024, &view) == FrameStatus::kBadHeader);
    }
    SUBCASE("non-zero reserved byte") {
      std::string frame = frame_of(1, "abc");
      frame[13] = 1;
      CHECK(decode_frame(frame, 1024, &view) == FrameStatus::kBadHeader);
    }
    SUBCASE("length over max_record_bytes is rejected before the bytes are needed") {
      std::string frame = frame_of(1, std::string(100, 'z'));
      CHECK(decode_frame(frame, 99, &view) == FrameStatus::kBadHeader);
      CHECK(decode_frame(std::string_view(frame).substr(0, 16), 99, &view) ==
            FrameStatus::kBadHeader);
      CHECK(decode_frame(frame, 100, &view) == FrameStatus::kOk);
    }
  }

  TEST_CASE("consecutive frames decode one after another") {
    std::string bytes;
    append_frame(&bytes, 1, "first");
    append_frame(&bytes, 2, "");
    append_frame(&bytes, 3, std::string(100, 'q'));
    std::string_view rest = bytes;
    std::vector<uint8_t> types;
    while (!rest.empty()) {
      FrameView view;
      REQUIRE(decode_frame(rest, 1024, &view) == FrameStatus::kOk);
      types.push_back(view.type);
      rest.remove_prefix(view.total_bytes);
    }
    CHECK(types == std::vector<uint8_t>{1, 2, 3});
  }
}

}  // namespace sluice::storage
