// Server-sent events: an incremental parser for upstream streams and the formatter for what
// Warden writes downstream (https://html.spec.whatwg.org/multipage/server-sent-events.html).
//
// Contract: Feed() accepts bytes in pieces of any size (an event, a line, even a "\r\n" may be
// split between pieces) and calls the callback once per complete event, in order. Comment lines
// (":…") and unknown fields are dropped. An event larger than the limit is an error, so a
// misbehaving upstream cannot make Warden buffer without bound. Not thread-safe (one per stream).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace warden {

struct SseEvent {
  std::string event;  // "" = the default "message"
  std::string data;   // data lines joined with "\n"
  std::string id;
};

class SseParser {
 public:
  explicit SseParser(size_t max_event_bytes = 4u << 20) : max_event_bytes_(max_event_bytes) {}
  // `on_event` may return an error to stop parsing; Feed() then returns that error.
  Status Feed(std::string_view bytes, const std::function<Status(SseEvent&)>& on_event);
  // True if bytes of an unfinished event are pending (a stream cut mid-event).
  bool HasPartial() const { return !line_.empty() || has_fields_; }

 private:
  Status EndLine(const std::function<Status(SseEvent&)>& on_event);
  size_t max_event_bytes_;
  std::string line_;
  SseEvent current_;
  bool has_fields_ = false;
  bool has_data_ = false;
  bool skip_lf_ = false;  // the previous line ended with '\r'
  size_t event_bytes_ = 0;
};

// "event: …\n" (when set) + one "data: …\n" per line of data + "\n".
std::string FormatSseEvent(const SseEvent& event);
std::string FormatSseData(std::string_view data);

}  // namespace warden
