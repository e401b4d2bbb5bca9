#include "daemon/control_server.h"

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include <asio/read_until.hpp>
#include <asio/streambuf.hpp>
#include <asio/write.hpp>

#include "daemon/control.h"

namespace ikecluster::daemon {

using asio::local::stream_protocol;

struct ControlServer::Client : std::enable_shared_from_this<Client> {
    Client(stream_protocol::socket s, ControlServer& srv) : sock(std::move(s)), server(&srv) {}
    stream_protocol::socket sock;
    ControlServer* server;
    std::shared_ptr<bool> alive;
    asio::streambuf in{kMaxRequestLine + 1};
    std::string out;

    void read() {
        auto self = shared_from_this();
        asio::async_read_until(sock, in, '\n', [self](std::error_code ec, std::size_t n) {
            if (!*self->alive) return;
            if (ec) {
                // EOF, a reset, or a line longer than the buffer allows
                // (not_found): either way this client is done.
                if (ec != asio::error::eof && ec != asio::error::operation_aborted) {
                    self->server->log_.debug(Subsystem::CTL, "control client dropped: {}",
                                             ec.message());
                }
                return;
            }
            std::string line(asio::buffers_begin(self->in.data()),
                             asio::buffers_begin(self->in.data()) + static_cast<long>(n) - 1);
            self->in.consume(n);
            if (!line.empty() && line.back() == '\r') line.pop_back();
            if (line.empty()) return self->read();
            self->out = self->server->handler_(line) + "\n";
            asio::async_write(self->sock, asio::buffer(self->out),
                              [self](std::error_code wec, std::size_t) {
                                  if (!*self->alive || wec) return;
                                  self->read();
                              });
        });
    }
};

ControlServer::ControlServer(asio::io_context& io, Logger& log, Handler handler)
    : io_(io), log_(log), handler_(std::move(handler)), alive_(std::make_shared<bool>(true)) {}

ControlServer::~ControlServer() {
    close();
    *alive_ = false;
}

namespace {
// True when something accepts connections at `path`: then another daemon
// owns it and we must not steal its socket.
bool socket_is_live(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    bool live = ::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) == 0;
    ::close(fd);
    return live;
}
}  // namespace

Status ControlServer::open(const std::string& path) {
    if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path))
        return Error{0, "control socket path '" + path + "' is empty or too long"};
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return Error{0, "control socket path '" + path + "' exists and is not a socket"};
        if (socket_is_live(path))
            return Error{0, "control socket '" + path + "' is in use by another process"};
        ::unlink(path.c_str());
        log_.info(Subsystem::CTL, "removed stale control socket {}", path);
    }
    std::error_code ec;
    auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) std::filesystem::create_directories(dir, ec);

    acceptor_ = std::make_unique<stream_protocol::acceptor>(io_);
    acceptor_->open(stream_protocol(), ec);
    if (ec) return Error{0, "control socket: " + ec.message()};
    // The umask makes bind() create the file as 0660 from the start, so there
    // is no moment in which the socket is reachable with looser permissions.
    mode_t old = ::umask(0117);
    acceptor_->bind(stream_protocol::endpoint(path), ec);
    ::umask(old);
    if (ec) return Error{0, "control socket " + path + ": bind: " + ec.message()};
    acceptor_->listen(16, ec);
    if (ec) return Error{0, "control socket " + path + ": listen: " + ec.message()};
    path_ = path;
    accept();
    return Ok{};
}

void ControlServer::accept() {
    auto alive = alive_;
    acceptor_->async_accept([this, alive](std::error_code ec, stream_protocol::socket s) {
        if (!*alive || !acceptor_ || !acceptor_->is_open()) return;
        if (!ec) {
            auto c = std::make_shared<Client>(std::move(s), *this);
            c->alive = alive_;
            std::erase_if(clients_, [](const auto& w) { return w.expired(); });
            clients_.push_back(c);
            c->read();
        } else if (ec == asio::error::operation_aborted) {
            return;
        }
        accept();
    });
}

void ControlServer::close() {
    if (acceptor_) {
        std::error_code ec;
        acceptor_->close(ec);
        acceptor_.reset();
    }
    for (auto& w : clients_) {
        if (auto c = w.lock()) {
            std::error_code ec;
            c->sock.close(ec);
        }
    }
    clients_.clear();
    if (!path_.empty()) {
        ::unlink(path_.c_str());
        path_.clear();
    }
}

std::size_t ControlServer::clients() const {
    std::size_t n = 0;
    for (const auto& w : clients_)
        n += w.expired() ? 0 : 1;
    return n;
}

}  // namespace ikecluster::daemon
