// Test helpers for storage: a temporary directory removed at scope exit, and small file
// manipulations (corrupt_byte, truncate_to, ...) used to simulate crashes and bit rot.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

namespace sluice::storage::testing {

class TempDir {
 public:
  // kRam: in /dev/shm when it exists, for tests that open and repair logs thousands of times
  // (fdatasync on a real disk would make them take minutes; what they check does not need it).
  enum class Where { kTmp, kRam };
  explicit TempDir(Where where = Where::kTmp) {
    const std::filesystem::path base =
        where == Where::kRam && std::filesystem::is_directory("/dev/shm")
            ? std::filesystem::path("/dev/shm")
            : std::filesystem::temp_directory_path();
    std::string templ = (base / "sluice-storage-XXXXXX").string();
    REQUIRE(::mkdtemp(templ.data()) != nullptr);
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string sub(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline uint64_t file_size(const std::string& path) {
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_size);
}

inline bool file_exists(const std::string& path) { return std::filesystem::exists(path); }

// XORs the byte at `offset` with `mask` (one flipped bit by default).
inline void corrupt_byte(const std::string& path, uint64_t offset, uint8_t mask = 0x01) {
  int fd = ::open(path.c_str(), O_RDWR);
  REQUIRE(fd >= 0);
  unsigned char b = 0;
  REQUIRE(::pread(fd, &b, 1, static_cast<off_t>(offset)) == 1);
  b ^= mask;
  REQUIRE(::pwrite(fd, &b, 1, static_cast<off_t>(offset)) == 1);
  ::close(fd);
}

inline void truncate_to(const std::string& path, uint64_t size) {
  REQUIRE(::truncate(path.c_str(), static_cast<off_t>(size)) == 0);
}

// Sorted paths of the files in `dir` whose names end with `suffix`.
inline std::vector<std::string> files_with_suffix(const std::string& dir,
                                                  const std::string& suffix) {
  std::vector<std::string> out;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string name = entry.path().filename().string();
    if (name.size() >= suffix.size() && name.ends_with(suffix))
      out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline void copy_dir(const std::string& from, const std::string& to) {
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

inline void copy_file(const std::string& from, const std::string& to) {
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing);
}

}  // namespace sluice::storage::testing
