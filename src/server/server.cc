#include "server/server.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/ThreadPool.h>

#include "server/poco_exchange.h"

namespace warden {
namespace {

Poco::Timespan Ms(int ms) { return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(ms) * 1000); }

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(Gateway* gateway) : gateway_(gateway) {}
  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    PocoClientExchange exchange(request, response);
    gateway_->Handle(exchange);  // never throws
  }

 private:
  Gateway* gateway_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(Gateway* gateway) : gateway_(gateway) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const Poco::Net::HTTPServerRequest&) override {
    return new Handler(gateway_);
  }

 private:
  Gateway* gateway_;
};

}  // namespace

struct Server::Impl {
  ServerConfig config;
  Gateway* gateway;
  std::unique_ptr<Poco::ThreadPool> pool;
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
  bool running = false;
};

Server::Server(const ServerConfig& config, Gateway* gateway) : impl_(std::make_unique<Impl>()) {
  impl_->config = config;
  impl_->gateway = gateway;
}

Server::~Server() { Stop(); }

Status Server::Start() {
  const ServerConfig& c = impl_->config;
  try {
    Poco::Net::SocketAddress address(c.host, c.port);
    Poco::Net::ServerSocket socket;
    socket.bind(address, /*reuseAddress=*/true);
    socket.listen(std::max(64, c.max_queued_connections));
    impl_->port = socket.address().port();

    auto* params = new Poco::Net::HTTPServerParams;
    params->setMaxThreads(c.worker_threads);
    params->setMaxQueued(c.max_queued_connections);
    params->setTimeout(Ms(c.read_timeout_ms));
    params->setKeepAlive(true);
    params->setKeepAliveTimeout(Ms(c.keep_alive_idle_ms));
    params->setMaxKeepAliveRequests(c.max_keep_alive_requests);
    params->setServerName("warden");

    impl_->pool = std::make_unique<Poco::ThreadPool>(2, c.worker_threads + 1, 60);
    impl_->http = std::make_unique<Poco::Net::HTTPServer>(new Factory(impl_->gateway), *impl_->pool,
                                                          socket, params);
    impl_->http->start();
    impl_->running = true;
    return Status::Ok();
  } catch (const Poco::Exception& e) {
    return Error::Internal("cannot listen on " + c.host + ":" + std::to_string(c.port) + ": " +
                               e.displayText(),
                           "listen_failed");
  }
}

uint16_t Server::port() const { return impl_->port; }

void Server::Stop() {
  if (!impl_->running) return;
  impl_->running = false;
  impl_->http->stop();        // no new connections
  impl_->pool->joinAll();     // requests in flight finish
  impl_->http.reset();
}

}  // namespace warden
