// What SORT and SORT_RO need from the type of the key they sort (sort_command.cc), so that each
// sortable type plugs in with a few lines:
//
//   - a SortSource over the key's elements, returned by make_sort_source() for its ObjectType
//     (sets: set_sort_source(); lists and sorted sets add their case there);
//   - SORT ... STORE writes its result as a list: the list type registers how with
//     set_sort_list_store().
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
// The set type's source (set_commands.cc).
std::unique_ptr<SortSource> set_sort_source(const core::Object& set);

// Stores `elements` as a list at `key` of the client's database, replacing any value and TTL,
// and journals it. Called only with at least one element.
using SortListStore = void (*)(CommandContext& ctx, std::string_view key,
                               std::vector<std::string>&& elements);
// Installs `store` and returns the one it replaces. Until a list type installs one, SORT ...
// STORE of a non-empty result replies an error and stores nothing.
SortListStore set_sort_list_store(SortListStore store);

}  // namespace sluice::commands
