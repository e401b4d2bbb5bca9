#include "golden/golden_file.h"

#include <fstream>
#include <sstream>

namespace ikecluster::golden {

Bytes GoldenExchange::secret(const std::string& name) const {
    auto it = secrets.find(name);
    return it == secrets.end() ? Bytes{} : it->second;
}

Result<GoldenExchange> read_golden(const std::string& path) {
    std::ifstream in(path);
    if (!in) return Error{0, path + ": cannot open"};
    GoldenExchange g;
    g.path = path;
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line[0] == '#') continue;
        auto eq = line.find(" = ");
        if (eq == std::string::npos) return Error{0, path + ":" + std::to_string(n) + ": no ' = '"};
        std::string key = line.substr(0, eq), value = line.substr(eq + 3);
        if (key == "suite") {
            g.suite = value;
        } else if (key == "esp") {
            g.esp = value;
        } else if (key == "psk") {
            g.psk = value;
        } else if (key == "id_i") {
            g.id_i = value;
        } else if (key == "id_r") {
            g.id_r = value;
        } else if (key == "msg") {
            std::istringstream ss(value);
            std::string dir, hex;
            GoldenMessage m;
            ss >> dir >> m.port >> hex;
            auto b = from_hex(hex);
            if (!b || (dir != "i>r" && dir != "r>i")) {
                return Error{0, path + ":" + std::to_string(n) + ": bad msg line"};
            }
            m.from_initiator = dir == "i>r";
            m.data = std::move(*b);
            g.messages.push_back(std::move(m));
        } else {
            auto b = from_hex(value);
            if (!b) return Error{0, path + ":" + std::to_string(n) + ": bad hex for " + key};
            g.secrets[key] = std::move(*b);
        }
    }
    if (g.suite.empty() || g.messages.size() < 4)
        return Error{0, path + ": incomplete golden file"};
    return g;
}

}  // namespace ikecluster::golden
