// sluice-server [config-file] [--name value ...]: load the configuration, set up logging, run.
#include <signal.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "broker/config/config.h"
#include "broker/server/server.h"
#include "broker/storage/open_files.h"

namespace {

void usage() {
  std::cerr << "Usage: sluice-server [/path/to/sluice.conf] [--option value ...]\n"
               "       sluice-server --version\n"
               "Examples:\n"
               "       sluice-server config/sluice.conf\n"
               "       sluice-server --port 7000 --dir /tmp/x --appendfsync always\n";
}

spdlog::level::level_enum log_level(const std::string& name) {
  if (name == "debug") return spdlog::level::debug;
  if (name == "verbose") return spdlog::level::info;
  if (name == "warning") return spdlog::level::warn;
  if (name == "nothing") return spdlog::level::off;
  return spdlog::level::info;  // notice
}

void raise_fd_limit(int64_t maxclients) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return;
  // Every client is an fd, and streams keep files open; ask for what the hard limit allows.
  rlim_t want = std::max<rlim_t>(static_cast<rlim_t>(maxclients) + 4096, 65536);
  if (lim.rlim_cur < want) {
    lim.rlim_cur = std::min(want, lim.rlim_max);
    setrlimit(RLIMIT_NOFILE, &lim);
    getrlimit(RLIMIT_NOFILE, &lim);
  }
  // Streams' files share what clients (and a reserve for listeners, syncs and replication) leave;
  // idle ones are closed beyond that (storage/open_files.h), so any number of streams fits.
  const auto clients = static_cast<rlim_t>(std::max<int64_t>(maxclients, 0)) + 128;
  const rlim_t storage = lim.rlim_cur > clients + 256 ? lim.rlim_cur - clients : lim.rlim_cur / 2;
  sluice::storage::set_open_files_limit(static_cast<size_t>(std::max<rlim_t>(storage, 64)));
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  std::vector<std::pair<std::string, std::string>> overrides;
  int i = 1;
  if (i < argc && std::string(argv[i]) == "--version") {
    std::cout << "Sluice server v=" << SLUICE_VERSION << " (Redis protocol 7.0.15 compatible)\n";
    return 0;
  }
  if (i < argc && (std::string(argv[i]) == "--help" || std::string(argv[i]) == "-h")) {
    usage();
    return 0;
  }
  if (i < argc && argv[i][0] != '-') config_path = argv[i++];
  while (i < argc) {
    std::string name = argv[i];
    if (name.rfind("--", 0) != 0 || name.size() <= 2) {
      std::cerr << "Invalid argument '" << name << "': options are given as --name value\n";
      usage();
      return 1;
    }
    name = name.substr(2);
    // Values run until the next --option (so `--save "900 1"` and `--bind a b` both work).
    std::string value;
    bool first = true;
    ++i;
    while (i < argc && std::string(argv[i]).rfind("--", 0) != 0) {
      if (!first) value += ' ';
      value += argv[i++];
      first = false;
    }
    overrides.emplace_back(name, value);
  }

  sluice::config::Config config;
  sluice::config::ConfigStore store(&config);
  try {
    store.load(config_path, overrides);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }

  try {
    std::shared_ptr<spdlog::logger> logger;
    if (config.logfile.empty()) {
      logger = spdlog::stderr_color_mt("sluice");
    } else {
      logger = spdlog::basic_logger_mt("sluice", config.logfile);
    }
    logger->set_level(log_level(config.loglevel));
    logger->flush_on(spdlog::level::warn);
    spdlog::set_default_logger(logger);
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "Can't open the log file: " << e.what() << "\n";
    return 1;
  }
  if (!config.pidfile.empty()) {
    std::ofstream pf(config.pidfile);
    pf << getpid() << "\n";
  }
  signal(SIGPIPE, SIG_IGN);
  raise_fd_limit(config.maxclients);
  spdlog::info("Sluice {} starting: port={} dir={} pid={} config={}", SLUICE_VERSION, config.port,
               config.dir, getpid(), config.config_file.empty() ? "(none)" : config.config_file);
  int rc;
  {
    sluice::server::Server server(&config);
    rc = server.run();
  }
  if (!config.pidfile.empty()) std::remove(config.pidfile.c_str());
  spdlog::shutdown();
  return rc;
}
