# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The hand-built query and the raw answer match of resolver.Query, checked against dnspython's own reading."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rdatatype
import dns.rrset
import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils.resolver import Query, wire_name

NAME = dns.name.from_text('mta-sts.Example.test')
WIRE = NAME.to_wire()


def _answer(query, name=NAME, rdtype='A', qid=None, flags=0):
    asked = dns.message.from_wire(query.wire)
    response = dns.message.make_response(asked)
    response.question = [dns.rrset.RRset(name, 1, dns.rdatatype.from_text(rdtype))]
    response.answer.append(dns.rrset.from_text(NAME, 300, 'IN', 'A', '192.0.2.7'))
    response.authority.append(dns.rrset.from_text('example.test.', 300, 'IN', 'NS', 'ns1.example.test.'))
    response.id = asked.id if qid is None else qid
    response.flags |= flags
    return response.to_wire()


def test_query_wire_is_what_dnspython_reads_as_the_question_with_edns0():
    query = Query(WIRE, dns.rdatatype.TLSA)
    parsed = dns.message.from_wire(query.wire)
    assert parsed.question[0].name == NAME and parsed.question[0].rdtype == dns.rdatatype.TLSA
    assert parsed.flags & dns.flags.RD and parsed.edns == 0 and parsed.payload == 1232
    assert not dns.message.from_wire(Query(WIRE, dns.rdatatype.A, recursion=False).wire).flags & dns.flags.RD


def test_ids_are_random():
    assert len({Query(WIRE, dns.rdatatype.A).wire[:2] for _count in range(50)}) > 40


def test_answer_matches_only_our_id_and_question():
    query = Query(WIRE, dns.rdatatype.A)
    assert query.answered_by(_answer(query))
    assert query.answered_by(_answer(query, name=dns.name.from_text('MTA-STS.example.TEST')))  # case-insensitive
    wrong_id = (int.from_bytes(query.wire[:2], 'big') + 1) % 65536
    assert not query.answered_by(_answer(query, qid=wrong_id))
    assert not query.answered_by(_answer(query, rdtype='AAAA'))
    assert not query.answered_by(_answer(query, name=dns.name.from_text('mta-sts.example.tesu')))
    assert not query.answered_by(query.wire)  # our own query echoed back: QR is not set
    assert not query.answered_by(_answer(query)[:20])


def test_truncated_answer_is_seen_and_lookups_parse_only_the_answer_section():
    query = Query(WIRE, dns.rdatatype.A)
    assert Query.truncated(_answer(query, flags=dns.flags.TC)) and not Query.truncated(_answer(query))
    parsed = query.parse(_answer(query))
    assert parsed.records(WIRE.lower(), dns.rdatatype.A) == ['192.0.2.7'] and not hasattr(parsed, 'authority')
    full = Query(WIRE, dns.rdatatype.A, answer_only=False).parse(_answer(query))
    assert full.authority and full.answer


@pytest.mark.parametrize('name', ['mta-sts.Example.test', '_25._tcp.mail.example.test.', 'a', 'x' * 63 + '.test',
                                  '.'.join(['a' * 60] * 4), 'bücher.example', 'a\\.b.example', 'a b.example', '@'])
def test_wire_names_are_dnspythons(name):
    assert wire_name(name) == dns.name.from_text(name).to_wire()


def test_names_dnspython_refuses_are_refused():
    for name in ('a..b', 'x' * 64 + '.test', '.'.join(['a' * 62] * 5)):
        with pytest.raises(dns.exception.DNSException):
            wire_name(name)
