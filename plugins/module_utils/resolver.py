# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""DNS lookups for the audit, through dnspython, with answers sorted into what the verdict needs.

No Ansible imports. A lookup never raises: it returns a Lookup whose ``outcome`` is
``answer``, ``nxdomain`` or ``nodata`` (authoritative answers), or ``error`` (SERVFAIL,
REFUSED, timeout, malformed answers: no answer the verdict may rely on).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from .clip import clip

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

MAX_CNAME_HOPS = 8


class Lookup(object):
    """The outcome of one lookup: ``records`` holds text for TXT, (preference, host) for MX, addresses for A/AAAA."""

    __slots__ = ('name', 'rdtype', 'outcome', 'records', 'error', 'cname_chain')

    def __init__(self, name, rdtype, outcome, records=None, error=None, cname_chain=None):
        self.name = name
        self.rdtype = rdtype
        self.outcome = outcome
        self.records = records or []
        self.error = error
        self.cname_chain = cname_chain or []

    @property
    def ok(self):
        return self.outcome == 'answer'

    @property
    def authoritative(self):
        return self.outcome != 'error'

    def as_evidence(self):
        evidence = {'name': self.name, 'type': self.rdtype, 'outcome': self.outcome}
        if self.error:
            evidence['error'] = self.error
        if self.cname_chain:
            evidence['cname_chain'] = list(self.cname_chain)
        return evidence


class DnsClient(object):
    """One resolver setup shared by every lookup of an audit run (thread-safe: no per-call state)."""

    def __init__(self, nameservers=None, port=53, timeout=5.0):
        if not HAS_DNSPYTHON:
            raise RuntimeError('dnspython is required')
        if nameservers:
            self._resolver = dns.resolver.Resolver(configure=False)
            self._resolver.nameservers = list(nameservers)
        else:
            self._resolver = dns.resolver.Resolver()
        self._resolver.port = port
        self._resolver.timeout = timeout
        self._resolver.lifetime = timeout
        # 1232 octets: the DNS flag day 2020 size; larger answers come over TCP.
        self._resolver.use_edns(0, 0, 1232)
        self.timeout = timeout

    def lookup(self, name, rdtype):
        """Resolve ``name``/``rdtype``, following CNAMEs across zones (an authoritative server only gives the first hop)."""
        chain = []
        qname = name
        # The timeout bounds the whole lookup: CNAME hops share it instead of getting one timeout each.
        deadline = time.monotonic() + self.timeout
        for _hop in range(MAX_CNAME_HOPS + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return Lookup(name, rdtype, 'error', error='timeout after %.1fs' % self.timeout, cname_chain=chain)
            try:
                answer = self._resolver.resolve(qname, rdtype, raise_on_no_answer=False, search=False,
                                                lifetime=remaining)
            except dns.resolver.NXDOMAIN:
                return Lookup(name, rdtype, 'nxdomain', cname_chain=chain)
            except dns.resolver.NoNameservers as exc:
                return Lookup(name, rdtype, 'error', error=_no_nameservers_reason(exc), cname_chain=chain)
            except dns.exception.Timeout:
                return Lookup(name, rdtype, 'error', error='timeout after %.1fs' % self.timeout, cname_chain=chain)
            except dns.exception.DNSException as exc:
                return Lookup(name, rdtype, 'error', error=_short(exc), cname_chain=chain)
            canonical = answer.canonical_name.to_text(omit_final_dot=True)
            if canonical.lower() != qname.lower():
                chain.append(canonical)
            if answer.rrset is not None:
                return Lookup(name, rdtype, 'answer', _records(answer.rrset, rdtype), cname_chain=chain)
            if canonical.lower() == qname.lower():
                return Lookup(name, rdtype, 'nodata', cname_chain=chain)
            if canonical.lower() in (n.lower() for n in chain[:-1]) or canonical.lower() == name.lower():
                return Lookup(name, rdtype, 'error', error='CNAME loop at %s' % canonical, cname_chain=chain)
            qname = canonical
        return Lookup(name, rdtype, 'error', error='more than %d CNAME hops' % MAX_CNAME_HOPS, cname_chain=chain)

    def zone_of(self, name):
        """The zone apex that holds ``name`` (walking up with SOA queries), or None when no answer says."""
        try:
            return dns.resolver.zone_for_name(name, resolver=self._resolver, lifetime=self.timeout).to_text(
                omit_final_dot=True)
        except dns.exception.DNSException:
            return None

    def query_server(self, address, name, rdtype):
        """Ask one server directly, without recursion, as a consistency check between authoritative servers does."""
        query = dns.message.make_query(name, rdtype, use_edns=0, payload=1232)
        query.flags &= ~dns.flags.RD
        try:
            response, _used_tcp = dns.query.udp_with_fallback(query, address, timeout=self.timeout, port=self._resolver.port)
        except dns.exception.Timeout:
            return Lookup(name, rdtype, 'error', error='%s: timeout after %.1fs' % (address, self.timeout))
        except (dns.exception.DNSException, OSError) as exc:
            return Lookup(name, rdtype, 'error', error='%s: %s' % (address, _short(exc)))
        rcode = response.rcode()
        if rcode == dns.rcode.NXDOMAIN:
            return Lookup(name, rdtype, 'nxdomain')
        if rcode != dns.rcode.NOERROR:
            return Lookup(name, rdtype, 'error', error='%s answered %s' % (address, dns.rcode.to_text(rcode)))
        qname = dns.name.from_text(name)
        for rrset in response.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.from_text(rdtype):
                return Lookup(name, rdtype, 'answer', _records(rrset, rdtype))
        return Lookup(name, rdtype, 'nodata')


def _records(rrset, rdtype):
    if rdtype == 'TXT':
        return [b''.join(rdata.strings).decode('utf-8', 'replace') for rdata in rrset]
    if rdtype == 'MX':
        return sorted((rdata.preference, rdata.exchange.to_text(omit_final_dot=True).lower()) for rdata in rrset)
    if rdtype in ('A', 'AAAA'):
        return sorted(rdata.address for rdata in rrset)
    if rdtype == 'NS':
        return sorted(rdata.target.to_text(omit_final_dot=True).lower() for rdata in rrset)
    return [rdata.to_text() for rdata in rrset]


def _no_nameservers_reason(exc):
    """SERVFAIL or REFUSED, as the servers said it, in a line."""
    errors = exc.kwargs.get('errors') or []
    reasons = []
    for error in errors:
        # (server, tcp, port, error or rcode text, response)
        detail = error[3] if len(error) > 3 else error
        reasons.append('%s: %s' % (error[0], _short(detail)))
    return '; '.join(reasons) or 'no nameserver answered'


def _short(value):
    return clip(value, 200)
