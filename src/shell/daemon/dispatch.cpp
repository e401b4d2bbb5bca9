#include "daemon/dispatch.h"

#include "daemon/describe.h"

namespace ikecluster::daemon {

void OutputDispatcher::dispatch(std::vector<ike::Output> outputs) {
    for (auto& o : outputs) {
        if (auto* d = std::get_if<ike::SendDatagram>(&o)) {
            ++stats_.datagrams;
            // A failed send is not fatal: the engine retransmits requests,
            // and a lost response is re-requested by the peer.
            if (auto st = net_.send(d->local, d->remote, d->data); !st) {
                ++stats_.send_errors;
                log_.warn(Subsystem::NET, "{}", st.error().what);
            }
        } else if (auto* in = std::get_if<ike::InstallChildSa>(&o)) {
            ++stats_.installs;
            dp_.install(*in);
        } else if (auto* rm = std::get_if<ike::RemoveChildSa>(&o)) {
            ++stats_.removals;
            dp_.remove(*rm);
        } else if (auto* adj = std::get_if<ike::AdjustChildCounters>(&o)) {
            dp_.adjust(*adj);
        } else if (auto* ev = std::get_if<ike::Event>(&o)) {
            ++stats_.events;
            if (auto line = event_line(*ev)) {
                log_.info(Subsystem::IKE, "{}", *line);
            } else {
                log_.log(Subsystem::IKE, Level::TRACE, "message IDs advanced");
            }
            if (observer_) observer_(*ev);
        }
    }
}

}  // namespace ikecluster::daemon
