# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""dnsanswer.read_answer against dnspython's own reading of the same bytes.

Responses are built by dnspython (with name compression), from generated record sets that include
awkward labels, duplicates, other classes and types; whatever dnspython reads, the reader must read the
same (records per owner and type, in order, without duplicates). Damaged responses (cut short, bytes
overwritten) must raise AnswerError or read the same as dnspython, never raise anything else or loop.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

import dns.message
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from ansible_collections.mailsec.mta_sts.plugins.module_utils.dnsanswer import AnswerError, read_answer

QNAME = dns.name.from_text('_mta-sts.example.test')
QUESTION_LENGTH = len(QNAME.to_wire()) + 4  # the name, QTYPE and QCLASS
TYPES = ('A', 'AAAA', 'MX', 'TXT', 'NS', 'CNAME', 'TLSA', 'SOA', 'CAA')

labels = st.one_of(st.sampled_from([b'example', b'Mail', b'mta-sts', b'a.b', b'x y', b'\\', b'"@$;()', b'\xff\x00']),
                   st.binary(min_size=1, max_size=12))
names = st.one_of(st.just(QNAME), st.lists(labels, min_size=0, max_size=4).map(
    lambda parts: dns.name.Name(parts + [b'example', b'test', b''])))


@st.composite
def rdatas(draw, rdtype):
    if rdtype == 'A':
        return '.'.join(str(draw(st.integers(0, 255))) for _octet in range(4))
    if rdtype == 'AAAA':
        return draw(st.sampled_from(['2001:db8::1', '::1', '::ffff:192.0.2.1', '2001:db8:0:0:1:0:0:1', 'fe80::']))
    if rdtype == 'MX':
        return '%d %s' % (draw(st.integers(0, 65535)), draw(names).to_text())
    if rdtype == 'TXT':
        strings = draw(st.lists(st.binary(max_size=40), min_size=1, max_size=3))
        return ' '.join('"%s"' % ''.join('\\%03d' % octet for octet in item) for item in strings)
    if rdtype in ('NS', 'CNAME'):
        return draw(names).to_text()
    if rdtype == 'TLSA':
        return '3 1 1 ' + draw(st.binary(min_size=32, max_size=32)).hex()
    if rdtype == 'SOA':
        return 'ns1.example.test. hostmaster.example.test. 1 2 3 4 5'
    return '0 issue "ca.example"'


@st.composite
def responses(draw):
    """(wire, asked type): a response to a question about QNAME, the answer section generated."""
    asked = draw(st.sampled_from(TYPES[:7]))
    query = dns.message.make_query(QNAME, asked, id=4242)
    response = dns.message.make_response(query)
    response.set_rcode(draw(st.sampled_from([0, 0, 0, 2, 3, 5])))
    for _rrset in range(draw(st.integers(0, 6))):
        rdtype = draw(st.sampled_from(TYPES))
        owner = draw(names)
        rdclass = 'CH' if rdtype not in ('A', 'AAAA') and draw(st.integers(0, 3)) == 0 else 'IN'
        rrset = dns.rrset.from_text(owner, 300, rdclass, rdtype, *draw(st.lists(rdatas(rdtype), min_size=1, max_size=3)))
        response.answer.append(rrset)
        if draw(st.booleans()):
            response.answer.append(rrset)  # the same records twice
    response.authority.append(dns.rrset.from_text('example.test.', 300, 'IN', 'NS', 'ns1.example.test.'))
    return response.to_wire(want_shuffle=False), dns.rdatatype.from_text(asked)  # no random order: reproducible


def _dnspython(wire, rdtype):
    """What dnspython reads from the header and the answer section only, in the reader's form."""
    answer_only = wire[:8] + b'\x00\x00\x00\x00' + wire[12:]
    message = dns.message.from_wire(answer_only, ignore_trailing=True)
    found = {}
    for rrset in message.answer:
        if rrset.rdclass != dns.rdataclass.IN or rrset.rdtype not in (rdtype, dns.rdatatype.CNAME):
            continue
        found.setdefault((rrset.name.to_wire().lower(), rrset.rdtype), []).extend(_values(rrset))
    return message.rcode(), found


def _values(rrset):
    if rrset.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
        return [rdata.address for rdata in rrset]
    if rrset.rdtype == dns.rdatatype.MX:
        return [(rdata.preference, rdata.exchange.to_text(omit_final_dot=True), rdata.exchange.to_wire()) for rdata in rrset]
    if rrset.rdtype == dns.rdatatype.TXT:
        return [tuple(rdata.strings) for rdata in rrset]
    if rrset.rdtype in (dns.rdatatype.NS, dns.rdatatype.CNAME):
        return [(rdata.target.to_text(omit_final_dot=True), rdata.target.to_wire()) for rdata in rrset]
    return [rdata.to_text() for rdata in rrset]


