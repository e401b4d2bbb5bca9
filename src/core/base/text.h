// Small text helpers for config-style lists.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace ikecluster {

struct ListItem {
    std::size_t offset;     // where the trimmed item starts in the input
    std::string_view text;  // without surrounding spaces; may be empty
};

// Splits "a, b,c" at `sep` and trims spaces around each item. An empty input
// yields one empty item, so callers report it like any other bad item.
std::vector<ListItem> split_list(std::string_view text, char sep);

}  // namespace ikecluster
