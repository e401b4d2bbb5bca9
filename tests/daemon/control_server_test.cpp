// The control socket on a temporary path: permissions, stale and live
// sockets, line framing, and clean removal.
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <asio/executor_work_guard.hpp>

#include "daemon/control_server.h"

namespace ikecluster::daemon {
namespace {

int connect_to(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    std::strncpy(sa.sun_path, path.c_str(), sizeof(sa.sun_path) - 1);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string read_line(int fd) {
    std::string out;
    char c;
    while (::read(fd, &c, 1) == 1 && c != '\n')
        out += c;
    return out;
}

class ControlServerTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("ikec-ctl-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        path_ = (dir_ / "sub" / "ctl.sock").string();
    }
    void TearDown() override { std::filesystem::remove_all(dir_); }
    // Runs the io_context on a thread while the test plays the client.
    void run() {
        thread_ = std::thread([this] { io_.run(); });
    }
    void stop() {
        io_.stop();
        if (thread_.joinable()) thread_.join();
    }

    std::filesystem::path dir_;
    std::string path_;
    asio::io_context io_;
    MemoryLogger log_;
    std::thread thread_;
};

TEST_F(ControlServerTest, AnswersEachLineAndCreatesSocketWith0660) {
    ControlServer srv(io_, log_, [](std::string_view line) {
        return "{\"echo\":\"" + std::string(line) + "\"}";
    });
    ASSERT_TRUE(srv.open(path_).ok());
    struct stat st {};
    ASSERT_EQ(::lstat(path_.c_str(), &st), 0);
    EXPECT_TRUE(S_ISSOCK(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0660u);
    auto guard = asio::make_work_guard(io_);
    run();

    int fd = connect_to(path_);
    ASSERT_GE(fd, 0);
    // Two requests in one write, then one split across writes, and a CRLF.
    std::string two = "a\nb\n";
    ASSERT_EQ(::write(fd, two.data(), two.size()), static_cast<ssize_t>(two.size()));
    EXPECT_EQ(read_line(fd), "{\"echo\":\"a\"}");
    EXPECT_EQ(read_line(fd), "{\"echo\":\"b\"}");
    ASSERT_EQ(::write(fd, "hel", 3), 3);
    ASSERT_EQ(::write(fd, "lo\r\n", 4), 4);
    EXPECT_EQ(read_line(fd), "{\"echo\":\"hello\"}");
    ::close(fd);
    guard.reset();
    stop();
    srv.close();
    EXPECT_FALSE(std::filesystem::exists(path_));
}

TEST_F(ControlServerTest, StaleSocketIsReplacedLiveOneAndFilesAreNot) {
    std::filesystem::create_directories(std::filesystem::path(path_).parent_path());
    // A socket file nobody listens on, as a crashed daemon leaves behind.
    {
        int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
        sockaddr_un sa{};
        sa.sun_family = AF_UNIX;
        std::strncpy(sa.sun_path, path_.c_str(), sizeof(sa.sun_path) - 1);
        ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
        ::close(fd);
    }
    ControlServer first(io_, log_, [](std::string_view) { return "{}"; });
    auto st = first.open(path_);
    ASSERT_TRUE(st.ok()) << st.error().what;

    // A second daemon must not take over a socket that answers.
    ControlServer second(io_, log_, [](std::string_view) { return "{}"; });
    auto live = second.open(path_);
    ASSERT_FALSE(live.ok());
    EXPECT_NE(live.error().what.find("in use"), std::string::npos) << live.error().what;
    first.close();

    std::ofstream(path_) << "not a socket";
    auto file = second.open(path_);
    ASSERT_FALSE(file.ok());
    EXPECT_NE(file.error().what.find("not a socket"), std::string::npos);
    EXPECT_TRUE(std::filesystem::is_regular_file(path_));
}

TEST_F(ControlServerTest, OverlongLineDropsOnlyThatClient) {
    int calls = 0;
    ControlServer srv(io_, log_, [&](std::string_view) {
        ++calls;
        return "{\"ok\":true}";
    });
    ASSERT_TRUE(srv.open(path_).ok());
    auto guard = asio::make_work_guard(io_);
    run();
    // The server may close while we still write; that must fail the write,
    // not kill the test.
    ::signal(SIGPIPE, SIG_IGN);
    int bad = connect_to(path_);
    std::string junk(80 * 1024, 'x');
    // The server stops reading and closes; the write may fail part-way.
    (void)!::write(bad, junk.data(), junk.size());
    EXPECT_EQ(read_line(bad), "");
    ::close(bad);

    int good = connect_to(path_);
    ASSERT_EQ(::write(good, "q\n", 2), 2);
    EXPECT_EQ(read_line(good), "{\"ok\":true}");
    ::close(good);
    guard.reset();
    stop();
    EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace ikecluster::daemon
