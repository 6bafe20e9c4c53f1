// Forward: sends the routed request to its deployment and relays the answer to the client.
//
// Contract: the model alias is replaced by the deployment's model name upstream and put back
// in every response body and stream event the client receives. Streams are relayed as they
// arrive: every piece read from the provider is parsed into events and written (and flushed)
// before the next read, so nothing is buffered to the end. Before the first byte has gone to
// the client, a failure is answered with an OpenAI-shaped error and the right status; after it,
// the stream ends with an explicit SSE error event — never with what looks like a clean end.
#pragma once

#include "config/config.h"
#include "gateway/client_exchange.h"
#include "gateway/request_context.h"
#include "providers/upstream.h"

namespace warden {

class Forwarder {
 public:
  // `http` serves network providers, `echo` the built-in echo kind. Both outlive the Forwarder.
  Forwarder(UpstreamClient* http, UpstreamClient* echo, size_t max_response_bytes);

  // Tries ctx.route in order: a retryable failure before the first byte reached the client
  // moves on to the next deployment; nothing outside ctx.route is ever tried. Returns the error
  // to send when nothing has been sent to the client yet (503 all_deployments_failed when more
  // than one deployment was tried); errors after the first byte are handled inside (error
  // event, ctx.outcome = kPartial).
  Status Forward(RequestContext& ctx, ClientExchange& client);

 private:
  Status TryDeployment(RequestContext& ctx, ClientExchange& client);
  Status RelayJson(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client);
  Status RelayStream(RequestContext& ctx, UpstreamExchange& up, ClientExchange& client);
  UpstreamClient* http_;
  UpstreamClient* echo_;
  size_t max_response_bytes_;
};

// Writes `error` to the client: an OpenAI-shaped JSON answer if nothing was sent yet, else an
// SSE event {"error":{…}} (the OpenAI SDKs raise it as an APIError).
void SendError(RequestContext& ctx, ClientExchange& client, const Error& error);

}  // namespace warden
