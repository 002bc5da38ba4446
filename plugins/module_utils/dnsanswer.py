# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The answer section of a DNS response, read for one lookup without building a dnspython Message.

No Ansible imports. A lookup decides on the RCODE and on the answer section's records of the type it
asked for and its CNAMEs (RFC 1034 section 4.3.2); dnspython's Message turns every record of every
section into objects, about ten times the work. This reader walks the answer section once (RFC 1035
section 4.1.3), checks every record's framing, and keeps the records of those two types, per owner
name, without duplicates, in the order received (as a dnspython rdataset does). A, AAAA, MX, TXT, NS
and CNAME data are read here; any other type asked for (TLSA) is read by dnspython's rdata parser.
Records of other types are skipped unread, as a stub resolver does. Malformed data raises AnswerError.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import struct

try:
    import dns.ipv4
    import dns.ipv6
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype
except ImportError:  # resolver.py reports the missing library
    pass

A, NS, CNAME, MX, TXT, AAAA, OPT, TSIG = 1, 2, 5, 15, 16, 28, 41, 250
IN = 1
MAX_NAME_OCTETS = 255  # RFC 1035 section 2.3.4
_ESCAPED = frozenset(b'"().;\\@$')  # dnspython's escaping, so names read the same as before
_RR_HEADER = struct.Struct('!HHIH')


class AnswerError(ValueError):
    """The response is not well-formed DNS (a short message, a bad name, record data of the wrong length)."""


class Name(object):
    """A domain name from the wire: ``text`` as dnspython writes it (no final dot), ``wire`` uncompressed."""

    __slots__ = ('text', 'wire')

    def __init__(self, text, wire):
        self.text = text
        self.wire = wire

    @property
    def key(self):
        return self.wire.lower()  # RFC 4343: names compare without regard to ASCII case


class Answer(object):
    """The RCODE and the answer section's records of one type and of CNAME, by owner name."""

    __slots__ = ('_rcode', '_records')

    def __init__(self, rcode, records):
        self._rcode = rcode
        self._records = records

    def rcode(self):
        """The RCODE (RFC 1035 section 4.1.1), called as on a dnspython Message."""
        return self._rcode

    def records(self, owner_key, rdtype):
        """The records of ``rdtype`` owned by the name whose lowercased wire form is ``owner_key``, or None."""
        return self._records.get((owner_key, rdtype))


def read_answer(data, question_length, rdtype):
    """Read ``data``, a response whose question (``question_length`` octets) was already matched to ours.

    Keeps the answer records of ``rdtype`` and CNAME in class IN; the authority and additional sections and
    anything after the answer section are not read.
    """
    if len(data) < 12 + question_length:
        raise AnswerError('shorter than its header and question')
    rcode = data[3] & 0x0F
    count = (data[6] << 8) | data[7]
    offset = 12 + question_length
    records = {}
    seen = set()
    singleton = dns.rdatatype.is_singleton(rdtype)  # CNAME, SOA: a name holds one (RFC 2181 section 10.1)
    for _record in range(count):
        owner, offset = _read_name(data, offset)
        if offset + 10 > len(data):
            raise AnswerError('a record header runs past the end of the message')
        rtype, rclass, _ttl, length = _RR_HEADER.unpack_from(data, offset)
        start = offset + 10
        end = start + length
        if end > len(data):
            raise AnswerError('record data runs past the end of the message')
        if rtype in (OPT, TSIG):
            raise AnswerError('an %s record in the answer section' % ('OPT' if rtype == OPT else 'TSIG'))
        offset = end
        if rclass != IN or (rtype != rdtype and rtype != CNAME):
            continue
        value, identity = _read_data(data, start, end, rtype)
        key = (owner.key, rtype)
        if rtype == CNAME or singleton:
            records[key] = [value]  # one per name; like dnspython, the last one received counts
            continue
        if (key, identity) in seen:
            continue  # an rdataset holds each record once
        seen.add((key, identity))
        records.setdefault(key, []).append(value)
    return Answer(rcode, records)


