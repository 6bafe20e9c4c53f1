#include "providers/http_upstream.h"

#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/SSLException.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/Net/SecureStreamSocket.h>

#include <atomic>
#include <cctype>
#include <mutex>
#include <unordered_map>

#include "common/mutex.h"

namespace warden {
namespace {

std::once_flag g_ssl_once;

Poco::Timespan Ms(int ms) { return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms) * 1000); }

std::string PoolKey(const UpstreamRequest& r) {
  return r.scheme + "://" + r.host + ":" + std::to_string(r.port);
}

// Upstream errors reach clients: they say what failed, never where the provider is (host, port,
// URL — the attempt list names the deployment) and never the request.
Error ConnectError(const std::string& why) {
  return Error::BadGateway("could not connect to the provider (" + why + ")", "upstream_unreachable", true);
}

// A pooled connection and the receive timeout currently set on its socket, so the timeout is
// changed (one setsockopt) only when it differs.
struct Pooled {
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  int timeout_ms = 0;
  void SetTimeout(int ms) {
    if (timeout_ms == ms) return;
    session->socket().setReceiveTimeout(Ms(ms));
    timeout_ms = ms;
  }
};

}  // namespace

bool BypassesProxy(const std::string& host, const std::vector<std::string>& no_proxy) {
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  const std::string h = lower(host);
  for (std::string entry : no_proxy) {
    entry = lower(entry);
    if (entry == "*") return true;
    if (!entry.empty() && entry.front() == '.') entry.erase(0, 1);
    if (entry.empty()) continue;
    if (h == entry) return true;
    if (h.size() > entry.size() && h.compare(h.size() - entry.size(), entry.size(), entry) == 0 &&
        h[h.size() - entry.size() - 1] == '.')
      return true;
  }
  return false;
}

class HttpUpstream::Impl : public std::enable_shared_from_this<HttpUpstream::Impl> {
 public:
  explicit Impl(const HttpUpstreamOptions& o) : options_(o) {}

  Pooled Acquire(const UpstreamRequest& r, const std::string& key, bool* reused) {
    {
      MutexLock lock(mu_);
      auto it = idle_.find(key);
      if (it != idle_.end() && !it->second.empty()) {
        auto s = std::move(it->second.back());
        it->second.pop_back();
        *reused = true;
        return s;
      }
    }
    *reused = false;
    return Pooled{NewSession(r), options_.first_byte_timeout_ms};
  }

  std::unique_ptr<Poco::Net::HTTPClientSession> NewSession(const UpstreamRequest& r) {
    std::unique_ptr<Poco::Net::HTTPClientSession> s;
    if (r.scheme == "https") {
      s = std::make_unique<Poco::Net::HTTPSClientSession>(r.host, r.port, TlsContext());
      if (!options_.proxy_host.empty() && !BypassesProxy(r.host, options_.no_proxy))
        s->setProxy(options_.proxy_host, options_.proxy_port);  // CONNECT tunnel, TLS inside it
    } else {
      s = std::make_unique<Poco::Net::HTTPClientSession>(r.host, r.port);
    }
    s->setKeepAlive(true);
    s->setTimeout(Ms(options_.connect_timeout_ms), Ms(options_.first_byte_timeout_ms),
                  Ms(options_.first_byte_timeout_ms));
    // Poco reconnects by itself once a connection has been idle this long; providers commonly
    // close idle connections after 5 to 60 seconds.
    s->setKeepAliveTimeout(Poco::Timespan(4, 0));
    return s;
  }

  void Release(const std::string& key, Pooled s) {
    MutexLock lock(mu_);
    auto& list = idle_[key];
    if (static_cast<int>(list.size()) < options_.max_idle_per_host) list.push_back(std::move(s));
  }

  Poco::Net::Context::Ptr TlsContext() {
    std::call_once(g_ssl_once, [] { Poco::Net::initializeSSL(); });
    MutexLock lock(mu_);
    if (!tls_) {
      Poco::Net::Context::Params p;
      p.verificationMode = Poco::Net::Context::VERIFY_STRICT;
      p.loadDefaultCAs = options_.ca_file.empty();
      p.caLocation = options_.ca_file;
      p.cipherList = "HIGH:!aNULL:!eNULL:!MD5:!RC4:!3DES:!SHA1";
      tls_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, p);
      tls_->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
      tls_->enableExtendedCertificateVerification(true);  // host name must match
    }
    return tls_;
  }

  const HttpUpstreamOptions options_;
  std::atomic<uint64_t> opened_{0};
  std::atomic<uint64_t> requests_{0};

 private:
  Mutex mu_;
  std::unordered_map<std::string, std::vector<Pooled>> idle_ GUARDED_BY(mu_);
  Poco::Net::Context::Ptr tls_;
};

namespace {

class PocoExchange : public UpstreamExchange {
 public:
  PocoExchange(std::shared_ptr<HttpUpstream::Impl> owner, std::string key,
               Pooled session,
               std::unique_ptr<Poco::Net::HTTPResponse> response, std::istream* body,
               UpstreamHead head)
      : owner_(std::move(owner)),
        key_(std::move(key)),
        session_(std::move(session)),
        response_(std::move(response)),
        body_(body),
        head_(std::move(head)) {}

