#include "providers/sse.h"

namespace warden {

Status SseParser::EndLine(const std::function<Status(SseEvent&)>& on_event) {
  if (line_.empty()) {
    // A blank line dispatches the event (if it had any data, as the spec says).
    Status s;
    if (has_data_) s = on_event(current_);
    current_ = SseEvent();
    has_fields_ = has_data_ = false;
    event_bytes_ = 0;
    return s;
  }
  if (line_[0] != ':') {
    std::string_view line(line_);
    size_t colon = line.find(':');
    std::string_view field = line.substr(0, colon);
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (field == "data") {
      if (has_data_) current_.data.push_back('\n');
      current_.data.append(value);
      has_data_ = true;
    } else if (field == "event") {
      current_.event = value;
    } else if (field == "id") {
      current_.id = value;
    }
    has_fields_ = true;
  }
  line_.clear();
  return Status::Ok();
}

Status SseParser::Feed(std::string_view bytes, const std::function<Status(SseEvent&)>& on_event) {
  size_t i = 0;
  while (i < bytes.size()) {
    if (skip_lf_) {
      skip_lf_ = false;
      if (bytes[i] == '\n') {
        ++i;
        continue;
      }
    }
    // Copy the run up to the next line end in one go.
    size_t end = bytes.find_first_of("\r\n", i);
    size_t stop = end == std::string_view::npos ? bytes.size() : end;
    event_bytes_ += stop - i;
    if (event_bytes_ > max_event_bytes_)
      return Error::BadGateway("the provider sent a stream event larger than the limit",
                               "upstream_event_too_large", false);
    line_.append(bytes.data() + i, stop - i);
    if (end == std::string_view::npos) break;
    skip_lf_ = bytes[end] == '\r';
    i = end + 1;
    if (Status s = EndLine(on_event); !s) return s;
  }
  return Status::Ok();
}

std::string FormatSseData(std::string_view data) {
  std::string out;
  out.reserve(data.size() + 8);
  size_t start = 0;
  for (;;) {
    size_t nl = data.find('\n', start);
    out += "data: ";
    out.append(data.substr(start, nl == std::string_view::npos ? std::string_view::npos : nl - start));
    out += '\n';
    if (nl == std::string_view::npos) break;
    start = nl + 1;
  }
  out += '\n';
  return out;
}

std::string FormatSseEvent(const SseEvent& event) {
  std::string out;
  if (!event.event.empty()) out += "event: " + event.event + "\n";
  if (!event.id.empty()) out += "id: " + event.id + "\n";
  out += FormatSseData(event.data);
  return out;
}

}  // namespace warden