def _read_data(data, start, end, rtype):
    """(value, identity) of one record's data, which must fill its RDLENGTH exactly."""
    if rtype == A or rtype == AAAA:
        size = 4 if rtype == A else 16
        if end - start != size:
            raise AnswerError('an %s record of %d octets' % ('A' if rtype == A else 'AAAA', end - start))
        raw = data[start:end]
        return (dns.ipv4.inet_ntoa(raw) if rtype == A else dns.ipv6.inet_ntoa(raw)), raw
    if rtype == MX:
        if end - start < 3:
            raise AnswerError('an MX record too short for a preference and a name')
        preference = (data[start] << 8) | data[start + 1]
        exchange = _read_name_exactly(data, start + 2, end)
        return (preference, exchange), (preference, exchange.key)
    if rtype == CNAME or rtype == NS:
        name = _read_name_exactly(data, start, end)
        return name, name.key
    if rtype == TXT:
        strings = []
        offset = start
        while offset < end:  # RFC 1035 section 3.3.14: one or more <character-string>s
            size = data[offset]
            if offset + 1 + size > end:
                raise AnswerError('a TXT string runs past its record')
            strings.append(bytes(data[offset + 1:offset + 1 + size]))
            offset += 1 + size
        if not strings:
            raise AnswerError('a TXT record without a string')
        return tuple(strings), tuple(strings)
    try:
        rdata = dns.rdata.from_wire(dns.rdataclass.IN, rtype, data, start, end - start)
    except Exception as exc:  # dnspython raises many kinds for malformed data
        raise AnswerError('a malformed %s record (%s)' % (dns.rdatatype.to_text(rtype), exc))
    return rdata, rdata


def _read_name_exactly(data, start, end):
    name, offset = _read_name(data, start, end)
    if offset != end:
        raise AnswerError('record data longer than its name')
    return name


def _read_name(data, offset, limit=None):
    """(Name, offset after it) at ``offset``, its inline part ending by ``limit``; compression pointers must
    point backwards (RFC 1035 section 4.1.4)."""
    limit = len(data) if limit is None else limit
    labels = []
    octets = 1
    lowest = offset  # every pointer must point before the last one: no loops
    after = None
    while True:
        if offset >= limit:
            raise AnswerError('a name runs past its end')
        size = data[offset]
        if size == 0:
            offset += 1
            break
        if size >= 0xC0:
            if offset + 1 >= limit:
                raise AnswerError('a compression pointer runs past its end')
            target = ((size & 0x3F) << 8) | data[offset + 1]
            if target >= lowest:
                raise AnswerError('a compression pointer that does not point backwards')
            if after is None:
                after = offset + 2
            lowest = target
            offset = target
            limit = len(data)
            continue
        if size > 63:
            raise AnswerError('a label of unknown type')
        if offset + 1 + size > limit:
            raise AnswerError('a label runs past its end')
        labels.append(bytes(data[offset + 1:offset + 1 + size]))
        octets += 1 + size
        if octets > MAX_NAME_OCTETS:
            raise AnswerError('a name longer than 255 octets')
        offset += 1 + size
    text = '.'.join(_escape(label) for label in labels) if labels else '.'
    return Name(text, wire_of(labels)), (offset if after is None else after)


def wire_of(labels):
    """The uncompressed wire form of a name's labels (bytes, the root label left out; RFC 1035 section 3.1)."""
    return b''.join(bytes((len(label),)) + label for label in labels) + b'\x00'


def _escape(label):
    """A label as dnspython's Name.to_text writes it: special characters and non-printable octets escaped."""
    if all(0x20 < octet < 0x7F and octet not in _ESCAPED for octet in label):
        return label.decode('ascii')
    return ''.join('\\' + chr(octet) if octet in _ESCAPED else chr(octet) if 0x20 < octet < 0x7F
                   else '\\%03d' % octet for octet in label)
