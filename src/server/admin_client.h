// AdminKeys: `warden keys …` through the admin API of the gateway running on this machine, for
// when it holds the data directory (RocksDB locks it, so the CLI cannot open the key store).
//
// Contract: each call is one HTTP request to `admin.listen` (a wildcard address is reached on
// loopback) with the configured admin token; TLS when the admin listener has it, verified
// against its own certificate file. The admin API records each action in the audit log itself.
// Names are resolved to ids from its key list, as the store would (unambiguous among active
// keys). Refused, saying why, when the admin API is off or wants a client certificate. The
// token is never printed.
#pragma once

#include <memory>

#include "common/result.h"
#include "config/config.h"
#include "keys/key_store.h"

namespace warden {

Result<std::unique_ptr<KeyAdmin>> AdminKeys(const Config& config);

}  // namespace warden
