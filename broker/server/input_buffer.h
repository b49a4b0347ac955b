// InputBuffer: a connection's unparsed input. Unlike std::string, growing it for the next read
// does not zero the new bytes (a 16 KiB memset per read showed up in profiles).
#pragma once

#include <cstddef>
#include <cstring>
#include <memory>
#include <string_view>

namespace sluice::server {

class InputBuffer {
 public:
  // Room for at least n more bytes at tail(); contents up to size() are kept.
  char* reserve(size_t n) {
    if (capacity_ - size_ < n) {
      size_t cap = capacity_ ? capacity_ : 16384;
      while (cap - size_ < n) cap *= 2;
      auto bigger = std::make_unique_for_overwrite<char[]>(cap);
      if (size_) std::memcpy(bigger.get(), data_.get(), size_);
      data_ = std::move(bigger);
      capacity_ = cap;
    }
    return data_.get() + size_;
  }
  void commit(size_t n) { size_ += n; }
  // Drops the first n bytes.
  void consume(size_t n) {
    if (n >= size_) {
      size_ = 0;
      return;
    }
    std::memmove(data_.get(), data_.get() + n, size_ - n);
    size_ -= n;
  }
  void clear() { size_ = 0; }
  // Keeps only the first n bytes.
  void truncate(size_t n) {
    if (n < size_) size_ = n;
  }
  // Returns memory after a burst (a large value) once the buffer is empty again.
  void shrink_if_idle() {
    if (size_ == 0 && capacity_ > 256 * 1024) {
      data_.reset();
      capacity_ = 0;
    }
  }
  const char* data() const { return data_.get(); }
  size_t size() const { return size_; }
  size_t capacity() const { return capacity_; }
  std::string_view view(size_t from) const { return {data_.get() + from, size_ - from}; }

 private:
  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace sluice::server
