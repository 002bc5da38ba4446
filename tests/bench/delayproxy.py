# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Latency for the benchmark lab: proxies on loopback that delay answers, as the internet does.

    python delayproxy.py --stats FILE \
        --dns LISTEN_IP:PORT=UPSTREAM_IP:PORT:DELAY_MS      (UDP and TCP; every answer waits DELAY_MS)
        --dns-loss SHARE                                    (that share of UDP answers is dropped; 0)
        --tcp LISTEN_IP:PORT=UPSTREAM_IP:PORT:DELAY_MS      (TCP; the first response bytes wait DELAY_MS)
        --hold LISTEN_IP:PORT:SECONDS                       (TCP; accepts, never answers, closes after SECONDS)

`tc qdisc ... netem` would do this at no CPU cost, but this sandbox's kernel has no netem qdisc.
The TCP proxy does not terminate TLS: the client's handshake reaches nginx untouched, and only the
server's first flight (the ServerHello) waits, once per connection. DNS answers are relayed over
one upstream socket with rewritten message IDs, so the proxy costs a few tens of microseconds per
answer. On SIGUSR1 (and at exit) it writes what it did since the last SIGUSR1 (counts, how late its
timers fired, its CPU time so far) to FILE as JSON.
Only 127.0.0.0/8 addresses are accepted.
"""

from __future__ import absolute_import, division, print_function

import argparse
import asyncio
import ipaddress
import json
import os
import resource
import random
import signal
import socket
import struct
import sys
import time

BACKLOG = 4096
SOCKET_BUFFER = 8 << 20  # bursts of hundreds of queries must not overflow the DNS sockets (lost answers)


def _loopback(ip):
    if not ipaddress.ip_address(ip) in ipaddress.ip_network('127.0.0.0/8'):
        raise SystemExit('delayproxy: %s is not a loopback address (127.0.0.0/8 only)' % ip)
    return ip


class Stats(object):
    """Counts and timer lateness (how much later than asked a delayed answer left)."""

    def __init__(self):
        self.counts = {}
        self.late = {}
        self.seq = 0

    def count(self, key, amount=1):
        self.counts[key] = self.counts.get(key, 0) + amount

    def delayed(self, kind, loop, due):
        self.late.setdefault(kind, []).append(loop.time() - due)

    def summary(self):
        def lateness(values):
            values = sorted(values)

            def pct(p):
                return round(values[min(len(values) - 1, int(p * len(values)))] * 1000, 2)
            return {'n': len(values), 'mean': round(1000 * sum(values) / len(values), 2), 'p50': pct(0.50),
                    'p99': pct(0.99), 'max': pct(1.0)}
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {'seq': self.seq, 'counts': self.counts,
                'late_ms': dict((kind, lateness(values)) for kind, values in self.late.items() if values),
                'cpu_s': round(usage.ru_utime + usage.ru_stime, 2), 'max_rss_kb': usage.ru_maxrss}

    def dump(self, path, reset=False):
        """Write the summary (SIGUSR1: the summary since the last SIGUSR1, then start a new period)."""
        self.seq += 1
        with open(path + '.tmp', 'w') as handle:
            json.dump(self.summary(), handle)
        os.rename(path + '.tmp', path)
        if reset:
            self.counts = {}
            self.late = {}


STATS = Stats()


# -- DNS over UDP ---------------------------------------------------------------------------------

def _big_buffers(transport):
    sock = transport.get_extra_info('socket')
    for option, force in ((socket.SO_RCVBUF, getattr(socket, 'SO_RCVBUFFORCE', None)),
                          (socket.SO_SNDBUF, getattr(socket, 'SO_SNDBUFFORCE', None))):
        try:
            sock.setsockopt(socket.SOL_SOCKET, force or option, SOCKET_BUFFER)
        except OSError:  # not root: as much as net.core.rmem_max allows
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)


class DnsUpstream(asyncio.DatagramProtocol):
    """One socket to BIND; answers are matched to clients by a rewritten message ID."""

    def __init__(self, front, delay, loss):
        self.front = front
        self.delay = delay
        self.loss = loss
        self.random = random.Random(8461)
        self.transport = None
        self.pending = {}
        self.next_id = 0

    def connection_made(self, transport):
        self.transport = transport
        _big_buffers(transport)

    def forward(self, data, client):
        self.next_id = (self.next_id + 1) & 0xFFFF
        self.pending[self.next_id] = (client, data[:2], time.monotonic())
        self.transport.sendto(struct.pack('!H', self.next_id) + data[2:])
        STATS.count('dns_udp_queries')
        if len(self.pending) > 30000:
            self._expire()

    def datagram_received(self, data, addr):
        if len(data) < 12:
            return
        entry = self.pending.pop(struct.unpack('!H', data[:2])[0], None)
        if entry is None:
            return
        client, original_id = entry[0], entry[1]
        if self.loss and self.random.random() < self.loss:
            STATS.count('dns_udp_answers_dropped')  # --dns-loss: the network lost this answer
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.delay
        loop.call_at(due, self._answer, original_id + data[2:], client, due)

    def _answer(self, data, client, due):
        STATS.delayed('dns', asyncio.get_running_loop(), due)
        self.front.transport.sendto(data, client)

    def _expire(self):
        limit = time.monotonic() - 30
        for key in [key for key, value in self.pending.items() if value[2] < limit]:
            del self.pending[key]


class DnsFront(asyncio.DatagramProtocol):
    def __init__(self):
        self.transport = None
        self.upstream = None

    def connection_made(self, transport):
        self.transport = transport
        _big_buffers(transport)

    def datagram_received(self, data, addr):
        if len(data) >= 12:
            self.upstream.forward(data, addr)


# -- TCP ------------------------------------------------------------------------------------------

class TcpClientSide(asyncio.Protocol):
    """The client's connection; data goes to the upstream as soon as it is connected."""

    def __init__(self, upstream_addr, delay, every_answer):
        self.upstream_addr = upstream_addr
        self.delay = delay
        self.every_answer = every_answer  # DNS over TCP: every answer waits; HTTPS: only the first bytes
        self.transport = None
        self.upstream = None
        self.to_upstream = []
        self.closed = False

    def connection_made(self, transport):
        self.transport = transport
        STATS.count('tcp_connections')
        loop = asyncio.get_running_loop()
        loop.create_task(self._connect(loop))

    async def _connect(self, loop):
        try:
            upstream = (await loop.create_connection(
                lambda: TcpUpstreamSide(self, self.delay, self.every_answer), *self.upstream_addr))[1]
        except OSError:
            STATS.count('tcp_upstream_errors')
            self.transport.close()
            return
        if self.closed:
            upstream.transport.close()
            return
        self.upstream = upstream
        for chunk in self.to_upstream:
            upstream.transport.write(chunk)
        self.to_upstream = None

    def data_received(self, data):
        if self.upstream is not None:
            self.upstream.transport.write(data)
        else:
            self.to_upstream.append(data)

    def eof_received(self):
        if self.upstream is not None and self.upstream.transport.can_write_eof():
            self.upstream.transport.write_eof()
        return True

    def connection_lost(self, exc):
        self.closed = True
        if self.upstream is not None:
            self.upstream.transport.close()