def _ours(wire, rdtype):
    answer = read_answer(wire, QUESTION_LENGTH, rdtype)
    found = {}
    for key, values in answer._records.items():  # pylint: disable=protected-access
        found[key] = [_our_value(key[1], value) for value in values]
    return answer.rcode(), found


def _our_value(rdtype, value):
    if rdtype == dns.rdatatype.MX:
        return (value[0], value[1].text, value[1].wire)
    if rdtype in (dns.rdatatype.NS, dns.rdatatype.CNAME):
        return (value.text, value.wire)
    if rdtype == dns.rdatatype.TLSA:
        return value.to_text()
    return value


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses())
def test_reads_what_dnspython_reads(case):
    wire, rdtype = case
    assert _ours(wire, rdtype) == _dnspython(wire, rdtype)


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(responses(), st.data())
def test_damaged_responses_raise_answer_error_or_read_as_dnspython_does(case, data):
    wire, rdtype = case
    start = 12 + QUESTION_LENGTH
    if data.draw(st.booleans()):
        damaged = wire[:data.draw(st.integers(0, len(wire)))]
    else:
        at = data.draw(st.integers(min(start, len(wire) - 1), len(wire) - 1))
        damaged = wire[:at] + bytes([data.draw(st.integers(0, 255))]) + wire[at + 1:]
    try:
        ours = _ours(damaged, rdtype)
    except AnswerError:
        return
    try:
        theirs = _dnspython(damaged, rdtype)
    except Exception:  # pylint: disable=broad-except
        return  # dnspython also checks the data of records the lookup does not use; the reader skips them
    assert ours == theirs


def _header(answers):
    return struct.pack('!HHHHHH', 1, 0x8180, 1, answers, 0, 0) + QNAME.to_wire() + struct.pack('!HH', 16, 1)


@pytest.mark.parametrize('record, problem', [
    (b'\xc0\x0c' + struct.pack('!HHIH', 16, 1, 60, 7) + b'\x01\x02\x03\x04\x05', 'runs past the end'),
    (b'\xc0\x0c' + struct.pack('!HHIH', 16, 1, 60, 0), 'without a string'),
    (b'\xc0\x0c' + struct.pack('!HHIH', 16, 1, 60, 3) + b'\x05ab', 'TXT string runs past'),
    (b'\xc0\x0c' + struct.pack('!HHIH', 41, 1, 60, 0), 'OPT record'),
    (b'\xc0\x2e' + struct.pack('!HHIH', 16, 1, 60, 2) + b'\x01a', 'does not point backwards'),  # points at itself
    (b'\x7f' + b'a' * 10, 'label'),
])
def test_malformed_records_are_named(record, problem):
    with pytest.raises(AnswerError, match=problem):
        read_answer(_header(1) + record, QUESTION_LENGTH, dns.rdatatype.TXT)


def test_an_mx_record_with_octets_after_its_name_is_malformed():
    record = b'\xc0\x0c' + struct.pack('!HHIH', 15, 1, 60, 4) + b'\x00\x0a\x00\x00'
    with pytest.raises(AnswerError, match='longer than its name'):
        read_answer(_header(1) + record, QUESTION_LENGTH, dns.rdatatype.MX)


def test_record_data_of_the_wrong_length_is_malformed():
    record = b'\xc0\x0c' + struct.pack('!HHIH', 1, 1, 60, 5) + b'\x01\x02\x03\x04\x05'
    with pytest.raises(AnswerError, match='A record of 5'):
        read_answer(_header(1) + record, QUESTION_LENGTH, dns.rdatatype.A)
    # records of a type the lookup does not use are skipped unread, as a stub resolver does
    assert read_answer(_header(1) + record, QUESTION_LENGTH, dns.rdatatype.TXT).records(QNAME.to_wire(), 16) is None


def test_a_pointer_loop_ends():
    # two names pointing at each other cannot both point backwards
    loop = _header(1) + b'\xc0\x31\xc0\x2e'
    with pytest.raises(AnswerError):
        read_answer(loop, QUESTION_LENGTH, dns.rdatatype.TXT)


def test_names_longer_than_255_octets_are_refused():
    owner = b'\x3f' + b'a' * 63
    record = owner * 4 + b'\x00' + struct.pack('!HHIH', 16, 1, 60, 2) + b'\x01a'
    with pytest.raises(AnswerError, match='255'):
        read_answer(_header(1) + record, QUESTION_LENGTH, dns.rdatatype.TXT)
