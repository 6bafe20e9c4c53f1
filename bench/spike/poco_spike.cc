// Spike (docs/decisions/0001-event-loops.md): the benchmark request's HTTP/1.1 exchange on
// Poco's reactor — ParallelSocketReactor/ParallelSocketAcceptor (a SocketReactor per thread),
// a handler object per connection driven by ReadableNotification, keep-alive, a canned JSON
// answer. Usage: poco_spike PORT THREADS.
#include <Poco/Net/ParallelSocketAcceptor.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketNotification.h>
#include <Poco/Net/SocketReactor.h>
#include <Poco/Net/StreamSocket.h>
#include <Poco/NObserver.h>

#include <iostream>
#include <string>

namespace {

const std::string kBody = R"({"id":"x","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}]})";
const std::string kAnswer = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: " +
                            std::to_string(kBody.size()) + "\r\n\r\n" + kBody;

class Handler {
 public:
  Handler(Poco::Net::StreamSocket& socket, Poco::Net::SocketReactor& reactor) : socket_(socket), reactor_(reactor) {
    socket_.setNoDelay(true);
    reactor_.addEventHandler(socket_, Poco::NObserver<Handler, Poco::Net::ReadableNotification>(*this, &Handler::OnReadable));
  }
  ~Handler() {
    reactor_.removeEventHandler(socket_, Poco::NObserver<Handler, Poco::Net::ReadableNotification>(*this, &Handler::OnReadable));
  }
  void OnReadable(const Poco::AutoPtr<Poco::Net::ReadableNotification>&) {
    char buf[16384];
    int n = 0;
    try {
      n = socket_.receiveBytes(buf, sizeof buf);
    } catch (...) {
    }
    if (n <= 0) {
      delete this;
      return;
    }
    in_.append(buf, static_cast<size_t>(n));
    for (size_t end; (end = in_.find("\r\n\r\n")) != std::string::npos;) {
      in_.erase(0, end + 4);
      socket_.sendBytes(kAnswer.data(), static_cast<int>(kAnswer.size()));  // small: fits the socket buffer
    }
  }

 private:
  Poco::Net::StreamSocket socket_;
  Poco::Net::SocketReactor& reactor_;
  std::string in_;
};

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::cerr << "usage: poco_spike PORT THREADS\n";
    return 2;
  }
  Poco::Net::ServerSocket server(Poco::Net::SocketAddress("127.0.0.1", static_cast<Poco::UInt16>(std::atoi(argv[1]))));
  Poco::Net::SocketReactor reactor;
  Poco::Net::ParallelSocketAcceptor<Handler, Poco::Net::SocketReactor> acceptor(server, reactor, static_cast<unsigned>(std::max(1, std::atoi(argv[2]))));
  reactor.run();
}
