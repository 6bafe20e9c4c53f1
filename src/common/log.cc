#include "common/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <ctime>
#include <mutex>

#include "common/mutex.h"

namespace warden::log {
namespace {
std::atomic<int> g_fd{2};
std::atomic<Level> g_level{Level::kInfo};
Mutex g_sink_mu;  // orders sink changes (the fd itself is atomic)

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

std::string Timestamp() {
  auto now = std::chrono::system_clock::now();
  auto secs = std::chrono::system_clock::to_time_t(now);
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}
}  // namespace

bool SetSink(const std::string& path) {
  MutexLock lock(g_sink_mu);
  if (path.empty() || path == "-") {
    int old = g_fd.exchange(2);
    if (old > 2) ::close(old);
    return true;
  }
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  int old = g_fd.exchange(fd);
  if (old > 2) ::close(old);
  return true;
}

void SetLevel(Level level) { g_level = level; }

Level ParseLevel(std::string_view name, Level fallback) {
  if (name == "debug") return Level::kDebug;
  if (name == "info") return Level::kInfo;
  if (name == "warn") return Level::kWarn;
  if (name == "error") return Level::kError;
  return fallback;
}

void Write(Level level, std::string_view event, Fields fields) {
  if (level < g_level.load(std::memory_order_relaxed)) return;
  // {"ts":…,"level":…,"event":…, then the fields as they are: one serialisation, no copy of
  // them into a new object (this runs once per request, for the access log).
  std::string text = "{\"ts\":\"" + Timestamp() + "\",\"level\":\"" + LevelName(level) + "\",\"event\":";
  text += Fields(std::string(event)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  // A field may not repeat the line's own keys (they would appear twice).
  if (fields.is_object())
    for (const char* own : {"ts", "level", "event"}) fields.erase(own);
  if (fields.is_object() && !fields.empty()) {
    const std::string rest = fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    text.push_back(',');
    text.append(rest, 1, std::string::npos);  // without its opening brace
  } else {
    text.push_back('}');
  }
  text.push_back('\n');
  int fd = g_fd.load();
  const char* p = text.data();
  size_t left = text.size();
  while (left > 0) {
    ssize_t n = ::write(fd, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<size_t>(n);
  }
}

}  // namespace warden::log
