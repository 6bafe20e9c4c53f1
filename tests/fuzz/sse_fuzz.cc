// libFuzzer target: the SSE parser on arbitrary bytes fed in arbitrary pieces. Checks that the
// events do not depend on how the bytes were split.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "providers/sse.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view bytes(reinterpret_cast<const char*>(data + 1), size - 1);
  auto run = [&](size_t step) {
    warden::SseParser p(1 << 16);
    std::vector<std::string> events;
    bool failed = false;
    for (size_t pos = 0; pos < bytes.size() && !failed; pos += step) {
      failed = !p.Feed(bytes.substr(pos, step), [&](warden::SseEvent& e) {
                    events.push_back(e.event + "\x1f" + e.data + "\x1f" + e.id);
                    return warden::Status::Ok();
                  }).ok();
    }
    return std::make_pair(failed, events);
  };
  auto whole = run(bytes.size() + 1);
  auto split = run(1 + data[0] % 7);
  if (!whole.first && !split.first && whole.second != split.second) std::abort();
  return 0;
}
