// libnl-route-3 (traffic control over rtnetlink), for CLinuxNet's C only: Swift never imports it.
#include <netlink/netlink.h>
#include <netlink/route/tc.h>
