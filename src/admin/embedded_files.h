// The files compiled into the binary by cmake/embed_assets.cmake (the dashboard's page, script
// and style): the generated source defines kFiles, ended by an entry with a null name.
#pragma once

#include <cstddef>

namespace warden::assets {

struct File {
  const char* name;
  const unsigned char* data;
  std::size_t size;
};
extern const File kFiles[];

}  // namespace warden::assets
