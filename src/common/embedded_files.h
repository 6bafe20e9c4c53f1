// Files compiled into the binary by cmake/embed_assets.cmake. Each embedding defines an array
// `kFiles` of these in its own namespace (declared in a header of the module that reads it),
// ended by an entry with a null name.
#pragma once

#include <cstddef>
#include <string_view>

namespace warden {

struct EmbeddedFile {
  const char* name;
  const unsigned char* data;
  std::size_t size;
  std::string_view text() const { return {reinterpret_cast<const char*>(data), size}; }
};

}  // namespace warden
