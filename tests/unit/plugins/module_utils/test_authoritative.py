# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Zone lookup and TXT wait against a real (small) authoritative DNS server on loopback, on a port other than 53."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import socket
import threading
import time

import pytest

dns = pytest.importorskip('dns.message')
import dns.flags  # noqa: E402
import dns.name  # noqa: E402
import dns.rcode  # noqa: E402
import dns.rdatatype  # noqa: E402
import dns.rrset  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils import authoritative  # noqa: E402


class TinyServer(object):
    """UDP DNS server for one zone: authoritative answers from RECORDS, a referral for DELEGATED, REFUSED elsewhere."""

    def __init__(self, zone, records, delegated=(), authoritative_flag=True):
        self.zone = dns.name.from_text(zone)
        self.records = records  # {(name, type): [text, ...]}
        self.delegated = [dns.name.from_text(name) for name in delegated]
        self.aa = authoritative_flag
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(('127.0.0.1', 0))
        self.port = self.sock.getsockname()[1]
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _soa(self):
        return dns.rrset.from_text(self.zone, 60, 'IN', 'SOA', 'ns1.%s hostmaster.%s 1 3600 600 86400 60' % (self.zone, self.zone))

    def _answer(self, query):
        reply = dns.message.make_response(query)
        question = query.question[0]
        qname, qtype = question.name, dns.rdatatype.to_text(question.rdtype)
        if not qname.is_subdomain(self.zone):
            reply.set_rcode(dns.rcode.REFUSED)
            return reply
        for child in self.delegated:
            if qname.is_subdomain(child):
                reply.authority.append(dns.rrset.from_text(child, 60, 'IN', 'NS', 'ns.%s' % child))
                return reply
        if self.aa:
            reply.flags |= dns.flags.AA
        if qname == self.zone and qtype == 'SOA':
            reply.answer.append(self._soa())
            return reply
        values = self.records.get((qname.to_text(omit_final_dot=True), qtype))
        if values:
            reply.answer.append(dns.rrset.from_text_list(qname, 60, 'IN', qtype, values))
        else:
            reply.authority.append(self._soa())
            if not any(name == qname.to_text(omit_final_dot=True) for name, _type in self.records):
                reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply

    def _serve(self):
        self.sock.settimeout(0.1)
        while not self.stopped:
            try:
                data, peer = self.sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            self.sock.sendto(self._answer(dns.message.from_wire(data)).to_wire(), peer)

    def close(self):
        self.stopped = True
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def server():
    servers = []

    def make(*args, **kwargs):
        started = TinyServer(*args, **kwargs)
        servers.append(started)
        return started
    yield make
    for started in servers:
        started.close()


