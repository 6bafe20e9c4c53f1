// Offload: runs blocking work (RocksDB, fsync, large CPU work) on the worker pool from a
// coroutine on an event loop, which resumes on its own loop with the result.
//
// Contract: `f` runs exactly once, on a pool thread (inline when `pool` is null: tests and
// tools without loops); its result, or its exception, is the awaited result. The coroutine
// holds no thread while it waits. `f` is borrowed until the await completes.
#pragma once

#include <asio/co_spawn.hpp>
#include <asio/thread_pool.hpp>
#include <asio/use_awaitable.hpp>

#include <optional>
#include <type_traits>

namespace warden {

template <typename F>
asio::awaitable<std::invoke_result_t<F&>> Offload(asio::thread_pool* pool, F f) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    if (!pool) {
      f();
      co_return;
    }
    co_await asio::co_spawn(*pool, [&f]() -> asio::awaitable<void> { f(); co_return; }, asio::use_awaitable);
  } else {
    if (!pool) co_return f();
    // (In an optional: co_spawn needs a default-constructible result type.)
    std::optional<R> r = co_await asio::co_spawn(
        *pool, [&f]() -> asio::awaitable<std::optional<R>> { co_return f(); }, asio::use_awaitable);
    co_return std::move(*r);
  }
}

}  // namespace warden
