// Gateway: the pipeline behind every client request, independent of the HTTP library.
//
// Contract: Handle() runs one request to the end — Authenticate → Parse → Route → Forward →
// Finalize — and always answers: every failure becomes an OpenAI-shaped error with the right
// status, and Finalize (one JSON access-log line) always runs, even after an exception. It never
// throws. The Config is immutable and shared; the KeyStore, Store and upstream clients are
// borrowed and must outlive the Gateway. Thread-safe: many server threads call Handle() at once.
#pragma once

#include <memory>

#include "config/config.h"
#include "gateway/client_exchange.h"
#include "gateway/forward.h"
#include "gateway/request_context.h"
#include "keys/key_store.h"
#include "providers/upstream.h"
#include "store/store.h"

namespace warden {

class Gateway {
 public:
  Gateway(std::shared_ptr<const Config> config, const KeyStore* keys, const Store* store,
          UpstreamClient* http, UpstreamClient* echo);

  void Handle(ClientExchange& client) noexcept;

 private:
  Status Dispatch(RequestContext& ctx, ClientExchange& client);
  Status Authenticate(RequestContext& ctx, ClientExchange& client);
  Status HandleInference(RequestContext& ctx, ClientExchange& client);
  Status HandleModels(RequestContext& ctx, ClientExchange& client, std::string_view id);
  void Finalize(const RequestContext& ctx, ClientExchange& client);

  std::shared_ptr<const Config> config_;
  const KeyStore* keys_;
  const Store* store_;
  Forwarder forwarder_;
};

}  // namespace warden
