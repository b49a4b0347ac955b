// What SORT and SORT_RO need from the type of the key they sort (sort_command.cc), so that each
// sortable type plugs in with a few lines:
//
//   - a SortSource over the key's elements, returned by make_sort_source() for its ObjectType
//     (set_sort_source, list_sort_source, zset_sort_source, each beside its type's commands);
//   - SORT ... STORE writes its result as a list: store_sorted_list() (list_commands.cc).
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/object.h"

namespace sluice::commands {

class CommandContext;

class SortSource {
 public:
  virtual ~SortSource() = default;
  virtual size_t size() const = 0;
  // Whether the elements have an order of their own that SORT BY <constant> keeps (a list's
  // order, a sorted set's score order; reversed by DESC, and only the LIMIT range is read). A
  // set's iteration order is not one: SORT BY <constant> STORE sorts a set ALPHA instead.
  virtual bool ordered() const = 0;
  // Visits `count` elements from position `start` of that order, counted from the end when
  // `reverse`: fn(std::string_view). An unordered source visits every element in iteration
  // order and ignores the arguments.
  virtual void read(size_t start, size_t count, bool reverse,
                    const std::function<void(std::string_view)>& fn) const = 0;
};

// The source over `obj` (a set, list or sorted set), or nullptr when SORT answers WRONGTYPE for
// its type. A sorted set may change its encoding here (Redis converts it to a skiplist).
std::unique_ptr<SortSource> make_sort_source(core::Object& obj);
// Each type's source: set_commands.cc, list_commands.cc, zset_commands.cc.
std::unique_ptr<SortSource> set_sort_source(const core::Object& set);
std::unique_ptr<SortSource> list_sort_source(const core::Object& list);
// Redis converts a listpack sorted set to a skiplist when SORT reads it; so does this.
std::unique_ptr<SortSource> zset_sort_source(core::Object& zset);

// Stores `elements` (at least one) as a list at `key` of the client's database, replacing any
// value and TTL, and journals it.
void store_sorted_list(CommandContext& ctx, std::string_view key,
                       std::vector<std::string>&& elements);

}  // namespace sluice::commands
