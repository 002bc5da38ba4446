# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Questions to the DNS servers that hold a zone, asked directly (no resolver, no cache), on any port.

Used by the deploy role before and after it writes records: which zone holds a name (SOA, RFC 1035
section 3.3.13 and RFC 2308 section 3: a negative answer carries the zone's SOA), and whether every server
answers the new TXT values yet. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import time

try:
    import dns.exception
    import dns.flags
    import dns.message
    import dns.name
    import dns.query
    import dns.rcode
    import dns.rdatatype
    import dns.resolver
    HAS_DNSPYTHON = True
except ImportError:
    HAS_DNSPYTHON = False


class ServerError(Exception):
    """A server that cannot answer for the zone (down, refusing, not authoritative): waiting will not help.

    ``answered``: some server did answer (it does not hold the name), as opposed to none being reachable.
    """

    def __init__(self, message, answered=False):
        super(ServerError, self).__init__(message)
        self.answered = answered


def _address(server):
    """An IP address for SERVER (a name is resolved by the system, as a client of that server would)."""
    try:
        socket.inet_pton(socket.AF_INET6 if ':' in server else socket.AF_INET, server)
        return server
    except (OSError, ValueError):
        pass
    try:
        return socket.getaddrinfo(server, 53, 0, socket.SOCK_DGRAM)[0][4][0]
    except (OSError, IndexError) as exc:
        raise ServerError('%s has no address (%s)' % (server, exc))


def ask(server, port, name, rdtype, timeout):
    """The response of SERVER:PORT to NAME/RDTYPE, recursion not desired; ServerError when there is none.

    UDP first (TCP when the answer is truncated); a server that takes no UDP - refused or silent - is asked
    over TCP (RFC 7766 section 5: TCP is a transport every server supports), as an RFC 2136 client may use it.
    """
    query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
    query.flags &= ~dns.flags.RD
    address = _address(server)
    try:
        return dns.query.udp_with_fallback(query, address, timeout=timeout, port=port)[0]
    except (dns.exception.Timeout, OSError) as exc:
        udp_problem = exc
    except dns.exception.DNSException as exc:
        raise ServerError('%s port %d: %s' % (server, port, exc))
    try:
        return dns.query.tcp(query, address, timeout=timeout, port=port)
    except dns.exception.Timeout:
        raise ServerError('%s port %d does not answer (no reply in %.1f s over UDP or TCP)' % (server, port, timeout))
    except (dns.exception.DNSException, OSError) as exc:
        detail = 'no reply in %.1f s' % timeout if isinstance(udp_problem, dns.exception.Timeout) else str(udp_problem)
        raise ServerError('%s port %d does not answer (UDP: %s; TCP: %s)' % (server, port, detail, exc))


def _not_authoritative(server, port, name, response):
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return '%s port %d answers %s for %s: it does not serve a zone that holds it' % (
            server, port, dns.rcode.to_text(rcode), name)
    if not response.flags & dns.flags.AA:
        referral = sorted(rdata.target.to_text(omit_final_dot=True) for rrset in response.authority
                          if rrset.rdtype == dns.rdatatype.NS for rdata in rrset)
        return '%s port %d is not authoritative for %s%s' % (
            server, port, name, (' (it refers to %s)' % ', '.join(referral)) if referral else '')
    return ''


def zone_of(servers, port, name, timeout=5.0):
    """(zone, server) of the zone that holds NAME, from the SOA the servers give; ServerError when none can say."""
    problems = []
    answered = False
    qname = dns.name.from_text(name)
    for server in servers:
        try:
            response = ask(server, port, name, 'SOA', timeout)
        except ServerError as exc:
            problems.append(str(exc))
            continue
        answered = True
        problem = _not_authoritative(server, port, name, response)
        if problem:
            problems.append(problem)
            continue
        for section in (response.answer, response.authority):
            for rrset in section:
                if rrset.rdtype == dns.rdatatype.SOA and (rrset.name == qname or qname.is_subdomain(rrset.name)):
                    return rrset.name.to_text(omit_final_dot=True).lower(), server
        problems.append('%s port %d gives no SOA for %s' % (server, port, name))
    raise ServerError('; '.join(problems) or 'no server to ask', answered)


def nameservers_of(zone, resolver_addresses=None, resolver_port=53, timeout=5.0):
    """The addresses of ZONE's authoritative servers (its NS records and their A/AAAA, through the resolver)."""
    resolver = dns.resolver.Resolver(configure=not resolver_addresses)
    if resolver_addresses:
        resolver.nameservers = list(resolver_addresses)
    resolver.port = resolver_port
    resolver.timeout = resolver.lifetime = timeout
    try:
        targets = sorted(rdata.target.to_text() for rdata in resolver.resolve(zone, 'NS', search=False))
    except dns.exception.DNSException as exc:
        raise ServerError('the NS records of %s cannot be looked up: %s' % (zone, exc))
    addresses = []
    for target in targets:
        for rdtype in ('A', 'AAAA'):
            try:
                addresses += sorted(rdata.address for rdata in resolver.resolve(target, rdtype, search=False))
            except dns.exception.DNSException:
                continue
    if not addresses:
        raise ServerError('the authoritative servers of %s (%s) have no address' % (zone, ', '.join(targets)))
    return addresses


def txt_values(server, port, name, timeout):
    """The TXT values SERVER:PORT answers for NAME (each value's strings joined, RFC 7208 section 3.3 style)."""
    response = ask(server, port, name, 'TXT', timeout)
    problem = _not_authoritative(server, port, name, response)
    if problem:
        raise ServerError(problem, True)
    qname = dns.name.from_text(name)
    return sorted(b''.join(rdata.strings).decode('utf-8', 'replace') for rrset in response.answer
                  if rrset.name == qname and rrset.rdtype == dns.rdatatype.TXT for rdata in rrset)


def wait_for_txt(servers, port, records, timeout, query_timeout=2.0, interval=1.0, clock=time.monotonic,
                 sleep=time.sleep):
    """Poll every server until it answers each record's values exactly; return the checks and the seconds taken.

    RECORDS: [{'name', 'values'}]. Fails fast (ServerError) when a server cannot answer for the zone at all -
    down, refusing or not authoritative - since no amount of waiting changes that. Returns
    (done, pending, elapsed): ``pending`` lists what still differed at the deadline.
    """
    started = clock()
    deadline = started + timeout
    pending = [(server, record) for server in servers for record in records]
    answered = set()
    while True:
        still = []
        last = {}
        for server, record in pending:
            try:
                values = txt_values(server, port, record['name'], query_timeout)
            except ServerError:
                if server not in answered:
                    raise
                still.append((server, record))  # it answered before: a lost datagram, ask again
                continue
            answered.add(server)
            if values != sorted(record['values']):
                still.append((server, record))
                last[(server, record['name'])] = values
        pending = still
        if not pending or clock() + interval > deadline:
            break
        sleep(interval)
    done = len(servers) * len(records) - len(pending)
    waiting = [{'server': server, 'port': port, 'name': record['name'], 'expected': sorted(record['values']),
                'answered': last.get((server, record['name']))} for server, record in pending]
    return done, waiting, round(clock() - started, 3)
