#include "audit/checkpointer.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

namespace warden::audit {

Checkpointer::Checkpointer(const SigningKey& key, Options options, ChainLog log)
    : key_(key), options_(std::move(options)), log_(std::move(log)) {}

Checkpointer::~Checkpointer() { Stop(); }

void Checkpointer::Start() { thread_ = std::thread([this] { Loop(); }); }

void Checkpointer::Stop() {
  {
    MutexLock lk(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Checkpointer::Appended(uint64_t seq) {
  if (seq - last_signed_.load() < options_.every_records) return;
  {
    MutexLock lk(mu_);
    due_ = true;
  }
  cv_.notify_one();
}

Result<Checkpoint> Checkpointer::Write() {
  MutexLock one(write_mu_);
  Checkpoint c;
  std::tie(c.seq, c.hash) = log_.head();
  if (c.seq == 0 || c.seq == last_signed_.load()) return c;  // nothing new to sign
  if (Status s = log_.sync(c.seq); !s) return s.error();
  c.time_ms = log_.now_ms();
  c.replica = options_.replica;
  c.signature = key_.Sign(c.SignedBytes());
  if (Status s = log_.store(c); !s) return s.error();
  last_signed_ = c.seq;
  const std::string line = CheckpointLine(c) + "\n";
  if (options_.file == "-") {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fflush(stdout);
  } else if (!options_.file.empty()) {
    int fd = ::open(options_.file.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    bool ok = fd >= 0 && ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) &&
              ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!ok)
      return Error::ServiceUnavailable("the audit store cannot be written: cannot append to the checkpoint file " +
                                           options_.file,
                                       "audit_unavailable");
  }
  return c;
}

void Checkpointer::Loop() {
  MutexLock lk(mu_);
  while (!stop_) {
    // Until due (an append asked) or the period is over, whichever comes first.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.every_ms);
    while (!stop_ && !due_ && lk.WaitUntil(cv_, deadline) == std::cv_status::no_timeout) {
    }
    if (stop_) break;
    due_ = false;
    lk.Unlock();
    (void)Write();  // a failure shows as an unhealthy store; retried next round
    lk.Lock();
  }
}

uint64_t LastSignedInFile(const std::string& path) {
  if (path.empty() || path == "-") return 0;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  const off_t size = ::lseek(fd, 0, SEEK_END);
  if (size <= 0) {
    ::close(fd);
    return 0;
  }
  const off_t from = size > 65536 ? size - 65536 : 0;
  std::string tail(static_cast<size_t>(size - from), '\0');
  const ssize_t n = ::pread(fd, tail.data(), tail.size(), from);
  ::close(fd);
  if (n <= 0) return 0;
  tail.resize(static_cast<size_t>(n));
  uint64_t last = 0;
  size_t at = 0;
  while (at < tail.size()) {
    size_t end = tail.find('\n', at);
    if (end == std::string::npos) end = tail.size();
    if (auto c = ParseCheckpointLine(std::string_view(tail).substr(at, end - at)); c && c->seq > last)
      last = c->seq;
    at = end + 1;
  }
  return last;
}

}  // namespace warden::audit
