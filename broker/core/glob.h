// Redis glob matching (stringmatchlen): '*', '?', '[abc]', '[^a-z]', '\' escapes, optional
// case folding, with Redis 7.0's results including its quirks (an empty text matches only an
// empty pattern; see glob.cc). Backtracks over the last '*' only: O(pattern * text) at worst.
#pragma once

#include <string_view>

namespace sluice::core {

bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace sluice::core
