// The Unix control socket: accepts clients, reads newline-terminated
// requests, answers each with one line from the handler. Knows nothing of the
// commands (control.h and the daemon do), so it is tested with any handler.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <asio/io_context.hpp>
#include <asio/local/stream_protocol.hpp>

#include "base/result.h"
#include "daemon/log.h"

namespace ikecluster::daemon {

class ControlServer {
  public:
    // Returns the reply line without its newline.
    using Handler = std::function<std::string(std::string_view request_line)>;

    ControlServer(asio::io_context& io, Logger& log, Handler handler);
    ~ControlServer();
    ControlServer(const ControlServer&) = delete;
    ControlServer& operator=(const ControlServer&) = delete;

    // Creates the socket at `path` with mode 0660 (group members may control
    // the daemon, others may not). A stale socket left by a crashed daemon is
    // removed; a live one (another daemon answers) is an error, as is any
    // non-socket file at that path.
    Status open(const std::string& path);
    // Stops accepting, closes every client and removes the socket file.
    void close();
    std::size_t clients() const;

  private:
    struct Client;
    void accept();

    asio::io_context& io_;
    Logger& log_;
    Handler handler_;
    std::string path_;
    std::unique_ptr<asio::local::stream_protocol::acceptor> acceptor_;
    std::shared_ptr<bool> alive_;  // lets late completions see that we are gone
    std::vector<std::weak_ptr<Client>> clients_;
};

}  // namespace ikecluster::daemon
