#include "server/poco_exchange.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/HTTPStream.h>

#include <algorithm>
#include <cctype>

#include "server/http_checks.h"

namespace warden {

PocoClientExchange::PocoClientExchange(Poco::Net::HTTPServerRequestImpl& request,
                                       Poco::Net::HTTPServerResponse& response)
    : request_(request), response_(response) {
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
  auto too_large = [&] {
    CloseAfterResponse();  // the rest of the body stays unread: the connection cannot be reused
    return Error::PayloadTooLarge("The request body is larger than the limit of " +
                                  std::to_string(limit) + " bytes.");
  };
  if (request_.hasContentLength() && request_.getContentLength64() > static_cast<int64_t>(limit))
    return too_large();
  if (request_.getExpectContinue() && !continued_) {
    continued_ = true;  // the client waits for this before it sends the body
    try {
      response_.sendContinue();
    } catch (const std::exception&) {
      CloseAfterResponse();
      return Error::BadRequest("The connection broke before the body was sent.", "", "invalid_body");
    }
  }
  if (request_.getChunkedTransferEncoding()) return ReadChunked(limit);
  std::string body;
  if (request_.hasContentLength()) body.reserve(static_cast<size_t>(request_.getContentLength64()));
  try {
    std::istream& in = request_.stream();
    char buf[16384];
    while (in) {
      in.read(buf, sizeof buf);
      std::streamsize n = in.gcount();
      if (n <= 0) break;
      if (body.size() + static_cast<size_t>(n) > limit) return too_large();
      body.append(buf, static_cast<size_t>(n));
    }
    if (in.bad()) throw Poco::IOException("read failed");
  } catch (const Poco::TimeoutException&) {
    CloseAfterResponse();
    Error e = Error::BadRequest("Timed out reading the request body.", "", "request_timeout");
    e.status = 408;
    return e;
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

Result<std::string> PocoClientExchange::ReadChunked(size_t limit) {
  // The raw bytes after the head, decoded here instead of by Poco's chunked stream. Its buffer
  // may read past the body (a pipelined request), so the connection is not reused afterwards.
  CloseAfterResponse();
  ChunkedDecoder decoder(limit);
  std::string body;
  try {
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
    }
  } catch (const Poco::TimeoutException&) {
    Error e = Error::BadRequest("Timed out reading the request body.", "", "request_timeout");
    e.status = 408;
    return e;
  } catch (const std::exception&) {
    return Error::BadRequest("The request body could not be read (cut short).", "", "invalid_body");
  }
  if (decoder.too_large())
    return Error::PayloadTooLarge("The request body is larger than the limit of " + std::to_string(limit) + " bytes.");
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
