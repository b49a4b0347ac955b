// Users, selectors and rules: parsing ACL SETUSER's language, checking commands, and printing
// rules back the way Redis 7.0 does (ACL LIST, ACL GETUSER).
#include "broker/acl/acl.h"

#include <algorithm>
#include <cctype>
#include <climits>

#include "broker/acl/sha256.h"
#include "broker/core/glob.h"

namespace sluice::acl {
namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Redis's ACLSetUserStringError texts.
constexpr const char* kUnknownCommand = "Unknown command or category name in ACL";
constexpr const char* kSyntax = "Syntax error";
constexpr const char* kKeysAfterAll =
    "Adding a pattern after the * pattern (or the 'allkeys' flag) is not valid and does not have "
    "any effect. Try 'resetkeys' to start with an empty list of patterns";
constexpr const char* kChannelsAfterAll =
    "Adding a pattern after the * pattern (or the 'allchannels' flag) is not valid and does not "
    "have any effect. Try 'resetchannels' to start with an empty list of channels";
constexpr const char* kNoSuchPassword =
    "The password you are trying to remove from the user does not exist";
constexpr const char* kBadHash =
    "The password hash must be exactly 64 characters and contain only lowercase hexadecimal "
    "characters";
constexpr const char* kSubcommandFirstArg = "Allowing first-arg of a subcommand is not supported";

bool valid_hash(std::string_view h) {
  if (h.size() != 64) return false;
  for (char c : h) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

// Compares in time independent of where the strings differ (both are 64-char hashes).
bool same_hash(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  unsigned diff = 0;
  for (size_t i = 0; i < a.size(); ++i) diff |= static_cast<unsigned>(a[i] ^ b[i]);
  return diff == 0;
}

}  // namespace

uint32_t category_bit(std::string_view name) {
  for (size_t i = 0; i < kCategoryCount; ++i) {
    if (iequal(name, kCategoryNames[i])) return 1u << i;
  }
  return 0;
}

uint32_t category_bits(std::string_view spaced_names) {
  uint32_t bits = 0;
  size_t i = 0;
  while (i < spaced_names.size()) {
    size_t end = spaced_names.find(' ', i);
    if (end == std::string_view::npos) end = spaced_names.size();
    std::string_view word = spaced_names.substr(i, end - i);
    if (!word.empty() && word[0] == '@') bits |= category_bit(word.substr(1));
    i = end + 1;
  }
  return bits;
}

// ---- Catalog ----

int Catalog::add(std::string name, uint32_t categories, int parent, bool no_auth) {
  int id = static_cast<int>(commands_.size());
  by_name_[name] = id;
  commands_.push_back(Command{std::move(name), categories, parent, {}, no_auth});
  if (parent >= 0) commands_[static_cast<size_t>(parent)].subs.push_back(id);
  return id;
}

int Catalog::find(std::string_view name) const {
  auto it = by_name_.find(lower(name));
  return it == by_name_.end() ? -1 : it->second;
}

// ---- Selector ----

Selector::Selector(const Catalog* catalog, bool root)
    : catalog_(catalog), root_(root), allowed_((catalog->size() + 1 + 63) / 64, 0) {}

bool Selector::bit(int id) const {
  auto i = static_cast<size_t>(id);
  return (allowed_[i / 64] >> (i % 64)) & 1;
}

void Selector::set_bit(int id, bool on) {
  auto i = static_cast<size_t>(id);
  if (on) {
    allowed_[i / 64] |= uint64_t{1} << (i % 64);
  } else {
    allowed_[i / 64] &= ~(uint64_t{1} << (i % 64));
    all_commands_ = false;
  }
}

void Selector::change_command(int id, bool allow) {
  set_bit(id, allow);
  first_args_.erase(id);
  for (int sub : catalog_->at(id).subs) set_bit(sub, allow);
}

void Selector::change_category(uint32_t bit, bool allow) {
  for (size_t id = 0; id < catalog_->size(); ++id) {
    const auto& c = catalog_->at(static_cast<int>(id));
    if (c.categories & bit) change_command(static_cast<int>(id), allow);
  }
}

bool Selector::allows_command(int id) const { return bit(id); }

bool Selector::everything() const { return all_commands_ && all_keys_ && all_channels_; }

std::string Selector::apply(std::string_view op) {
  if (iequal(op, "allkeys") || op == "~*") {
    all_keys_ = true;
    keys_.clear();
  } else if (iequal(op, "resetkeys")) {
    all_keys_ = false;
    keys_.clear();
  } else if (iequal(op, "allchannels") || op == "&*") {
    all_channels_ = true;
    channels_.clear();
  } else if (iequal(op, "resetchannels")) {
    all_channels_ = false;
    channels_.clear();
  } else if (iequal(op, "allcommands") || iequal(op, "+@all")) {
    std::fill(allowed_.begin(), allowed_.end(), ~uint64_t{0});
    all_commands_ = true;
    first_args_.clear();
  } else if (iequal(op, "nocommands") || iequal(op, "-@all")) {
    std::fill(allowed_.begin(), allowed_.end(), 0);
    all_commands_ = false;
    first_args_.clear();
  } else if (!op.empty() && (op[0] == '~' || op[0] == '%')) {
    if (all_keys_) return kKeysAfterAll;
    uint8_t access = 0;
    size_t offset = 1;
    if (op[0] == '%') {
      bool tilde = false;
      for (; offset < op.size(); ++offset) {
        char c = static_cast<char>(std::toupper(static_cast<unsigned char>(op[offset])));
        if (c == 'R' && !(access & kKeyRead)) {
          access |= kKeyRead;
        } else if (c == 'W' && !(access & kKeyWrite)) {
          access |= kKeyWrite;
        } else if (op[offset] == '~') {
          ++offset;
          tilde = true;
          break;
        } else {
          return kSyntax;
        }
      }
      if (!tilde || access == 0) return kSyntax;
    } else {
      access = kKeyReadWrite;
    }
    // As Redis 7.0: only "~*" means allkeys ("%RW~*" is a pattern), and a pattern given again
    // gains the new access ("%R~a %W~a" is "~a").
    std::string_view pattern = op.substr(offset);
    bool found = false;
    for (auto& k : keys_) {
      if (k.pattern == pattern) {
        k.access |= access;
        found = true;
      }
    }
    if (!found) keys_.push_back(KeyPattern{std::string(pattern), access});
  } else if (!op.empty() && op[0] == '&') {
    if (all_channels_) return kChannelsAfterAll;
    std::string_view pattern = op.substr(1);
    if (pattern == "*") {
      all_channels_ = true;
      channels_.clear();
    } else if (std::find(channels_.begin(), channels_.end(), pattern) == channels_.end()) {
      channels_.emplace_back(pattern);
    }
  } else if (op.size() >= 2 && (op[0] == '+' || op[0] == '-') && op[1] == '@') {
    uint32_t bit = category_bit(op.substr(2));
    if (bit == 0) return kUnknownCommand;
    change_category(bit, op[0] == '+');
  } else if (op.size() >= 2 && (op[0] == '+' || op[0] == '-')) {
    const bool allow = op[0] == '+';
    std::string_view name = op.substr(1);
    size_t bar = name.rfind('|');
    if (bar == std::string_view::npos) {
      int id = catalog_->find(name);
      if (id < 0) return kUnknownCommand;
      change_command(id, allow);
    } else {
      int parent = catalog_->find(name.substr(0, bar));
      if (parent < 0) return kUnknownCommand;
      if (catalog_->at(parent).parent >= 0) return kSubcommandFirstArg;
      std::string_view sub = name.substr(bar + 1);
      if (sub.empty()) return kSyntax;
      if (!catalog_->at(parent).subs.empty() || !allow) {
        int id = catalog_->find(name);
        if (id < 0) return kUnknownCommand;
        change_command(id, allow);
      } else {
        auto& args = first_args_[parent];
        std::string arg = lower(sub);
        if (std::find(args.begin(), args.end(), arg) == args.end()) args.push_back(arg);
      }
    }
  } else {
    return kSyntax;
  }
  return {};
}

Verdict Selector::check(const Request& r, size_t* bad_pos) const {
  const auto& cmd = catalog_->at(r.command_id);
  if (!all_commands_ && !cmd.no_auth && !bit(r.command_id)) {
    // +select|0: the command may be allowed with this first argument only.
    auto it = first_args_.find(r.command_id);
    size_t idx = cmd.parent >= 0 ? 2 : 1;
    if (it == first_args_.end() || r.argv.size() <= idx) return Verdict::kCommand;
    bool match = false;
    for (const auto& a : it->second) match = match || iequal(a, r.argv[idx]);
    if (!match) return Verdict::kCommand;
  }
  if (!all_keys_) {
    for (const KeyRef& k : r.keys) {
      bool ok = false;
      for (const auto& p : keys_) {
        if ((p.access & k.access) != k.access) continue;
        if (core::glob_match(p.pattern, r.argv[k.pos])) {
          ok = true;
          break;
        }
      }
      if (!ok) {
        *bad_pos = k.pos;
        return Verdict::kKey;
      }
    }
  }
  if (!all_channels_) {
    for (const ChannelRef& c : r.channels) {
      if (!channel_allowed(r.argv[c.pos], c.pattern)) {
        *bad_pos = c.pos;
        return Verdict::kChannel;
      }
    }
  }
  return Verdict::kOk;
}

bool Selector::channel_allowed(std::string_view channel, bool pattern) const {
  if (all_channels_) return true;
  for (const auto& p : channels_) {
    if (pattern ? p == channel : core::glob_match(p, channel)) return true;
  }
  return false;
}

std::string Selector::describe_keys() const {
  if (all_keys_) return "~*";
  std::string out;
  for (const auto& k : keys_) {
    if (!out.empty()) out += ' ';
    if (k.access == kKeyRead) {
      out += "%R";
    } else if (k.access == kKeyWrite) {
      out += "%W";
    }
    out += '~';
    out += k.pattern;
  }
  return out;
}

std::string Selector::describe_channels() const {
  if (all_channels_) return "&*";
  std::string out;
  for (const auto& c : channels_) {
    if (!out.empty()) out += ' ';
    out += '&';
    out += c;
  }
  return out;
}

// Redis 7.0's approximation: start from +@all or -@all, apply the categories that fit best
// while they fit better than not, then the single commands still different, in table order.
std::string Selector::describe_commands() const {
  const int future = static_cast<int>(catalog_->size());
  const bool additive = !bit(future);
  Selector fake(catalog_, false);
  Selector temp(catalog_, false);
  temp.allowed_ = allowed_;
  std::string rules;
  if (additive) {
    rules = "-@all ";
  } else {
    rules = "+@all ";
    fake.apply("+@all");
  }
  bool applied[kCategoryCount] = {};
  for (;;) {
    int best = -1;
    uint64_t mindiff = INT_MAX, maxsame = 0;
    for (size_t j = 0; j < kCategoryCount; ++j) {
      if (applied[j]) continue;
      uint64_t on = 0, off = 0;
      for (size_t id = 0; id < catalog_->size(); ++id) {
        if (!(catalog_->at(static_cast<int>(id)).categories & (1u << j))) continue;
        if (temp.bit(static_cast<int>(id))) {
          ++on;
        } else {
          ++off;
        }
      }
      uint64_t diff = additive ? off : on;
      uint64_t same = additive ? on : off;
      if (same > diff && (diff < mindiff || (diff == mindiff && same > maxsame))) {
        best = static_cast<int>(j);
        mindiff = diff;
        maxsame = same;
      }
    }
    if (best < 0) break;
    const uint32_t cat = 1u << best;
    fake.change_category(cat, additive);
    temp.change_category(cat, !additive);
    rules += additive ? "+@" : "-@";
    rules += kCategoryNames[best];
    rules += ' ';
    applied[best] = true;
  }
  auto single = [&](int id) {
    bool user_bit = bit(id);
    if (user_bit != fake.bit(id)) {
      rules += user_bit ? '+' : '-';
      rules += catalog_->at(id).name;
      rules += ' ';
      fake.change_command(id, user_bit);
    }
  };
  for (size_t i = 0; i < catalog_->size(); ++i) {
    const int id = static_cast<int>(i);
    if (catalog_->at(id).parent >= 0) continue;
    single(id);
    for (int sub : catalog_->at(id).subs) single(sub);
    auto it = first_args_.find(id);
    if (!bit(id) && it != first_args_.end()) {
      for (const auto& a : it->second) {
        rules += '+';
        rules += catalog_->at(id).name;
        rules += '|';
        rules += a;
        rules += ' ';
      }
    }
  }
  rules.pop_back();
  return rules;
}

std::string Selector::describe() const {
  std::string out = describe_keys();
  if (!out.empty()) out += ' ';
  if (all_channels_) {
    out += "&* ";
  } else {
    out += "resetchannels ";
    std::string ch = describe_channels();
    if (!ch.empty()) out += ch + ' ';
  }
  out += describe_commands();
  return out;
}

// ---- User ----

User::User(const Catalog* catalog, std::string name) : catalog_(catalog), name_(std::move(name)) {
  selectors_.emplace_back(catalog, true);
  refresh();
}

void User::refresh() {
  unrestricted_ = enabled_ && selectors_.size() == 1 && selectors_[0].everything();
}

bool User::password_ok(std::string_view password) const {
  if (!enabled_) return false;
  if (nopass_) return true;
  const std::string h = sha256_hex(password);
  bool ok = false;
  for (const auto& p : passwords_) ok = same_hash(p, h) || ok;
  return ok;
}

std::string User::apply_one(std::string_view op) {
  if (iequal(op, "on")) {
    enabled_ = true;
  } else if (iequal(op, "off")) {
    enabled_ = false;
  } else if (iequal(op, "skip-sanitize-payload")) {
    sanitize_payload_ = 2;
  } else if (iequal(op, "sanitize-payload")) {
    sanitize_payload_ = 1;
  } else if (iequal(op, "nopass")) {
    nopass_ = true;
    passwords_.clear();
  } else if (iequal(op, "resetpass")) {
    nopass_ = false;
    passwords_.clear();
  } else if (!op.empty() && (op[0] == '>' || op[0] == '#')) {
    std::string hash;
    if (op[0] == '>') {
      hash = sha256_hex(op.substr(1));
    } else {
      if (!valid_hash(op.substr(1))) return kBadHash;
      hash = std::string(op.substr(1));
    }
    if (std::find(passwords_.begin(), passwords_.end(), hash) == passwords_.end()) {
      passwords_.push_back(hash);
    }
    nopass_ = false;
  } else if (!op.empty() && (op[0] == '<' || op[0] == '!')) {
    std::string hash;
    if (op[0] == '<') {
      hash = sha256_hex(op.substr(1));
    } else {
      if (!valid_hash(op.substr(1))) return kBadHash;
      hash = std::string(op.substr(1));
    }
    auto it = std::find(passwords_.begin(), passwords_.end(), hash);
    if (it == passwords_.end()) return kNoSuchPassword;
    passwords_.erase(it);
  } else if (iequal(op, "clearselectors")) {
    selectors_.resize(1, Selector(catalog_, true));
  } else if (iequal(op, "reset")) {
    passwords_.clear();
    nopass_ = false;
    enabled_ = false;
    sanitize_payload_ = 1;
    selectors_.clear();
    selectors_.emplace_back(catalog_, true);
  } else if (op.size() >= 2 && op.front() == '(' && op.back() == ')') {
    Selector s(catalog_, false);
    std::string_view body = op.substr(1, op.size() - 2);
    size_t i = 0;
    while (i < body.size()) {
      while (i < body.size() && body[i] == ' ') ++i;
      size_t end = body.find(' ', i);
      if (end == std::string_view::npos) end = body.size();
      if (end > i) {
        std::string err = s.apply(body.substr(i, end - i));
        if (!err.empty()) return err;
      }
      i = end;
    }
    selectors_.push_back(std::move(s));
  } else if (!op.empty() && op.front() == '(') {
    return kSyntax;
  } else {
    return selectors_[0].apply(op);
  }
  return {};
}

std::string User::apply(std::span<const std::string_view> rules) {
  User copy = *this;
  std::string merged;
  for (size_t i = 0; i < rules.size(); ++i) {
    std::string_view op = rules[i];
    // A selector split over several arguments: "(~a*" "+get)".
    if (!op.empty() && op.front() == '(' && op.back() != ')') {
      merged = std::string(op);
      size_t j = i + 1;
      for (; j < rules.size(); ++j) {
        merged += ' ';
        merged += rules[j];
        if (!rules[j].empty() && rules[j].back() == ')') break;
      }
      if (j == rules.size()) {
        return "Unmatched parenthesis in acl selector starting at '" + std::string(op) + "'.";
      }
      i = j;
      op = merged;
    }
    std::string err = copy.apply_one(op);
    if (!err.empty()) return "Error in ACL SETUSER modifier '" + std::string(op) + "': " + err;
  }
  *this = std::move(copy);
  refresh();
  return {};
}

Verdict User::check(const Request& request, size_t* bad_pos) const {
  Verdict worst = Verdict::kOk;
  size_t worst_pos = 0;
  for (const auto& s : selectors_) {
    size_t pos = 0;
    Verdict v = s.check(request, &pos);
    if (v == Verdict::kOk) return v;
    if (v > worst || (v == worst && pos > worst_pos)) {
      worst = v;
      worst_pos = pos;
    }
  }
  *bad_pos = worst_pos;
  return worst;
}

bool User::all_keys_for(int command_id) const {
  for (const auto& s : selectors_) {
    if (s.all_keys() && (s.all_commands() || s.allows_command(command_id))) return true;
  }
  return false;
}

bool User::channel_allowed(std::string_view channel, bool pattern) const {
  for (const auto& s : selectors_) {
    if (s.channel_allowed(channel, pattern)) return true;
  }
  return false;
}

std::vector<std::string> User::flags() const {
  std::vector<std::string> out;
  out.emplace_back(enabled_ ? "on" : "off");
  if (nopass_) out.emplace_back("nopass");
  if (sanitize_payload_ == 2) out.emplace_back("skip-sanitize-payload");
  if (sanitize_payload_ == 1) out.emplace_back("sanitize-payload");
  return out;
}

std::string User::describe() const {
  std::string out;
  for (const auto& f : flags()) out += f + ' ';
  for (const auto& p : passwords_) out += '#' + p + ' ';
  out += selectors_[0].describe();
  for (size_t i = 1; i < selectors_.size(); ++i) out += " (" + selectors_[i].describe() + ')';
  return out;
}

// ---- Registry ----

Registry::Registry(const Catalog* catalog)
    : catalog_(catalog), revoked_(std::make_unique<User>(catalog, "")) {
  auto user = std::make_unique<User>(catalog, "default");
  const std::string_view rules[] = {"+@all", "~*", "&*", "on", "nopass"};
  user->apply(rules);
  default_ = user.get();
  users_["default"] = std::move(user);
}

User* Registry::find(std::string_view name) const {
  auto it = users_.find(name);
  return it == users_.end() ? nullptr : it->second.get();
}

std::string Registry::set_user(std::string_view name, std::span<const std::string_view> rules) {
  if (User* u = find(name)) return u->apply(rules);
  auto user = std::make_unique<User>(catalog_, std::string(name));
  std::string err = user->apply(rules);
  if (err.empty()) users_[std::string(name)] = std::move(user);
  return err;
}

bool Registry::del_user(std::string_view name) {
  if (name == "default") return false;
  auto it = users_.find(name);
  if (it == users_.end()) return false;
  users_.erase(it);
  return true;
}

std::vector<const User*> Registry::users() const {
  std::vector<const User*> out;
  for (const auto& [name, u] : users_) out.push_back(u.get());
  return out;
}

std::vector<std::string> Registry::list_lines() const {
  std::vector<std::string> out;
  for (const auto& [name, u] : users_) out.push_back("user " + name + " " + u->describe());
  return out;
}

User* Registry::authenticate(std::string_view name, std::string_view password) const {
  User* u = find(name);
  return u && u->password_ok(password) ? u : nullptr;
}

void Registry::set_default_password(std::string_view password) {
  std::string op = ">" + std::string(password);
  std::string_view with_pass[] = {"resetpass", op};
  std::string_view no_pass[] = {"nopass"};
  if (password.empty()) {
    default_->apply(no_pass);
  } else {
    default_->apply(with_pass);
  }
}

std::string Registry::load_lines(const std::vector<std::vector<std::string>>& lines,
                                 std::vector<std::unique_ptr<User>>* retired) {
  std::map<std::string, std::unique_ptr<User>, std::less<>> fresh;
  for (size_t n = 0; n < lines.size(); ++n) {
    const std::string where = "line " + std::to_string(n + 1) + ": ";
    const std::vector<std::string>& words = lines[n];
    if (words.empty()) continue;
    if (words[0] != "user" || words.size() < 2) return where + "should start with user keyword";
    const std::string& name = words[1];
    if (fresh.count(name)) return where + "Duplicate user '" + name + "' found";
    auto user = std::make_unique<User>(catalog_, name);
    std::vector<std::string_view> rules(words.begin() + 2, words.end());
    std::string err = user->apply(rules);
    if (!err.empty()) return where + err;
    fresh[name] = std::move(user);
  }
  auto def = fresh.find("default");
  if (def != fresh.end()) {
    *default_ = std::move(*def->second);
    fresh.erase(def);
  } else {
    *default_ = User(catalog_, "default");
    const std::string_view rules[] = {"+@all", "~*", "&*", "on", "nopass"};
    default_->apply(rules);
  }
  for (auto& [name, u] : users_) {
    if (u.get() != default_) retired->push_back(std::move(u));
  }
  auto keep = std::move(users_["default"]);
  users_ = std::move(fresh);
  users_["default"] = std::move(keep);
  return {};
}

void Registry::log(LogEntry entry, size_t max_len) {
  // As Redis: a repeat of a recent entry (same reason, context, object and user, within 60 s)
  // counts on that entry instead of adding one.
  for (auto& e : log_) {
    if (e.reason == entry.reason && e.context == entry.context && e.object == entry.object &&
        e.username == entry.username && entry.created_ms - e.updated_ms < 60000) {
      ++e.count;
      e.updated_ms = entry.created_ms;
      e.client_info = std::move(entry.client_info);
      return;
    }
  }
  entry.entry_id = next_entry_id_++;
  entry.updated_ms = entry.created_ms;
  log_.insert(log_.begin(), std::move(entry));
  while (log_.size() > max_len) log_.pop_back();
}

const char kProtectedModeDenied[] =
    "-DENIED Redis is running in protected mode because protected mode is enabled and no "
    "password is set for the default user. In this mode connections are only accepted from the "
    "loopback interface. If you want to connect from external computers to Redis you may adopt "
    "one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG "
    "SET protected-mode no' from the loopback interface by connecting to Redis from the same host "
    "the server is running, however MAKE SURE Redis is not publicly accessible from internet if "
    "you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just "
    "disable the protected mode by editing the Redis configuration file, and setting the "
    "protected mode option to 'no', and then restarting the server. 3) If you started the server "
    "manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an "
    "authentication password for the default user. NOTE: You only need to do one of the above "
    "things in order for the server to start accepting connections from the outside.\r\n";

bool protected_mode_refuses(bool protected_mode, const User& default_user,
                            std::string_view peer_ip) {
  if (!protected_mode || !default_user.nopass()) return false;
  if (peer_ip.rfind("::ffff:", 0) == 0) peer_ip.remove_prefix(7);  // IPv4-mapped
  const bool loopback = peer_ip.rfind("127.", 0) == 0 || peer_ip == "::1";
  return !loopback;
}

}  // namespace sluice::acl
