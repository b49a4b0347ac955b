// Redis glob matching (stringmatchlen): '*', '?', '[abc]', '[^a-z]', '\' escapes, optional
// case folding. Linear backtracking over the last '*' only, so no pattern can make it explode.
#pragma once

#include <string_view>

namespace sluice::core {

bool glob_match(std::string_view pattern, std::string_view text, bool nocase = false);

}  // namespace sluice::core
