#include "audit/high_water.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string_view>
#include <utility>

namespace warden::audit {
namespace {

std::string PathIn(const std::string& dir) { return dir + "/" + HighWaterMark::kFileName; }

// The value in `fd` (0 for an empty file); nullopt when the bytes are not a number.
std::optional<uint64_t> ReadValue(int fd) {
  char buf[32];
  ssize_t n = pread(fd, buf, sizeof buf, 0);
  if (n < 0) return std::nullopt;
  std::string_view text(buf, static_cast<size_t>(n));
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  if (text.empty()) return 0;
  uint64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

Error Unreadable(const std::string& dir) {
  return Error::Internal("the audit store's high-water mark " + PathIn(dir) +
                             " is unreadable; it records the last acknowledged sequence number. "
                             "Run `warden-audit verify`; remove the file only if you know why it is damaged",
                         "audit_high_water_unreadable");
}

}  // namespace

Result<uint64_t> HighWaterMark::Read(const std::string& dir) {
  int fd = open(PathIn(dir).c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return uint64_t{0};
    return Unreadable(dir);
  }
  auto v = ReadValue(fd);
  close(fd);
  if (!v) return Unreadable(dir);
  return *v;
}

Result<HighWaterMark> HighWaterMark::Open(const std::string& dir) {
  int fd = open(PathIn(dir).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0)
    return Error::ServiceUnavailable("cannot open " + PathIn(dir) + ": " + std::strerror(errno),
                                     "audit_unavailable");
  auto v = ReadValue(fd);
  if (!v) {
    close(fd);
    return Unreadable(dir);
  }
  return HighWaterMark(fd, *v);
}

HighWaterMark::HighWaterMark(HighWaterMark&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)), value_(other.value_) {}

HighWaterMark& HighWaterMark::operator=(HighWaterMark&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    fd_ = std::exchange(other.fd_, -1);
    value_ = other.value_;
  }
  return *this;
}

HighWaterMark::~HighWaterMark() {
  if (fd_ >= 0) close(fd_);
}

bool HighWaterMark::Advance(uint64_t seq) {
  if (seq <= value_) return true;
  // Fixed width, so a shorter value never leaves digits of a longer one behind.
  char buf[21];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(seq));
  if (pwrite(fd_, buf, 20, 0) != 20) return false;
  value_ = seq;
  return true;
}

bool HighWaterMark::Sync() { return fd_ >= 0 && fdatasync(fd_) == 0; }

}  // namespace warden::audit
