#pragma once
// A decision in words, one line of key=value fields: what the daemon's
// per-packet debug log and `sipvsd replay` print for each packet.
#include <string>

#include "engine/engine.hpp"

namespace sipvs {

// "198.18.0.1:5061 -> 198.18.2.100:5060 INVITE call-id=a84b4c76e66710
//  template=new service=sip4 server=198.18.1.1:5060 mark=0x1", or for a packet
// that was not placed "... outcome=no_server service=sip4", and for a
// message a real server sent out "... outcome=learned template=new
// service=sip4 server=198.18.1.2:5060" (no mark: it leaves unmarked). Bytes
// of the packet that are not printable ASCII are shown as '.'.
std::string describe(const Decision& d);

}  // namespace sipvs
