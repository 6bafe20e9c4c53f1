// kTuple: the completion token the event loops' coroutines use — `co_await op(..., kTuple)`
// yields the operation's results as a tuple (error_code first) instead of throwing.
#pragma once

#include <asio/experimental/as_tuple.hpp>
#include <asio/use_awaitable.hpp>

namespace warden {

inline constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

}  // namespace warden
