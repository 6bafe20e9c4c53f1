#include "server/poco_exchange.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/HTTPStream.h>

#include <algorithm>
#include <cctype>

#include "common/util.h"
#include "server/http_checks.h"

namespace warden {

PocoClientExchange::PocoClientExchange(Poco::Net::HTTPServerRequestImpl& request,
                                       Poco::Net::HTTPServerResponse& response, int grace_ms,
                                       size_t min_body_rate)
    : request_(request),
      response_(response),
      grace_ms_(grace_ms),
      min_body_rate_(min_body_rate),
      start_ns_(MonotonicNanos()) {
  const std::string& uri = request_.getURI();
  path_ = uri.substr(0, uri.find('?'));
  if (size_t q = uri.find('?'); q != std::string::npos) query_ = uri.substr(q + 1);
}

std::string PocoClientExchange::header(std::string_view name) const {
  return request_.get(std::string(name), "");
}

std::vector<std::string> PocoClientExchange::header_names() const {
  std::vector<std::string> out;
  for (const auto& [name, value] : request_) {
    std::string lower = name;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.push_back(std::move(lower));
  }
  return out;
}

std::string PocoClientExchange::client_address() const {
  return request_.clientAddress().host().toString();
}

bool PocoClientExchange::has_body() const {
  if (request_.getChunkedTransferEncoding()) return true;
  return request_.hasContentLength() && request_.getContentLength64() > 0;
}

Result<std::string> PocoClientExchange::ReadBody(size_t limit) {
  if (request_.hasContentLength() && request_.getContentLength64() > static_cast<int64_t>(limit))
    return BodyTooLarge(limit);
  if (request_.getExpectContinue() && !continued_) {
    continued_ = true;  // the client waits for this before it sends the body
    try {
      response_.sendContinue();
    } catch (const std::exception&) {
      CloseAfterResponse();
      return Error::BadRequest("The connection broke before the body was sent.", "", "invalid_body");
    }
  }
  std::string body;
  try {
    if (request_.getChunkedTransferEncoding()) return ReadChunked(limit);
    if (request_.hasContentLength()) body.reserve(static_cast<size_t>(request_.getContentLength64()));
    // One socket read at a time (sgetc fills the buffer once; in_avail is what arrived), so the
    // body's pace is checked as it trickles in, not only when a large buffer is full.
    std::streambuf* in = request_.stream().rdbuf();
    char buf[16384];
    while (in->sgetc() != std::char_traits<char>::eof()) {
      const std::streamsize n = in->sgetn(buf, std::min<std::streamsize>(std::max<std::streamsize>(in->in_avail(), 1), sizeof buf));
      if (n <= 0) break;
      if (body.size() + static_cast<size_t>(n) > limit) return BodyTooLarge(limit);
      body.append(buf, static_cast<size_t>(n));
      if (body.size() < static_cast<size_t>(request_.getContentLength64()) && TooSlow(body.size())) return SlowBody();
    }
  } catch (const Poco::TimeoutException&) {
    CloseAfterResponse();
    return Error::RequestTimeout("Timed out reading the request body.");
  } catch (const std::exception&) {
    CloseAfterResponse();
    return Error::BadRequest("The request body could not be read (malformed or cut short).", "",
                             "invalid_body");
  }
  if (request_.hasContentLength() &&
      static_cast<int64_t>(body.size()) != request_.getContentLength64()) {
    CloseAfterResponse();
    return Error::BadRequest("The request body is shorter than its Content-Length.", "",
                             "invalid_body");
  }
  return body;
}

Error PocoClientExchange::BodyTooLarge(size_t limit) {
  CloseAfterResponse();  // the rest of the body stays unread: the connection cannot be reused
  return Error::PayloadTooLarge("The request body is larger than the limit of " + std::to_string(limit) + " bytes.");
}

bool PocoClientExchange::TooSlow(size_t bytes) const {
  const int64_t elapsed_ms = (MonotonicNanos() - start_ns_) / 1000000;
  return elapsed_ms > grace_ms_ && static_cast<double>(bytes) * 1000.0 / static_cast<double>(elapsed_ms) <
                                       static_cast<double>(min_body_rate_);
}

Error PocoClientExchange::SlowBody() {
  CloseAfterResponse();
  return Error::RequestTimeout("The request body arrived too slowly (see server.min_body_rate).");
}

// Called inside ReadBody's try: a timeout or broken read is reported there.
Result<std::string> PocoClientExchange::ReadChunked(size_t limit) {
  // The raw bytes after the head, decoded here instead of by Poco's chunked stream. Its buffer
  // may read past the body (a pipelined request), so the connection is not reused afterwards.
  CloseAfterResponse();
  ChunkedDecoder decoder(limit);
  std::string body;
  Poco::Net::HTTPInputStream raw(request_.session());
  std::streambuf* in = raw.rdbuf();
  char buf[16384];
  while (!decoder.done() && !decoder.failed()) {
    const size_t want = decoder.data_wanted();
    std::streamsize n;
    if (want > 0) {
      n = in->sgetn(buf, static_cast<std::streamsize>(std::min(want, sizeof buf)));
    } else {
      const int c = in->sbumpc();  // framing: one byte at a time, from the stream's buffer
      n = c == std::char_traits<char>::eof() ? 0 : 1;
      buf[0] = static_cast<char>(c);
    }
    if (n <= 0) throw Poco::IOException("cut short");
    decoder.Feed(std::string_view(buf, static_cast<size_t>(n)), body);
    if (want > 0 && TooSlow(body.size())) return SlowBody();
  }
  if (decoder.too_large()) return BodyTooLarge(limit);
  if (decoder.failed())
    return Error::BadRequest("The chunked request body is malformed (bad chunk size or line ending).", "", "invalid_body");
  return body;
}

void PocoClientExchange::SetHeader(const std::string& name, const std::string& value) {
  response_.set(name, value);
}

void PocoClientExchange::CloseAfterResponse() { response_.setKeepAlive(false); }

void PocoClientExchange::Send(int status, std::string_view content_type, std::string_view body) {
  if (started_) return;
  started_ = true;
  try {
    response_.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    response_.setContentType(std::string(content_type));
    response_.setContentLength64(static_cast<Poco::Int64>(body.size()));
    std::ostream& out = response_.send();
    if (request_.getMethod() != "HEAD") out.write(body.data(), static_cast<std::streamsize>(body.size()));
    out.flush();
  } catch (const std::exception&) {
    broken_ = true;  // the client went away; nothing more to do
  }
}

bool PocoClientExchange::StartStream(int status, std::string_view content_type) {
  if (started_) return false;
  started_ = true;
  try {
    response_.setStatusAndReason(static_cast<Poco::Net::HTTPResponse::HTTPStatus>(status));
    response_.setContentType(std::string(content_type));
    response_.setChunkedTransferEncoding(true);
    response_.set("Cache-Control", "no-cache");
    response_.set("X-Accel-Buffering", "no");
    stream_ = &response_.send();
    stream_->flush();
    broken_ = !stream_->good();
  } catch (const std::exception&) {
    broken_ = true;
  }
  return !broken_;
}

bool PocoClientExchange::Write(std::string_view data) {
  if (!stream_ || broken_) return false;
  try {
    stream_->write(data.data(), static_cast<std::streamsize>(data.size()));
    stream_->flush();
    broken_ = !stream_->good();
  } catch (const std::exception&) {
    broken_ = true;
  }
  return !broken_;
}

}  // namespace warden
