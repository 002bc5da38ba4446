# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The address policy of the audit: which addresses DNS may steer it to.

No Ansible imports. A policy host, MX host or NS host that resolves to loopback, link-local, private
(RFC 1918, RFC 4193), unspecified, multicast or another special-purpose address (RFC 6890 and the IANA
special-purpose registries) is not contacted: senders on the internet cannot use such a host either,
and an audit run next to internal services (AWX) must not become a way to reach them (request
forgery) or to map their ports. ``allow_private_addresses`` lifts the policy for labs and
split-horizon set-ups.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ipaddress

from .findings import finding

# Named ranges, most specific first; anything else that is not global is "special-purpose".
_NAMED = [(ipaddress.ip_network(network), words) for network, words in (
    ('0.0.0.0/8', 'unspecified ("this network", RFC 1122)'),
    ('127.0.0.0/8', 'loopback (RFC 1122)'),
    ('169.254.0.0/16', 'link-local (RFC 3927)'),
    ('10.0.0.0/8', 'private (RFC 1918)'),
    ('172.16.0.0/12', 'private (RFC 1918)'),
    ('192.168.0.0/16', 'private (RFC 1918)'),
    ('100.64.0.0/10', 'shared address space (RFC 6598)'),
    ('224.0.0.0/4', 'multicast (RFC 5771)'),
    ('255.255.255.255/32', 'limited broadcast (RFC 919)'),
    ('240.0.0.0/4', 'reserved (RFC 1112)'),
    ('::/128', 'unspecified (RFC 4291)'),
    ('::1/128', 'loopback (RFC 4291)'),
    ('fe80::/10', 'link-local (RFC 4291)'),
    ('fec0::/10', 'site-local (RFC 3879)'),
    ('fc00::/7', 'unique local (RFC 4193)'),
    ('ff00::/8', 'multicast (RFC 4291)'),
)]
# IPv6 forms that carry an IPv4 address a gateway or the kernel would reach (RFC 4291 2.5.5, RFC 3056, RFC 6052)
_NAT64 = ipaddress.ip_network('64:ff9b::/96')
_SIXTOFOUR = ipaddress.ip_network('2002::/16')


def special_purpose(address):
    """Why ``address`` is not a public unicast address, in words (None when it is one).

    Raises ValueError for text that is not an IP address.
    """
    ip = ipaddress.ip_address(address)
    embedded = _embedded_ipv4(ip)
    if embedded is not None:
        reason = special_purpose(embedded)
        return None if reason is None else '%s, as IPv4 address %s inside it' % (reason, embedded)
    for network, words in _NAMED:
        if ip.version == network.version and ip in network:
            return words
    if not ip.is_global or ip.is_multicast or ip.is_reserved:
        return 'special-purpose (RFC 6890)'
    return None


def _embedded_ipv4(ip):
    if ip.version != 6:
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xffffffff)
    if ip in _SIXTOFOUR:
        return ip.sixtofour
    return None


class AddressPolicy(object):
    """Decides, once per address, whether the audit may connect to it."""

    def __init__(self, allow_private_addresses=False):
        self.allow_private_addresses = bool(allow_private_addresses)

    def refusal(self, address):
        """None when ``address`` may be contacted, else why not (words naming its range)."""
        if self.allow_private_addresses:
            return None
        try:
            return special_purpose(address)
        except ValueError:
            return 'not an IP address'

    def split(self, addresses):
        """(addresses that may be contacted, [(address, why not)] for the others), in the given order."""
        allowed = []
        refused = []
        for address in addresses:
            reason = self.refusal(address)
            if reason is None:
                allowed.append(address)
            else:
                refused.append((address, reason))
        return allowed, refused

    def policy_host_refusal(self, host, address):
        """None when the policy host ``host`` may be contacted at ``address``, else the finding
        policy-host-private-address: the ``address_filter`` of fetch.resolve_and_fetch_policy."""
        reason = self.refusal(address)
        if reason is None:
            return None
        return finding('policy-host-private-address', '%s resolves to %s, a %s address: not contacted '
                       '(senders on the internet cannot reach it; see allow_private_addresses)' % (host, address, reason))