  ~PocoExchange() override { Release(); }

  void Release() override {
    if (released_) return;
    released_ = true;
    if (eof_ && !failed_ && response_->getKeepAlive()) owner_->Release(key_, std::move(session_));
  }

  const UpstreamHead& head() const override { return head_; }

  Result<std::string_view> ReadSome() override {
    if (eof_ || released_) return std::string_view();
    try {
      // peek() blocks until at least one byte (or the end) is there; readsome() then takes
      // whatever is buffered without waiting for more, so streams are relayed as they arrive.
      if (body_->peek() == std::char_traits<char>::eof()) {
        eof_ = true;
        return std::string_view();
      }
      std::streamsize n = body_->readsome(buf_, sizeof buf_);
      return std::string_view(buf_, static_cast<size_t>(n));
    } catch (const Poco::TimeoutException&) {
      failed_ = true;
      return Error::GatewayTimeout("the provider stopped sending (idle timeout)",
                                   "upstream_idle_timeout", false);
    } catch (const Poco::Exception& e) {
      failed_ = true;
      return Error::BadGateway(std::string("the provider's response broke off (") + e.name() + ")",
                               "upstream_broken_response", false);
    } catch (const std::exception&) {
      failed_ = true;
      return Error::BadGateway("the provider's response broke off", "upstream_broken_response",
                               false);
    }
  }

 private:
  std::shared_ptr<HttpUpstream::Impl> owner_;
  std::string key_;
  Pooled session_;
  std::unique_ptr<Poco::Net::HTTPResponse> response_;
  std::istream* body_;
  UpstreamHead head_;
  bool eof_ = false;
  bool failed_ = false;
  bool released_ = false;
  char buf_[16384];
};

}  // namespace

HttpUpstream::HttpUpstream(const HttpUpstreamOptions& options)
    : impl_(std::make_shared<Impl>(options)) {}
HttpUpstream::~HttpUpstream() = default;

HttpUpstream::Stats HttpUpstream::stats() const {
  return Stats{impl_->opened_.load(), impl_->requests_.load()};
}

Result<std::unique_ptr<UpstreamExchange>> HttpUpstream::Send(const UpstreamRequest& r) {
  const std::string key = PoolKey(r);
  impl_->requests_++;
  for (int attempt = 0;; ++attempt) {
    bool reused = false;
    Pooled pooled = impl_->Acquire(r, key, &reused);
    bool sent = false;
    try {
      // A fresh connection gets the first-byte timeout from the session when it connects (Poco
      // also reconnects by itself after the keep-alive timeout, with the same value).
      if (!pooled.session->connected()) {
        impl_->opened_++;
        pooled.timeout_ms = impl_->options_.first_byte_timeout_ms;
      } else {
        pooled.SetTimeout(impl_->options_.first_byte_timeout_ms);
      }
      Poco::Net::HTTPClientSession* session = pooled.session.get();
      Poco::Net::HTTPRequest req(r.method, r.path, Poco::Net::HTTPMessage::HTTP_1_1);
      req.setKeepAlive(true);
      req.setHost(r.host, r.port);
      for (const auto& h : r.headers) req.set(h.name, h.value);
      req.setContentLength(static_cast<std::streamsize>(r.body.size()));
      std::ostream& os = session->sendRequest(req);
      os.write(r.body.data(), static_cast<std::streamsize>(r.body.size()));
      sent = true;
      auto response = std::make_unique<Poco::Net::HTTPResponse>();
      std::istream& body = session->receiveResponse(*response);
      body.exceptions(std::ios::badbit);
      if (r.stream) pooled.SetTimeout(impl_->options_.idle_timeout_ms);
      UpstreamHead head;
      head.status = static_cast<int>(response->getStatus());
      for (const auto& [name, value] : *response) head.headers.push_back({name, value});
      return std::unique_ptr<UpstreamExchange>(new PocoExchange(
          impl_, key, std::move(pooled), std::move(response), &body, std::move(head)));
    } catch (const Poco::Net::NoMessageException&) {
      if (reused && attempt == 0) continue;  // stale keep-alive connection: once more, fresh
      return Error::BadGateway("the provider closed the connection without answering",
                               "upstream_no_response", true);
    } catch (const Poco::Net::ConnectionRefusedException&) {
      return ConnectError("connection refused");
    } catch (const Poco::TimeoutException&) {
      if (!sent)
        return Error::GatewayTimeout("timed out connecting to the provider",
                                     "upstream_connect_timeout", true);
      return Error::GatewayTimeout("the provider did not answer in time (first-byte timeout)",
                                   "upstream_timeout", true);
    } catch (const Poco::Net::CertificateValidationException&) {
      return ConnectError("the provider's TLS certificate could not be verified");
    } catch (const Poco::Net::SSLException&) {
      return ConnectError("TLS handshake failed");
    } catch (const Poco::Net::HostNotFoundException&) {
      return ConnectError("host not found");
    } catch (const Poco::Net::NetException& e) {
      if (reused && attempt == 0) continue;  // reset or broken pipe on a stale connection
      return ConnectError(e.name());
    } catch (const Poco::Exception& e) {
      return ConnectError(e.name());
    }
  }
}

}  // namespace warden
