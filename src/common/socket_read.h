// ReadWhatArrived / ReadSomeInto: the reads of the event loops, shared by the server's
// connections and the upstream client.
//
// Contract: waits (as a coroutine, holding no buffer) until the non-blocking `socket` is
// readable, then appends what has arrived — at most `max` bytes — to `buf`. Returns the error,
// asio::error::eof when the peer closed, or success with at least one byte appended. A wake-up
// with nothing to read waits again. Cancelling the socket ends the wait (operation_aborted).
#pragma once

#include <asio/awaitable.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <string>

#include "common/awaitable.h"

namespace warden {

inline asio::awaitable<asio::error_code> ReadWhatArrived(asio::ip::tcp::socket& socket, std::string& buf, size_t max) {
  for (;;) {
    auto [ec] = co_await socket.async_wait(asio::ip::tcp::socket::wait_read,
                                           kTuple);
    if (ec) co_return ec;
    // Read into this thread's scratch and append what came: no FIONREAD per read, and `buf`
    // grows by what arrived, not by a guess (no suspension between the read and the append).
    thread_local char scratch[64 * 1024];
    const size_t n = socket.read_some(asio::buffer(scratch, std::clamp<size_t>(max, 1, sizeof scratch)), ec);
    if (ec == asio::error::would_block) continue;
    if (!ec && n == 0) ec = asio::error::eof;
    if (!ec) buf.append(scratch, n);
    co_return ec;
  }
}

// The same for a stream that must own the read (TLS: decrypted bytes come out of OpenSSL):
// one read of at most `max` bytes into the end of `buf` (which holds that much while waiting).
template <typename Stream>
asio::awaitable<asio::error_code> ReadSomeInto(Stream& stream, std::string& buf, size_t max) {
  const size_t old = buf.size();
  buf.resize(old + max);
  auto [ec, n] = co_await stream.async_read_some(asio::buffer(buf.data() + old, max),
                                                 kTuple);
  buf.resize(old + n);
  if (!ec && n == 0) ec = asio::error::eof;
  co_return ec;
}

}  // namespace warden
