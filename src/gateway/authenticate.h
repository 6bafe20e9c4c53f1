// Authenticate → Resolve policy: the first phase of every request but the probes. Reads nothing
// of the body, so an anonymous client cannot make the gateway buffer megabytes.
#pragma once

#include <asio/awaitable.hpp>
#include <asio/thread_pool.hpp>

#include <string>
#include <string_view>

#include "common/result.h"
#include "gateway/client_exchange.h"
#include "gateway/request.h"
#include "keys/key_store.h"
#include "policy/policy.h"

namespace warden {

// The key in "Authorization: Bearer <key>" (a view into `authorization`; empty if absent).
Result<std::string_view> BearerToken(std::string_view authorization);

// The key's policy. A key naming a policy that does not exist is refused (403 policy_not_found):
// fail closed, never fall back to a wider one.
Result<const Policy*> ResolvePolicy(const PolicySet& policies, const KeyRecord& key);

// The client's key (Authorization: Bearer; Anthropic clients may send x-api-key instead) checked
// against the key store, and its policy. A known key is checked in memory; only a key the cache
// has not seen reads the store, on `pool` (inline when null). The copy of the credential made
// here is wiped before this returns.
asio::awaitable<Result<Identity>> Authenticate(const KeyStore& keys, asio::thread_pool* pool,
                                               const PolicySet& policies, const ClientExchange& client,
                                               Ingress ingress);

}  // namespace warden
