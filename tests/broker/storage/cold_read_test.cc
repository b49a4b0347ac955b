// Cold reads: under a NoWaitReads guard, pread_full() refuses bytes that are not in the page
// cache and records where; warm_range() (a worker's read) brings them in; outside a guard, or
// after suspend(), reads wait for the disk as always.
#include "broker/storage/cold_read.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "broker/storage/atomic_file.h"
#include "tests/broker/storage/temp_dir.h"

namespace sluice::storage {
namespace {

using testing::TempDir;

constexpr size_t kFileBytes = 4 << 20;

// A file of kFileBytes on disk, synced, with its pages dropped from the page cache.
int cold_file(const TempDir& dir) {
  const std::string path = dir.path() + "/cold";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  REQUIRE(fd >= 0);
  std::string bytes(kFileBytes, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) bytes[i] = static_cast<char>('a' + i % 26);
  REQUIRE(pwrite_all(fd, bytes, 0, path).is_ok());
  REQUIRE(::fsync(fd) == 0);
  REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
  return fd;
}

// Pages of [offset, offset + len) held by the page cache.
size_t resident_pages(int fd, uint64_t offset, size_t len) {
  void* map = ::mmap(nullptr, len, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(offset));
  REQUIRE(map != MAP_FAILED);
  const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> vec((len + page - 1) / page);
  REQUIRE(::mincore(map, len, vec.data()) == 0);
  ::munmap(map, len);
  size_t n = 0;
  for (unsigned char v : vec) n += v & 1;
  return n;
}

TEST_SUITE("storage.cold_read") {
  TEST_CASE(
      "a read of bytes not in the page cache is refused under the guard, recorded, and "
      "served once a worker warmed them") {
    TempDir dir;
    const int fd = cold_file(dir);
    const uint64_t at = 1 << 20;
    REQUIRE(resident_pages(fd, at, 64 * 1024) == 0);
    std::vector<char> buf(64 * 1024);
    size_t got = 0;
    ColdMiss miss;
    {
      NoWaitReads guard;
      CHECK(NoWaitReads::active());
      CHECK_FALSE(pread_full(fd, buf.data(), buf.size(), at, &got, "cold").is_ok());
      CHECK(guard.missed());
      CHECK(NoWaitReads::missed_now());
      miss = guard.take_miss();
    }
    CHECK_FALSE(NoWaitReads::active());
    CHECK_FALSE(NoWaitReads::missed_now());
    REQUIRE(miss.fd >= 0);
    CHECK(miss.offset >= at);
    CHECK(miss.offset < at + buf.size());
    CHECK(miss.offset + miss.length == at + buf.size());
    CHECK(warm_range(miss.fd, miss.offset, miss.length) == miss.length);
    {
      NoWaitReads guard;
      REQUIRE(pread_full(fd, buf.data(), buf.size(), at, &got, "warm").is_ok());
      CHECK_FALSE(guard.missed());
      CHECK(got == buf.size());
      CHECK(buf[0] == static_cast<char>('a' + at % 26));
    }
    ::close(fd);
  }

  TEST_CASE("without a guard, or after suspend(), a cold read waits for the disk") {
    TempDir dir;
    const int fd = cold_file(dir);
    std::vector<char> buf(32 * 1024);
    size_t got = 0;
    REQUIRE(pread_full(fd, buf.data(), buf.size(), 0, &got, "plain").is_ok());
    CHECK(got == buf.size());
    REQUIRE(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
    {
      NoWaitReads guard;
      NoWaitReads::suspend();
      CHECK_FALSE(NoWaitReads::active());
      REQUIRE(pread_full(fd, buf.data(), buf.size(), 2 << 20, &got, "suspended").is_ok());
      CHECK(got == buf.size());
      CHECK_FALSE(guard.missed());
    }
    ::close(fd);
  }

  TEST_CASE("after one refusal every read of the guard is refused, and guards nest") {
    TempDir dir;
    const int fd = cold_file(dir);
    std::vector<char> buf(4096);
    size_t got = 0;
    NoWaitReads outer;
    CHECK_FALSE(pread_full(fd, buf.data(), buf.size(), 3 << 20, &got, "cold").is_ok());
    CHECK(outer.missed());
    {
      NoWaitReads inner;
      CHECK_FALSE(inner.missed());
      REQUIRE(warm_range(::dup(fd), 0, 4096) == 4096);
      CHECK(pread_full(fd, buf.data(), buf.size(), 0, &got, "warm").is_ok());
    }
    CHECK(outer.missed());
    // Warm bytes too, now: the outer guard already refused once (its command runs again).
    CHECK_FALSE(pread_full(fd, buf.data(), buf.size(), 0, &got, "warm").is_ok());
    ColdMiss miss = outer.take_miss();
    CHECK(miss.offset == 3 << 20);
    ::close(miss.fd);
    ::close(fd);
  }
}

}  // namespace
}  // namespace sluice::storage
