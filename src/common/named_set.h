// NamedSet<T>: an immutable-after-loading collection of named things (policies, redaction rule
// sets), looked up by name. T must have a `std::string name` member. Not thread-safe while
// being filled; shared read-only afterwards (held by shared_ptr<const NamedSet<T>>).
#pragma once

#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace warden {

template <typename T>
class NamedSet {
 public:
  const T* Find(std::string_view name) const {
    auto it = items_.find(name);
    return it == items_.end() ? nullptr : &it->second;
  }
  std::vector<std::string> Names() const {
    std::vector<std::string> out;
    for (const auto& [name, item] : items_) out.push_back(name);
    return out;
  }
  void Add(T item) {
    std::string name = item.name;
    items_.insert_or_assign(std::move(name), std::move(item));
  }

 private:
  std::map<std::string, T, std::less<>> items_;
};

}  // namespace warden
