#include "base/text.h"

namespace ikecluster {

std::vector<ListItem> split_list(std::string_view text, char sep) {
    std::vector<ListItem> out;
    std::size_t pos = 0;
    for (;;) {
        std::size_t end = text.find(sep, pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view one = text.substr(pos, end - pos);
        std::size_t off = pos;
        while (!one.empty() && one.front() == ' ') {
            one.remove_prefix(1);
            ++off;
        }
        while (!one.empty() && one.back() == ' ')
            one.remove_suffix(1);
        out.push_back(ListItem{off, one});
        if (end == text.size()) return out;
        pos = end + 1;
    }
}

}  // namespace ikecluster
