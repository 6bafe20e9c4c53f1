#include "gateway/authenticate.h"

#include <strings.h>

#include <optional>

#include "common/util.h"
#include "common/offload.h"

namespace warden {

Result<std::string_view> BearerToken(std::string_view authorization) {
  std::string_view token = authorization;
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  if (token.size() >= 7 && strncasecmp(token.data(), "Bearer ", 7) == 0) {
    token.remove_prefix(7);
  } else if (!token.empty()) {
    return Error::Unauthorized(
        "The Authorization header must be 'Bearer <key>'.", "invalid_authorization_header");
  }
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

Result<const Policy*> ResolvePolicy(const PolicySet& policies, const KeyRecord& key) {
  const Policy* p = policies.Find(key.policy);
  if (!p)
    return Error::Forbidden("This key's policy '" + key.policy +
                                "' is not loaded on this gateway; the request is refused.",
                            "policy_not_found");
  return p;
}

asio::awaitable<Result<Identity>> Authenticate(const KeyStore& keys, asio::thread_pool* pool,
                                               const PolicySet& policies, const ClientExchange& client,
                                               Ingress ingress) {
  std::string authorization = client.header("Authorization");
  if (authorization.empty() && ingress == Ingress::kAnthropic && !client.header("x-api-key").empty())
    authorization = "Bearer " + client.header("x-api-key");
  const auto token = BearerToken(authorization);
  std::optional<Result<KeyRecord>> key;
  if (!token) key = token.error();
  else key = keys.AuthenticateCached(*token);
  if (!key) key = co_await Offload(pool, [&] { return keys.Authenticate(*token); });
  WipeString(authorization);
  if (!*key) co_return key->error();
  auto policy = ResolvePolicy(policies, **key);
  if (!policy) co_return policy.error();
  // Attribution is part of who asks: the tags the key's policy lets it attach.
  auto tags = ParseTags(client.header(std::string(kTagsHeader)), (*policy)->tags);
  if (!tags) co_return tags.error();
  co_return Identity{std::move((*key)->id), (*key)->env, *policy, std::move(*tags)};
}

}  // namespace warden
