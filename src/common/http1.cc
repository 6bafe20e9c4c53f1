#include "common/http1.h"

#include <strings.h>

#include <algorithm>

namespace warden {

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

bool ListHasToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (IEquals(TrimOws(value.substr(0, comma)), token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

std::string_view TakeLine(std::string_view& rest) {
  const size_t lf = rest.find('\n');
  std::string_view line = rest.substr(0, lf);
  rest.remove_prefix(lf == std::string_view::npos ? rest.size() : lf + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

size_t SkipLeadingEmptyLines(std::string_view bytes) {
  size_t at = 0;
  for (;;) {
    if (at < bytes.size() && bytes[at] == '\n') ++at;
    else if (at + 1 < bytes.size() && bytes[at] == '\r' && bytes[at + 1] == '\n') at += 2;
    else return at;
  }
}

size_t FindHeadEnd(std::string_view bytes, size_t searched_before) {
  const size_t start = SkipLeadingEmptyLines(bytes);
  size_t at = std::max(start, searched_before > 3 ? searched_before - 3 : 0);
  for (;;) {
    at = bytes.find('\n', at);
    if (at == std::string_view::npos) return std::string_view::npos;
    ++at;
    if (at < bytes.size() && bytes[at] == '\n') return at + 1;
    if (at + 1 < bytes.size() && bytes[at] == '\r' && bytes[at + 1] == '\n') return at + 2;
  }
}

size_t ChunkedDecoder::Feed(std::string_view in, std::string& out) {
  size_t i = 0;
  auto fail = [&] {
    state_ = State::kError;
    return i;
  };
  while (i < in.size()) {
    if (state_ == State::kDone || failed()) return i;
    if (state_ == State::kData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, in.size() - i));
      out.append(in.data() + i, n);
      i += n;
      remaining_ -= n;
      if (remaining_ == 0) state_ = State::kDataCR;
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(in[i++]);
    switch (state_) {
      case State::kSize: {
        int v = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
        if (v >= 0) {
          if (++digits_ > 16) return fail();
          size_ = size_ * 16 + static_cast<uint64_t>(v);
          if (size_ > limit_ || out.size() + size_ > limit_) {
            state_ = State::kTooLarge;
            return i;
          }
        } else if (digits_ > 0 && (c == ';' || c == ' ' || c == '\t')) {
          state_ = State::kExt;
          line_ = 0;
        } else if (digits_ > 0 && c == '\r') {
          state_ = State::kSizeLF;
        } else {
          return fail();
        }
        break;
      }
      case State::kExt:
        if (c == '\r') state_ = State::kSizeLF;
        else if (c == '\n' || ++line_ > 4096 || (c < 0x20 && c != '\t') || c == 0x7f) return fail();
        break;
      case State::kSizeLF:
        if (c != '\n') return fail();
        if (size_ == 0) {
          state_ = State::kTrailer;
          line_ = 0;
        } else {
          state_ = State::kData;
          remaining_ = size_;
        }
        break;
      case State::kDataCR:
        if (c != '\r') return fail();
        state_ = State::kDataLF;
        break;
      case State::kDataLF:
        if (c != '\n') return fail();
        state_ = State::kSize;
        size_ = 0;
        digits_ = 0;
        break;
      case State::kTrailer:
        if (c == '\r') state_ = State::kEndLF;
        else if (c == '\n' || ++line_ > 8192) return fail();
        else state_ = State::kTrailerLine;
        break;
      case State::kTrailerLine:
        if (c == '\r') state_ = State::kTrailerLF;
        else if (c == '\n' || ++line_ > 8192) return fail();
        break;
      case State::kTrailerLF:
        if (c != '\n') return fail();
        state_ = State::kTrailer;
        break;
      case State::kEndLF:
        if (c != '\n') return fail();
        state_ = State::kDone;
        return i;
      default:
        return fail();
    }
  }
  return i;
}

}  // namespace warden
