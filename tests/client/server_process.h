// ServerProcess: a real server as a child process on a free 127.0.0.1 port with its own
// directory, for tests that need to kill and restart it. SLUICE_SERVER names the sluice-server
// binary; SLUICE_TEST_REFERENCE=redis runs /usr/bin/redis-server instead (append-only, fsync
// always, so it keeps data across restarts as sluice does).
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sluice::client::testing {

class ServerProcess {
 public:
  ServerProcess() : port_(free_port()) {
    char tmpl[] = "/tmp/sluice-client-test-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) throw std::runtime_error("mkdtemp failed");
    root_ = tmpl;
    std::filesystem::create_directories(root_ + "/data");
    const char* ref = std::getenv("SLUICE_TEST_REFERENCE");
    redis_ = ref != nullptr && std::string(ref) == "redis";
    start();
  }
  ~ServerProcess() {
    kill9();
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  int port() const { return port_; }
  bool is_reference() const { return redis_; }

  void start() {
    std::vector<std::string> args;
    if (redis_) {
      args = {"/usr/bin/redis-server",
              "--port",
              std::to_string(port_),
              "--dir",
              root_ + "/data",
              "--bind",
              "127.0.0.1",
              "--save",
              "",
              "--appendonly",
              "yes",
              "--appendfsync",
              "always",
              "--daemonize",
              "no"};
    } else {
      const char* bin = std::getenv("SLUICE_SERVER");
      if (bin == nullptr) throw std::runtime_error("SLUICE_SERVER is not set");
      args = {bin, "--port", std::to_string(port_), "--dir", root_ + "/data"};
    }
    pid_ = fork();
    if (pid_ == 0) {
      int log = open((root_ + "/server.log").c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      dup2(log, 1);
      dup2(log, 2);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(argv[0], argv.data());
      _exit(127);
    }
    wait_ready();
  }

  // SIGTERM and wait: a clean shutdown.
  void stop() { signal_and_wait(SIGTERM); }
  // SIGKILL and wait: a crash.
  void kill9() { signal_and_wait(SIGKILL); }

 private:
  void signal_and_wait(int sig) {
    if (pid_ <= 0) return;
    ::kill(pid_, sig);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

  static int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    close(fd);
    return ntohs(addr.sin_port);
  }

  // Waits until the server answers PING (bounded, so a broken binary fails the test).
  void wait_ready() {
    for (int i = 0; i < 400; ++i) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("server exited at startup; see " + root_ + "/server.log");
      }
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(static_cast<uint16_t>(port_));
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) {
        const char ping[] = "*1\r\n$4\r\nPING\r\n";
        char buf[64];
        if (write(fd, ping, sizeof(ping) - 1) > 0 && read(fd, buf, sizeof(buf)) > 0 &&
            buf[0] == '+') {
          close(fd);
          return;
        }
      }
      close(fd);
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    throw std::runtime_error("server did not answer PING");
  }

  int port_;
  std::string root_;
  bool redis_ = false;
  pid_t pid_ = -1;
};

}  // namespace sluice::client::testing
