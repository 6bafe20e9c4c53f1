// The dashboard's page, script and style, compiled in by cmake/embed_assets.cmake.
#pragma once

#include "common/embedded_files.h"

namespace warden::assets {

using File = EmbeddedFile;
extern const File kFiles[];

}  // namespace warden::assets
