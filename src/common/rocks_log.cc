#include "common/rocks_log.h"

#include <rocksdb/env.h>
#include <rocksdb/options.h>

#include <cstdarg>
#include <cstdio>
#include <memory>

#include "common/log.h"

namespace warden {
namespace {

class WardenLogger final : public rocksdb::Logger {
 public:
  explicit WardenLogger(std::string store) : rocksdb::Logger(rocksdb::InfoLogLevel::WARN_LEVEL), store_(std::move(store)) {}

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override { Emit(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap); }
  void Logv(const rocksdb::InfoLogLevel level, const char* format, va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    Emit(level, format, ap);
  }

 private:
  void Emit(rocksdb::InfoLogLevel level, const char* format, va_list ap) {
    char buf[512];
    va_list copy;
    va_copy(copy, ap);
    std::vsnprintf(buf, sizeof buf, format, copy);
    va_end(copy);
    log::Write(level >= rocksdb::InfoLogLevel::ERROR_LEVEL ? log::Level::kError : log::Level::kWarn,
               "rocksdb", {{"store", store_}, {"message", buf}});
  }
  const std::string store_;
};

}  // namespace

void UseWardenLogger(rocksdb::DBOptions& options, const std::string& store) {
  options.info_log = std::make_shared<WardenLogger>(store);
}

}  // namespace warden
