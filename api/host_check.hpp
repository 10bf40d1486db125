#pragma once
// DNS rebinding: a web page can make a browser on the director send requests
// to 127.0.0.1:8080 under a name the attacker controls; the Host header is
// then that name. A TCP listener answers only requests that name it: by the
// address the client connected to, or as the loopback.
#include <string_view>

#include <boost/asio/ip/address.hpp>

namespace sipvsd::api {

// Whether a Host header value ("127.0.0.1:8080", "[::1]", "localhost:8080")
// names `local`, the address the connection was accepted on, or a loopback
// address or name. An empty value is not allowed (HTTP/1.1 requires Host).
bool host_allowed(std::string_view host, const boost::asio::ip::address& local);

}  // namespace sipvsd::api
