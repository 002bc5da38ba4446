# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Run a peer tool over the benchmark lab's domains; runs inside the peers' own virtual environment.

    python peers.py checkdmarc --domains FILE --out FILE --dns 127.0.0.1:20053 --ca CA.pem --timeout 5
    python peers.py postfix-mta-sts-resolver ... --concurrency 64

Both are pointed at the lab the way MACHINE-NOTES.md describes: the CA through REQUESTS_CA_BUNDLE /
SSL_CERT_FILE (set before requests/aiohttp are imported), DNS at the lab's resolver and port:

* checkdmarc 6.x: ``check_mta_sts(domain, nameservers=[Do53Nameserver(ip, port)], timeout=T)`` one domain
  after the other (it is synchronous), its DNS cache cleared first. Its policy download asks the system
  resolver (getaddrinfo) for mta-sts.<domain>; in this process getaddrinfo answers names of the lab's
  zone with one A query to the lab's resolver (with the same latency), like glibc's stub resolver would
  (5 s per try, 2 attempts).
  Its HTTP timeout (fixed 2 s by default) is set to T, like every tool's.
* postfix-mta-sts-resolver 1.5.x: ``STSResolver(loop=loop, timeout=T).resolve(domain)`` under asyncio,
  at most --concurrency at a time; its aiodns resolver gets the lab's ``ip:port``, and aiohttp's policy
  download resolves through one shared ``aiohttp.AsyncResolver(nameservers=[ip:port])``.

Writes JSON: wall time, CPU time and peak RSS of this process, and one verdict per domain.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import resource
import socket
import sys
import time


def _usage():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def _checkdmarc_kind(result):
    """valid, or what the error says went wrong (no-record, cert, timeout, other)."""
    if result.get('valid'):
        return 'valid'
    error = str(result.get('error', ''))
    low = error.lower()
    if 'does not exist' in low or 'record' in low and 'not' in low:
        return 'no-record'
    if 'certificate' in low or 'ssl' in low:
        return 'cert'
    if 'timed out' in low or 'timeout' in low:
        return 'timeout'
    return 'other'


def run_checkdmarc(args, domains):
    os.environ['REQUESTS_CA_BUNDLE'] = args.ca
    import dns.nameserver
    import dns.resolver
    from checkdmarc import mta_sts
    import checkdmarc.utils

    ip, port = args.dns.rsplit(':', 1)
    port = int(port)
    zone_suffix = '.' + args.zone
    stub = dns.resolver.Resolver(configure=False)
    stub.nameservers = [dns.nameserver.Do53Nameserver(ip, port)]
    stub.timeout, stub.lifetime = 5.0, 10.0  # glibc's stub resolver: 5 s per try, 2 attempts
    system_getaddrinfo = socket.getaddrinfo

    def lab_getaddrinfo(host, port_, family=0, type_=0, proto=0, flags=0):
        name = host.decode() if isinstance(host, bytes) else host
        if name and name.rstrip('.').endswith(zone_suffix):
            try:
                answer = stub.resolve(name, 'A', search=False)
            except dns.exception.DNSException as exc:
                raise socket.gaierror(socket.EAI_NONAME, str(exc))
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, '', (rdata.address, int(port_ or 0)))
                    for rdata in answer]
        return system_getaddrinfo(host, port_, family, type_, proto, flags)

    socket.getaddrinfo = lab_getaddrinfo
    mta_sts.download_mta_sts_policy.__kwdefaults__['http_timeout'] = args.timeout
    checkdmarc.utils.DNS_CACHE.clear()
    nameservers = [dns.nameserver.Do53Nameserver(ip, port)]
    verdicts = {}
    started = time.monotonic()
    for domain in domains:
        result = mta_sts.check_mta_sts(domain, nameservers=nameservers, timeout=args.timeout)
        verdicts[domain] = {'verdict': _checkdmarc_kind(result), 'detail': str(result.get('error', ''))[:200]}
    return time.monotonic() - started, verdicts


def run_postfix(args, domains):
    os.environ['SSL_CERT_FILE'] = args.ca
    import asyncio
    import logging

    import aiohttp
    import aiohttp.connector
    from postfix_mta_sts_resolver.resolver import STSResolver

    logging.disable(logging.WARNING)  # it logs every failed fetch
    nameserver = args.dns

    class SharedResolver(aiohttp.AsyncResolver):
        """One resolver for every session the tool opens (it opens one per domain)."""

        async def close(self):
            pass

    async def main():
        loop = asyncio.get_running_loop()
        shared = SharedResolver(nameservers=[nameserver], timeout=args.timeout)
        aiohttp.connector.DefaultResolver = lambda *a, **k: shared
        resolver = STSResolver(loop=loop, timeout=args.timeout)
        resolver._resolver.nameservers = [nameserver]
        limit = asyncio.Semaphore(args.concurrency)
        verdicts = {}

        async def one(domain):
            async with limit:
                status, _policy = await resolver.resolve(domain)
                verdicts[domain] = {'verdict': status.name, 'detail': ''}

        started = time.monotonic()
        await asyncio.gather(*(one(domain) for domain in domains))
        return time.monotonic() - started, verdicts

    return asyncio.run(main())


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument('tool', choices=['checkdmarc', 'postfix-mta-sts-resolver'])
    parser.add_argument('--domains', required=True)
    parser.add_argument('--out', required=True)
    parser.add_argument('--dns', required=True, help='ip:port of the lab resolver')
    parser.add_argument('--zone', required=True)
    parser.add_argument('--ca', required=True)
    parser.add_argument('--timeout', type=float, default=5.0)
    parser.add_argument('--concurrency', type=int, default=64)
    args = parser.parse_args(argv)
    with open(args.domains) as handle:
        domains = json.load(handle)
    cpu_before = _usage()[0]
    if args.tool == 'checkdmarc':
        wall, verdicts = run_checkdmarc(args, domains)
    else:
        wall, verdicts = run_postfix(args, domains)
    cpu_after, max_rss_kb = _usage()
    with open(args.out, 'w') as handle:
        json.dump({'wall_s': wall, 'cpu_s': cpu_after - cpu_before, 'max_rss_kb': max_rss_kb,
                   'verdicts': verdicts}, handle)
    return 0


if __name__ == '__main__':
    sys.exit(main())