class TcpUpstreamSide(asyncio.Protocol):
    def __init__(self, client, delay, every_answer):
        self.client = client
        self.delay = delay
        self.every_answer = every_answer
        self.transport = None
        self.queue = []        # data waiting for its due time, in order
        self.waiting = False
        self.delayed_once = False
        self.eof = False

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        if self.waiting:
            self.queue.append(data)
            return
        if self.every_answer or not self.delayed_once:
            self.delayed_once = True
            self.waiting = True
            self.queue.append(data)
            loop = asyncio.get_running_loop()
            due = loop.time() + self.delay
            loop.call_at(due, self._flush, due)
            return
        self.client.transport.write(data)

    def _flush(self, due):
        STATS.delayed('dns-tcp' if self.every_answer else 'https', asyncio.get_running_loop(), due)
        self.waiting = False
        if not self.client.closed:
            self.client.transport.write(b''.join(self.queue))
            if self.eof:
                self.client.transport.close()
        self.queue = []

    def eof_received(self):
        self.eof = True
        if not self.waiting:
            self.client.transport.close()
        return True

    def connection_lost(self, exc):
        self.eof = True
        if not self.waiting:
            self.client.transport.close()


class Holder(asyncio.Protocol):
    """A slow server: accepts, reads and never answers; closes after ``hold`` seconds."""

    def __init__(self, hold):
        self.hold = hold
        self.timer = None

    def connection_made(self, transport):
        STATS.count('held_connections')
        self.timer = asyncio.get_running_loop().call_later(self.hold, transport.close)

    def data_received(self, data):
        pass

    def connection_lost(self, exc):
        self.timer.cancel()


# -- main -----------------------------------------------------------------------------------------

def _endpoint(text):
    ip, port = text.rsplit(':', 1)
    return _loopback(ip), int(port)


def _parse_forward(spec):
    listen, rest = spec.split('=', 1)
    upstream, delay = rest.rsplit(':', 1)
    return _endpoint(listen), _endpoint(upstream), float(delay) / 1000.0


async def _serve(args, stop):
    loop = asyncio.get_running_loop()
    servers = []
    for spec in args.dns:
        listen, upstream, delay = _parse_forward(spec)
        front_transport, front = await loop.create_datagram_endpoint(DnsFront, local_addr=listen)
        up = (await loop.create_datagram_endpoint(lambda: DnsUpstream(front, delay, args.dns_loss),
                                                  remote_addr=upstream))[1]
        front.upstream = up
        servers.append(front_transport)
        servers.append(await loop.create_server(lambda u=upstream, d=delay: TcpClientSide(u, d, True),
                                                *listen, backlog=BACKLOG, reuse_address=True))
    for spec in args.tcp:
        listen, upstream, delay = _parse_forward(spec)
        servers.append(await loop.create_server(lambda u=upstream, d=delay: TcpClientSide(u, d, False),
                                                *listen, backlog=BACKLOG, reuse_address=True))
    for spec in args.hold:
        ip, port, seconds = spec.rsplit(':', 2)
        servers.append(await loop.create_server(lambda s=float(seconds): Holder(s), _loopback(ip), int(port),
                                                backlog=BACKLOG, reuse_address=True))
    if args.ready:
        with open(args.ready, 'w') as handle:
            handle.write(str(os.getpid()))
    await stop.wait()
    for server in servers:
        server.close()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n', maxsplit=1)[0])
    parser.add_argument('--dns', action='append', default=[])
    parser.add_argument('--tcp', action='append', default=[])
    parser.add_argument('--hold', action='append', default=[])
    parser.add_argument('--dns-loss', type=float, default=0.0, help='share of UDP DNS answers to drop (0)')
    parser.add_argument('--stats', required=True)
    parser.add_argument('--ready', help='file written once every listener is up')
    args = parser.parse_args(argv)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    loop.add_signal_handler(signal.SIGUSR1, STATS.dump, args.stats, True)
    try:
        loop.run_until_complete(_serve(args, stop))
    finally:
        STATS.dump(args.stats)
    return 0


if __name__ == '__main__':
    sys.exit(main())
