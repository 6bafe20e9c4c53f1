#include "providers/upstream.h"

#include <strings.h>

namespace warden {

std::string UpstreamHead::Get(std::string_view name) const {
  for (const auto& h : headers)
    if (h.name.size() == name.size() && strncasecmp(h.name.data(), name.data(), name.size()) == 0)
      return h.value;
  return "";
}

asio::awaitable<Result<std::string>> UpstreamExchange::ReadAll(size_t limit) {
  std::string out;
  for (;;) {
    auto piece = co_await ReadSome();
    if (!piece.ok()) co_return piece.error();
    if (piece->empty()) co_return out;
    if (out.size() + piece->size() > limit)
      co_return Error::BadGateway("the provider's response is larger than the gateway accepts",
                               "upstream_response_too_large", false);
    out.append(piece->data(), piece->size());
  }
}

}  // namespace warden