def _silent_port():
    """A UDP port where a socket is bound but never answers (a server that is down but not refusing)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(('127.0.0.1', 0))
    return sock


# --- zone_of ---------------------------------------------------------------------------------------------

def test_zone_of_an_apex_is_itself(server):
    tiny = server('example.test', {})
    assert authoritative.zone_of(['127.0.0.1'], tiny.port, 'example.test') == ('example.test', '127.0.0.1')


def test_zone_of_a_domain_inside_a_parent_zone_is_the_parent(server):
    # RFC 2308 section 3: the negative answer carries the SOA of the zone that would hold the name.
    tiny = server('parent.test', {('mail.parent.test', 'MX'): ['10 mx1.mail.parent.test.']})
    assert authoritative.zone_of(['127.0.0.1'], tiny.port, 'mail.parent.test')[0] == 'parent.test'
    assert authoritative.zone_of(['127.0.0.1'], tiny.port, 'deeper.mail.parent.test')[0] == 'parent.test'


def test_zone_of_a_name_the_server_does_not_serve_is_refused(server):
    tiny = server('parent.test', {})
    with pytest.raises(authoritative.ServerError, match='answers REFUSED') as caught:
        authoritative.zone_of(['127.0.0.1'], tiny.port, 'other.test')
    assert caught.value.answered is True


def test_zone_of_a_delegated_name_is_not_this_servers(server):
    tiny = server('parent.test', {}, delegated=['child.parent.test'])
    with pytest.raises(authoritative.ServerError, match='not authoritative .* refers to ns.child.parent.test'):
        authoritative.zone_of(['127.0.0.1'], tiny.port, 'child.parent.test')


def test_zone_of_a_server_that_does_not_answer(server):
    silent = _silent_port()
    try:
        started = time.monotonic()
        with pytest.raises(authoritative.ServerError, match='does not answer') as caught:
            authoritative.zone_of(['127.0.0.1'], silent.getsockname()[1], 'parent.test', timeout=0.3)
        assert caught.value.answered is False
        assert time.monotonic() - started < 2
    finally:
        silent.close()


def test_zone_of_tries_the_next_server(server):
    tiny = server('parent.test', {})
    # Same port for both: nothing listens on the first address, the second (the real server) answers.
    with pytest.raises(authoritative.ServerError):
        authoritative.zone_of(['127.0.0.2'], tiny.port, 'parent.test', timeout=0.3)
    assert authoritative.zone_of(['127.0.0.2', '127.0.0.1'], tiny.port, 'parent.test', timeout=0.3)[0] == 'parent.test'


# --- wait_for_txt ------------------------------------------------------------------------------------------

RECORD = [{'name': '_mta-sts.example.test', 'values': ['v=STSv1; id=new;']}]


def test_wait_returns_at_once_when_the_server_has_the_values(server):
    tiny = server('example.test', {('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=new;"']})
    done, waiting, elapsed = authoritative.wait_for_txt(['127.0.0.1'], tiny.port, RECORD, timeout=10)
    assert (done, waiting) == (1, []) and elapsed < 1


def test_wait_until_the_value_changes(server):
    tiny = server('example.test', {('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=old;"']})
    timer = threading.Timer(0.5, lambda: tiny.records.update({('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=new;"']}))
    timer.start()
    done, waiting, elapsed = authoritative.wait_for_txt(['127.0.0.1'], tiny.port, RECORD, timeout=10, interval=0.2)
    timer.join()
    assert (done, waiting) == (1, []) and 0.4 < elapsed < 5


def test_wait_gives_up_at_the_deadline_saying_what_the_server_answers(server):
    tiny = server('example.test', {('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=old;"']})
    done, waiting, _elapsed = authoritative.wait_for_txt(['127.0.0.1'], tiny.port, RECORD, timeout=0.6, interval=0.2)
    assert done == 0
    assert waiting == [{'server': '127.0.0.1', 'port': tiny.port, 'name': '_mta-sts.example.test',
                        'expected': ['v=STSv1; id=new;'], 'answered': ['v=STSv1; id=old;']}]


def test_wait_needs_exactly_the_values(server):
    tiny = server('example.test', {('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=new;"', '"v=STSv1; id=old;"']})
    done, waiting, _elapsed = authoritative.wait_for_txt(['127.0.0.1'], tiny.port, RECORD, timeout=0, interval=0.1)
    assert done == 0 and waiting[0]['answered'] == ['v=STSv1; id=new;', 'v=STSv1; id=old;']


def test_wait_fails_fast_on_a_server_that_is_not_authoritative(server):
    tiny = server('example.test', {('_mta-sts.example.test', 'TXT'): ['"v=STSv1; id=new;"']}, authoritative_flag=False)
    started = time.monotonic()
    with pytest.raises(authoritative.ServerError, match='not authoritative'):
        authoritative.wait_for_txt(['127.0.0.1'], tiny.port, RECORD, timeout=60)
    assert time.monotonic() - started < 2


def test_wait_fails_fast_on_a_server_that_does_not_answer():
    silent = _silent_port()
    try:
        started = time.monotonic()
        with pytest.raises(authoritative.ServerError, match='does not answer'):
            authoritative.wait_for_txt(['127.0.0.1'], silent.getsockname()[1], RECORD, timeout=60, query_timeout=0.3)
        assert time.monotonic() - started < 2
    finally:
        silent.close()
