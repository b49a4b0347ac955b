// Command-line flags shared by the examples: "--name value" pairs with defaults, and --help
// printing every flag with its default. Header-only, so each example stays one file.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

namespace sluice::examples {

class Args {
 public:
  Args(int argc, char** argv, std::string summary) : summary_(std::move(summary)) {
    program_ = argc > 0 ? argv[0] : "example";
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a == "--help" || a == "-h") {
        help_ = true;
      } else if (a.rfind("--", 0) == 0 && i + 1 < argc) {
        given_[a.substr(2)] = argv[++i];
      } else {
        std::fprintf(stderr, "unexpected argument '%s' (try --help)\n", a.c_str());
        std::exit(2);
      }
    }
  }

  std::string str(const std::string& name, const std::string& fallback, const std::string& help) {
    flags_.push_back({name, fallback, help});
    auto it = given_.find(name);
    return it == given_.end() ? fallback : it->second;
  }
  long long num(const std::string& name, long long fallback, const std::string& help) {
    return std::strtoll(str(name, std::to_string(fallback), help).c_str(), nullptr, 10);
  }

  // Call after every flag is declared: prints help and exits, or rejects unknown flags.
  void finish() {
    if (help_) {
      std::printf("%s\n\nusage: %s [--flag value]...\n\n", summary_.c_str(), program_.c_str());
      for (const auto& f : flags_) {
        std::printf("  --%-20s %s (default: %s)\n", f.name.c_str(), f.help.c_str(),
                    f.fallback.empty() ? "\"\"" : f.fallback.c_str());
      }
      std::exit(0);
    }
    for (const auto& [name, value] : given_) {
      bool known = false;
      for (const auto& f : flags_) known |= f.name == name;
      if (!known) {
        std::fprintf(stderr, "unknown flag --%s (try --help)\n", name.c_str());
        std::exit(2);
      }
    }
  }

 private:
  struct Flag {
    std::string name, fallback, help;
  };
  std::string summary_;
  std::string program_;
  bool help_ = false;
  std::map<std::string, std::string> given_;
  std::vector<Flag> flags_;
};

}  // namespace sluice::examples
