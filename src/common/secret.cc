#include "common/secret.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <new>
#include <fstream>

#include "common/util.h"

namespace warden {

void WipeString(std::string& s) noexcept {
  if (s.capacity() > 0) sodium_memzero(s.data(), s.capacity());
  s.clear();
}

Secret::Secret(std::string value) {
  Assign(value);
  WipeString(value);
}

void Secret::Assign(std::string_view bytes) {
  Release();
  if (bytes.empty()) return;
  // sodium_malloc locks the pages (a failed mlock, e.g. over RLIMIT_MEMLOCK, still returns
  // guarded memory) and marks them MADV_DONTDUMP; it needs sodium_init, which is idempotent.
  if (sodium_init() < 0) throw std::bad_alloc();
  data_ = static_cast<char*>(sodium_malloc(bytes.size()));
  if (!data_) throw std::bad_alloc();
  std::memcpy(data_, bytes.data(), bytes.size());
  size_ = bytes.size();
}

void Secret::Release() noexcept {
  if (data_) sodium_free(data_);  // wipes, unlocks and unmaps
  data_ = nullptr;
  size_ = 0;
}

Secret& Secret::operator=(const Secret& other) {
  if (this != &other) Assign(other.Reveal());
  return *this;
}

Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    Release();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}

bool Secret::operator==(const Secret& other) const {
  return size_ == other.size_ && (size_ == 0 || sodium_memcmp(data_, other.data_, size_) == 0);
}


namespace {
Status WriteNew(const std::string& path, std::string_view bytes, const std::string& what) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return Error::Internal("cannot create " + what + " file " + path);
  bool ok = ::write(fd, bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()) &&
            ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());
    return Error::Internal("cannot write " + what + " file " + path);
  }
  return Status::Ok();
}
}  // namespace

Result<Secret> LoadKeyFile(const std::string& path, size_t size, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error::Internal(what + " file " + path + " cannot be read", "key_file_missing");
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (bytes.size() != size) {
    WipeString(bytes);
    return Error::Internal(what + " file " + path + " is damaged (wrong size)");
  }
  return Secret(std::move(bytes));
}

Result<Secret> LoadOrCreateKeyFile(const std::string& path, size_t size, const std::string& what,
                                   bool* created) {
  if (created) *created = false;
  if (::access(path.c_str(), F_OK) == 0) return LoadKeyFile(path, size, what);
  Secret bytes(RandomBytes(size));
  if (Status s = WriteNew(path, bytes.Reveal(), what); !s) return s.error();
  if (created) *created = true;
  return bytes;
}

Status WriteKeyFile(const std::string& path, const Secret& bytes, const std::string& what) {
  const std::string tmp = path + ".tmp";
  ::unlink(tmp.c_str());
  if (Status s = WriteNew(tmp, bytes.Reveal(), what); !s) return s;
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return Error::Internal("cannot replace " + what + " file " + path);
  }
  return Status::Ok();
}

}  // namespace warden
