# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS-RPT aggregate reports (RFC 8460): read them from files, mail and IMAP, and summarise what senders saw.

Pure Python, no Ansible imports: the module ``mailsec.mta_sts.tlsrpt_info``, the audit and the unit tests
call it. A report that does not follow the RFC 8460 section 4.4 schema is counted and named, never fatal;
only an IMAP server that cannot be reached or read (or a path that does not exist) raises TlsrptSourceError.

The audit's entry point is ``summarize_reports(reports, domains=None, since=None)``; its ``domains`` value
is keyed by policy domain and carries ``failed_sessions``, ``failure_types`` and ``ready``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import email.message
import email.parser
import imaplib
import json
import os
import re
import ssl
import stat
import time
import zlib

from .clip import clip
from .domain import DomainError, comparable_name, normalize_domain
from .fetch import tls_client_context
from .policy import matching_pattern

# RFC 8460 section 5.3: the media types of a report attached to mail.
MEDIA_TYPE_JSON = 'application/tlsrpt+json'
MEDIA_TYPE_GZIP = 'application/tlsrpt+gzip'
# Media types some senders use instead; accepted only with a report-like file name.
_LOOSE_MEDIA_TYPES = ('application/json', 'application/gzip', 'application/x-gzip', 'application/octet-stream')
_REPORT_FILE_SUFFIXES = ('.json', '.json.gz', '.gz')

# RFC 8460 section 4.4: policy-type.
POLICY_TYPES = ('sts', 'tlsa', 'no-policy-found')
# RFC 8460 sections 4.3.1 and 4.3.2 (IANA "STARTTLS Validation Result Types"). Other values are counted
# under their own name: the registry grows by expert review.
RESULT_TYPES = (
    'starttls-not-supported', 'certificate-host-mismatch', 'certificate-expired', 'certificate-not-trusted',
    'validation-failure', 'tlsa-invalid', 'dnssec-invalid', 'dane-required',
    'sts-policy-fetch-error', 'sts-policy-invalid', 'sts-webpki-invalid',
)

# Readiness reasons (stable codes) of one domain in summarize_reports().
REASON_FAILURES = 'tlsrpt-failures'
REASON_MALFORMED = 'tlsrpt-malformed'
REASON_NO_REPORTS = 'tlsrpt-no-reports'
REASON_INCOMPLETE = 'tlsrpt-incomplete'

MAX_REPORT_BYTES = 20 * 1024 * 1024     # one report, decompressed
MAX_MESSAGE_BYTES = 50 * 1024 * 1024    # one mail or report file as stored
# Nesting bounds, far above what RFC 8460 needs (a report is 5 levels deep; a report mail 2 or 3 MIME levels)
# and far below what Python's recursive parsers survive (json and email raise RecursionError at about 1,000).
MAX_JSON_DEPTH = 64
MAX_MIME_CONTAINERS = 64                # multipart/* and message/* parts in one mail
# What one run reads at most (files, mails and IMAP together); the module's max_* options.
MAX_SOURCES = 100000
MAX_RUN_BYTES = 4 * 1024 * 1024 * 1024
MAX_RUN_SECONDS = 900.0
MAX_DIRECTORY_DEPTH = 32
_GZIP_MAGIC = b'\x1f\x8b'
_HEADER_LINE = re.compile(br'^[\x21-\x39\x3b-\x7e]+:')
_DATETIME = re.compile(r'^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?$')
_DATE = re.compile(r'^(\d{4})-(\d{2})-(\d{2})$')
_UTC = datetime.timezone.utc


class ReportError(ValueError):
    """A report that cannot be used; the message says why (names the field, e.g. policies[0].summary)."""


class TlsrptSourceError(Exception):
    """A source the caller named cannot be read at all (IMAP connection, TLS, login, folder; missing path)."""


class BudgetExhausted(Exception):
    """The run read as much as its ReadBudget allows; the message says which bound was reached."""


class ReadBudget(object):
    """What one run may read at most: sources (report files and mails), bytes, and seconds of wall time.

    Every reader charges what it actually read (never what a server or a file claims) and stops with
    BudgetExhausted when a bound is reached; load_reports and read_imap turn that into an ``incomplete`` entry.
    """

    def __init__(self, max_sources=MAX_SOURCES, max_bytes=MAX_RUN_BYTES, max_seconds=MAX_RUN_SECONDS, clock=time.monotonic):
        self.max_sources = max_sources
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds
        self.clock = clock
        self.deadline = clock() + max_seconds
        self.sources = 0
        self.bytes_read = 0

    def remaining_seconds(self):
        return self.deadline - self.clock()

    def check_time(self):
        if self.clock() > self.deadline:
            raise BudgetExhausted('stopped after %g seconds (max_seconds)' % self.max_seconds)

    def charge(self, count):
        """Count ``count`` bytes read; raises BudgetExhausted past max_bytes or max_seconds."""
        self.bytes_read += count
        if self.bytes_read > self.max_bytes:
            raise BudgetExhausted('stopped after reading %d bytes (max_bytes)' % self.max_bytes)
        self.check_time()

    def count_source(self):
        """Count one more report file or mail; raises BudgetExhausted past max_sources or max_seconds."""
        if self.sources >= self.max_sources:
            raise BudgetExhausted('stopped after %d report files and mails (max_sources)' % self.max_sources)
        self.sources += 1
        self.check_time()


class Report(object):
    """One RFC 8460 aggregate report, checked and normalised (domains as A-labels, times as UTC datetimes)."""

    def __init__(self, organization, report_id, start, end, policies, contact=None, source=None, message_id=None):
        self.organization = organization
        self.report_id = report_id
        self.start = start
        self.end = end
        self.policies = policies
        self.contact = contact
        self.source = source
        self.message_id = message_id

    @property
    def domains(self):
        return sorted(set(policy['domain'] for policy in self.policies))

    def to_dict(self):
        return {
            'organization': self.organization, 'report_id': self.report_id, 'contact': self.contact,
            'start': format_datetime(self.start), 'end': format_datetime(self.end),
            'source': self.source, 'message_id': self.message_id, 'policies': self.policies,
        }


class ReportSet(object):
    """What a reader found: usable reports, malformed ones (source, message id, reason) and sources that hold no report."""

    def __init__(self):
        self.reports = []
        self.malformed = []
        self.non_reports = []
        self.incomplete = []
        self.sources_read = 0

    def extend(self, other):
        self.reports.extend(other.reports)
        self.malformed.extend(other.malformed)
        self.non_reports.extend(other.non_reports)
        self.incomplete.extend(other.incomplete)
        self.sources_read += other.sources_read
        return self

    def add_incomplete(self, source, reason):
        """A source (or the rest of one) that was not read: a bound was reached, or it could not be listed."""
        self.incomplete.append({'source': source, 'reason': reason})

    def add_malformed(self, source, reason, message_id=None, domains=()):
        self.malformed.append({'source': source, 'message_id': message_id, 'reason': reason, 'domains': sorted(domains)})

    def add_non_report(self, source, reason, message_id=None):
        self.non_reports.append({'source': source, 'message_id': message_id, 'reason': reason})


# ---------------------------------------------------------------------------------------------------------------
# Times


def parse_datetime(value):
    """An RFC 3339 date-time as an aware UTC datetime; a missing offset is read as UTC. Raises ValueError."""
    if not isinstance(value, str):
        raise ValueError('not a string')
    match = _DATETIME.match(value.strip())
    if not match:
        raise ValueError('not an RFC 3339 date-time: %r' % value[:40])
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    second = min(second, 59)  # a leap second is read as the second before it
    result = datetime.datetime(year, month, day, hour, minute, second, tzinfo=_UTC)
    offset = match.group(8)
    if offset and offset not in ('Z', 'z'):
        sign = 1 if offset[0] == '+' else -1
        result -= sign * datetime.timedelta(hours=int(offset[1:3]), minutes=int(offset[4:6]))
    return result


def format_datetime(value):
    return value.astimezone(_UTC).strftime('%Y-%m-%dT%H:%M:%SZ') if value else None


def window_bound(value, now=None, end_of_day=False):
    """The start (or end) of a date window as a UTC datetime.

    ``value`` is None, a number of days before ``now`` (int or digits), a ``date``/``datetime``, a date
    ``YYYY-MM-DD`` (its start, or with ``end_of_day`` the start of the next day) or an RFC 3339 date-time.
    Raises ValueError for anything else.
    """
    if value is None or value == '':
        return None
    now = now or datetime.datetime.now(_UTC)
    if isinstance(value, bool):
        raise ValueError('a boolean is not a date')
    if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
        days = int(value)
        if days < 0:
            raise ValueError('a number of days must not be negative')
        return now - datetime.timedelta(days=days)
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=_UTC)
    if isinstance(value, datetime.date):
        value = value.isoformat()
    if isinstance(value, str):
        match = _DATE.match(value.strip())
        if match:
            day = datetime.datetime(int(match.group(1)), int(match.group(2)), int(match.group(3)), tzinfo=_UTC)
            return day + datetime.timedelta(days=1) if end_of_day else day
        return parse_datetime(value)
    raise ValueError('not a number of days, a date or a date-time: %r' % (value,))


# ---------------------------------------------------------------------------------------------------------------
# One report (RFC 8460 section 4.4)


def gunzip(data, limit=MAX_REPORT_BYTES):
    """Decompress gzip ``data`` (all members) up to ``limit`` bytes. Raises ReportError."""
    out = b''
    while data:
        decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += decompressor.decompress(data, limit + 1 - len(out))
        except zlib.error as exc:
            raise ReportError('gzip data is corrupt: %s' % exc)
        if len(out) > limit or decompressor.unconsumed_tail:
            raise ReportError('larger than %d bytes when decompressed' % limit)
        if not decompressor.eof:
            raise ReportError('gzip data is truncated')
        data = decompressor.unused_data
    return out


_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_JSON_NOT_BRACKET = re.compile(r'[^\[\]{}]+')


def json_depth_exceeds(text, limit=MAX_JSON_DEPTH):
    """True when JSON ``text`` (str) nests arrays and objects deeper than ``limit``, checked without recursion.

    Brackets inside strings do not count; an unterminated string counts its brackets (the text is not JSON anyway).
    """
    depth = 0
    for char in _JSON_NOT_BRACKET.sub('', _JSON_STRING.sub('', text)):
        if char in '[{':
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def load_json(data, max_depth=MAX_JSON_DEPTH):
    """``json.loads`` with the nesting bounded first: deep input is a ReportError, never a RecursionError."""
    if isinstance(data, (bytes, bytearray)):
        try:
            data = bytes(data).decode(json.detect_encoding(data), 'surrogatepass')
        except (UnicodeDecodeError, LookupError) as exc:
            raise ReportError('not JSON: %s' % _clip(str(exc), 120))
    if json_depth_exceeds(data, max_depth):
        raise ReportError('not JSON this reader accepts: arrays and objects nested deeper than %d levels' % max_depth)
    try:
        return json.loads(data)
    except RecursionError:
        raise ReportError('not JSON this reader accepts: nested too deeply to decode')
    except ValueError as exc:
        raise ReportError('not JSON: %s' % _clip(str(exc), 120))


def parse_report(data, source=None, message_id=None, default_domain=None):
    """Check one report against the RFC 8460 section 4.4 schema and return it as a Report.

    ``data`` is the JSON text (bytes, gzip or not, or str) or the already decoded JSON object.
    ``default_domain`` (the TLS-Report-Domain header of the mail, RFC 8460 section 5.3) stands in for a
    missing policy-domain, which some senders leave out for policy-type no-policy-found.
    Raises ReportError naming the first field that is wrong.
    """
    if isinstance(data, (bytes, bytearray)):
        data = bytes(data)
        if data[:2] == _GZIP_MAGIC:
            data = gunzip(data)
        if len(data) > MAX_REPORT_BYTES:
            raise ReportError('larger than %d bytes' % MAX_REPORT_BYTES)
    if isinstance(data, (bytes, str)):
        data = load_json(data)
    if not isinstance(data, dict):
        raise ReportError('the report is not a JSON object')
    organization = _string(data, 'organization-name', 'organization-name')
    report_id = _string(data, 'report-id', 'report-id')
    contact = _string(data, 'contact-info', 'contact-info', required=False)
    date_range = data.get('date-range')
    if not isinstance(date_range, dict):
        raise ReportError('date-range is missing or not an object')
    start = _datetime(date_range, 'start-datetime')
    end = _datetime(date_range, 'end-datetime')
    if end < start:
        raise ReportError('date-range ends before it starts')
    entries = data.get('policies')
    if not isinstance(entries, list):
        raise ReportError('policies is missing or not an array')
    policies = [_policy(entry, 'policies[%d]' % index, default_domain) for index, entry in enumerate(entries)]
    return Report(organization, report_id, start, end, policies, contact=contact, source=source, message_id=message_id)


def _policy(entry, where, default_domain):
    if not isinstance(entry, dict):
        raise ReportError('%s is not an object' % where)
    policy = entry.get('policy')
    if not isinstance(policy, dict):
        raise ReportError('%s.policy is missing or not an object' % where)
    policy_type = policy.get('policy-type')
    if policy_type is None:
        raise ReportError('%s.policy.policy-type is missing' % where)
    if policy_type not in POLICY_TYPES:
        raise ReportError('%s.policy.policy-type is %s, not one of %s' % (where, _clip(repr(policy_type)), ', '.join(POLICY_TYPES)))
    raw_domain = policy.get('policy-domain')
    if raw_domain is None and default_domain:
        raw_domain = default_domain
    if not isinstance(raw_domain, str):
        raise ReportError('%s.policy.policy-domain is missing or not a string' % where)
    try:
        domain = normalize_domain(raw_domain)
    except DomainError as exc:
        raise ReportError('%s.policy.policy-domain %r is not a domain name: %s' % (where, _clip(raw_domain), exc))
    summary = entry.get('summary')
    if not isinstance(summary, dict):
        raise ReportError('%s.summary is missing or not an object' % where)
    details = entry.get('failure-details', [])
    if not isinstance(details, list):
        raise ReportError('%s.failure-details is not an array' % where)
    return {
        'type': policy_type,
        'domain': domain,
        'strings': _string_list(policy, 'policy-string', '%s.policy.policy-string' % where),
        'mx_patterns': [_host(item) for item in _string_list(policy, 'mx-host', '%s.policy.mx-host' % where)],
        'successful_sessions': _count(summary, 'total-successful-session-count', '%s.summary' % where),
        'failed_sessions': _count(summary, 'total-failure-session-count', '%s.summary' % where),
        'failures': [_failure(item, '%s.failure-details[%d]' % (where, index)) for index, item in enumerate(details)],
    }


def _failure(item, where):
    if not isinstance(item, dict):
        raise ReportError('%s is not an object' % where)
    result_type = item.get('result-type')
    if not isinstance(result_type, str) or not result_type:
        raise ReportError('%s.result-type is missing or not a string' % where)
    failure = {'result_type': result_type, 'count': _count(item, 'failed-session-count', where)}
    for key in ('sending-mta-ip', 'receiving-mx-hostname', 'receiving-mx-helo', 'receiving-ip',
                'additional-information', 'failure-reason-code'):
        failure[key.replace('-', '_')] = _string(item, key, '%s.%s' % (where, key), required=False)
    if failure['receiving_mx_hostname']:
        failure['receiving_mx_hostname'] = _host(failure['receiving_mx_hostname'])
    return failure


def _string(data, key, where, required=True):
    value = data.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ReportError('%s is missing or not a string' % where)
    return value


def _string_list(data, key, where):
    value = data.get(key, [])
    if isinstance(value, str):  # a single pattern where the schema wants an array
        value = [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ReportError('%s is not an array of strings' % where)
    return value


def _count(data, key, where):
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ReportError('%s.%s is missing or not a whole number >= 0' % (where, key))
    return value


def _datetime(data, key):
    try:
        return parse_datetime(data.get(key))
    except ValueError as exc:
        raise ReportError('date-range.%s is missing or invalid: %s' % (key, exc))


def _host(name):
    return comparable_name(name.strip())  # A-labels, as matching compares them (RFC 6125 section 6.4.2)


def _clip(value, limit=60):
    return clip(value, limit)


def domains_named(data):
    """Best effort: the policy domains a (possibly malformed) report names, so its domains learn of it."""
    found = set()
    try:
        if isinstance(data, (bytes, str)):
            data = load_json(gunzip(data) if isinstance(data, bytes) and data[:2] == _GZIP_MAGIC else data)
        for entry in data.get('policies') or []:
            found.add(normalize_domain(entry['policy']['policy-domain']))
    except (ValueError, TypeError, KeyError, AttributeError, ReportError):
        pass
    return found


# ---------------------------------------------------------------------------------------------------------------
# Mail (RFC 8460 section 5.3)


# MIME is split here, not by email.message_from_bytes: Python's parser recurses once per nesting level
# (RecursionError at about 1,000) and reads every line of every part (seconds for a 20 MB mail). This reader
# walks the structure without recursion, finds boundaries with bytes.find, parses only header blocks and
# decodes only the parts that carry a report.
MAX_MIME_PARTS = 1000                   # parts of any kind in one mail
MAX_MIME_HEADER_BYTES = 256 * 1024      # one header block


def _entity(data):
    """(headers as an email.message.Message without body, body bytes) of one entity (RFC 5322 section 2.1)."""
    if data[:1] == b'\n' or data[:2] == b'\r\n':
        return email.message.Message(), data[1:] if data[:1] == b'\n' else data[2:]
    limit = MAX_MIME_HEADER_BYTES + 3
    ends = [position for position in (data.find(b'\n\n', 0, limit), data.find(b'\n\r\n', 0, limit)) if position >= 0]
    end = min(ends) if ends else len(data)
    if end > MAX_MIME_HEADER_BYTES:
        raise ReportError('a MIME header block longer than %d bytes' % MAX_MIME_HEADER_BYTES)
    body_start = end + (2 if data[end:end + 2] == b'\n\n' else 3)
    return email.parser.BytesHeaderParser().parsebytes(data[:end + 1]), data[body_start:]


def _multipart_bodies(body, boundary):
    """The bodies of the parts of a multipart body (RFC 2046 section 5.1.1): between delimiter lines
    ``--boundary`` (at the start of a line, transport padding allowed), up to the close delimiter."""
    delimiter = b'--' + boundary
    bodies = []
    start = None
    position = 0
    while True:
        position = body.find(delimiter, position)
        if position < 0:
            break
        line_end = body.find(b'\n', position)
        line_end = len(body) if line_end < 0 else line_end
        rest = body[position + len(delimiter):line_end].rstrip(b'\r\t ')
        if (position == 0 or body[position - 1:position] == b'\n') and rest in (b'', b'--'):
            if start is not None:
                end = position - (2 if body[position - 2:position] == b'\r\n' else 1)
                bodies.append(body[start:max(start, end)])
                if len(bodies) > MAX_MIME_PARTS:
                    raise ReportError('a mail with more than %d MIME parts' % MAX_MIME_PARTS)
            if rest == b'--':
                break
            start = line_end + 1
        position = line_end
    return bodies


def _leaf_parts(data, max_depth=MAX_MIME_CONTAINERS):
    """The non-container parts of a mail as (header-only Message, raw body) in order;
    walked without recursion, at most ``max_depth`` multipart/message levels deep. Raises ReportError."""
    leaves = []
    stack = [(data, 0, 'text/plain')]
    seen = 0
    while stack:
        raw, depth, default_type = stack.pop()
        seen += 1
        if seen > MAX_MIME_PARTS:
            raise ReportError('a mail with more than %d MIME parts' % MAX_MIME_PARTS)
        headers, body = _entity(raw)
        headers.set_default_type(default_type)
        maintype = headers.get_content_maintype()
        boundary = headers.get_boundary() if maintype == 'multipart' else None
        if maintype == 'message' and headers.get_content_subtype() in ('rfc822', 'global') or boundary:
            if depth >= max_depth:
                raise ReportError('MIME parts nested deeper than %d levels' % max_depth)
            if boundary:
                try:
                    encoded = boundary.encode('ascii', 'surrogateescape')
                except UnicodeEncodeError:
                    raise ReportError('a MIME boundary that is not ASCII')
                # RFC 2046 section 5.1.5: in a multipart/digest a part is a message by default.
                inner = 'message/rfc822' if headers.get_content_subtype() == 'digest' else 'text/plain'
                stack.extend((part, depth + 1, inner) for part in reversed(_multipart_bodies(body, encoded)))
            else:
                stack.append((body, depth + 1, 'text/plain'))
            continue
        leaves.append((headers, body))
    return leaves


def report_parts(data):
    """The MIME parts of a mail (bytes) that carry a report: tlsrpt media types, or JSON/gzip with a report
    file name; as Messages whose ``get_payload(decode=True)`` gives the report. Raises ReportError for a
    structure nested deeper than MAX_MIME_CONTAINERS or with more than MAX_MIME_PARTS parts.
    """
    parts = []
    for part, body in _leaf_parts(data):
        media_type = part.get_content_type()
        filename = (part.get_filename() or '').lower()
        if media_type in (MEDIA_TYPE_JSON, MEDIA_TYPE_GZIP) or (
                media_type in _LOOSE_MEDIA_TYPES and filename.endswith(_REPORT_FILE_SUFFIXES)):
            part.set_payload(body.decode('ascii', 'surrogateescape'))  # as Python's parser stores it
            parts.append(part)
    return parts


def read_message(data, source, found=None):
    """Add the reports attached to one mail (raw bytes) to ``found`` (a ReportSet, returned)."""
    found = found if found is not None else ReportSet()
    found.sources_read += 1
    try:
        headers = _entity(data)[0]
    except ReportError as exc:
        found.add_malformed(source, str(exc))
        return found
    message_id = _header(headers, 'Message-ID')
    default_domain = _header(headers, 'TLS-Report-Domain')
    try:
        parts = report_parts(data)
    except ReportError as exc:
        found.add_malformed(source, str(exc), message_id, _domains_of_header(default_domain))
        return found
    if not parts:
        reason = 'mail without a TLS-RPT report (no %s or %s part)' % (MEDIA_TYPE_JSON, MEDIA_TYPE_GZIP)
        found.add_non_report(source, reason, message_id)
        return found
    for index, part in enumerate(parts):
        where = source if len(parts) == 1 else '%s (part %d)' % (source, index + 1)
        payload = part.get_payload(decode=True) or b''
        try:
            if part.get_content_type() == MEDIA_TYPE_GZIP and payload[:2] != _GZIP_MAGIC:
                raise ReportError('%s part is not gzip data' % MEDIA_TYPE_GZIP)
            found.reports.append(parse_report(payload, where, message_id, default_domain))
        except ReportError as exc:
            found.add_malformed(where, str(exc), message_id, domains_named(payload) or _domains_of_header(default_domain))
    return found


def _domains_of_header(value):
    try:
        return set([normalize_domain(value)]) if value else set()
    except DomainError:
        return set()


def _header(message, name):
    value = message.get(name)
    if value is None:
        return None
    value = str(value).strip()
    return value or None


# ---------------------------------------------------------------------------------------------------------------
# Files and directories


def load_reports(paths, budget=None):
    """Read every report under ``paths`` (files or directories, recursively) into a ReportSet.

    A file may be a report (JSON, or gzip'd JSON), one mail (a Maildir or .eml file) or an mbox. In a Maildir
    only ``cur`` and ``new`` (and Maildir++ subfolders) are read. Links are followed, but no directory or file
    is read twice (they are told apart by device and inode), so a link back to a parent ends there.
    ``budget`` (a ReadBudget, shared with read_imap) bounds the sources, bytes and time of the run.
    Raises TlsrptSourceError for a path that does not exist; everything else is counted in the ReportSet:
    a directory that cannot be listed, or the rest of the walk once a bound is reached, in ``incomplete``.
    """
    budget = budget if budget is not None else ReadBudget()
    found = ReportSet()
    for path in paths:
        if not os.path.exists(path):
            raise TlsrptSourceError('path %s does not exist' % path)
    walk = _Walk(found, budget)
    try:
        for path in paths:
            walk.read(path)
    except BudgetExhausted as exc:
        found.add_incomplete(walk.current, '%s; the files from here on were not read' % exc)
    return found


def _is_maildir(path):
    return os.path.isdir(os.path.join(path, 'cur')) and os.path.isdir(os.path.join(path, 'new'))


class _Walk(object):
    """A depth-first walk in name order without recursion that reads each directory and file once."""

    def __init__(self, found, budget):
        self.found = found
        self.budget = budget
        self.seen = set()
        self.current = None

    def read(self, top):
        stack = [(top, 0)]
        while stack:
            path, depth = stack.pop()
            self.current = path
            self.budget.check_time()
            try:
                info = os.stat(path)
            except OSError as exc:  # a dangling link, as a file that cannot be opened
                self.found.add_malformed(path, 'cannot read: %s' % (exc.strerror or exc))
                continue
            key = (info.st_dev, info.st_ino)
            if key in self.seen:
                continue  # reached again through a link: read once
            self.seen.add(key)
            if stat.S_ISREG(info.st_mode):
                read_file(path, self.found, self.budget)
            elif stat.S_ISDIR(info.st_mode):
                if depth >= MAX_DIRECTORY_DEPTH:
                    self.found.add_incomplete(path, 'deeper than %d directory levels; not read' % MAX_DIRECTORY_DEPTH)
                    continue
                stack.extend((child, depth + 1) for child in reversed(self._children(path)))
            # Sockets, FIFOs and devices are no report files (reading a FIFO would wait forever).

    def _children(self, path):
        try:
            names = sorted(os.listdir(path))
            if _is_maildir(path):
                return [os.path.join(path, 'cur'), os.path.join(path, 'new')] + [
                    os.path.join(path, name) for name in names
                    if name.startswith('.') and _is_maildir(os.path.join(path, name))]
        except OSError as exc:
            self.found.add_incomplete(path, 'cannot list the directory: %s' % (exc.strerror or exc))
            return []
        return [os.path.join(path, name) for name in names]


def read_file(path, found=None, budget=None):
    """Add what one file holds to ``found`` (a ReportSet, returned): a report, a mail, or an mbox of mails.

    Reads at most MAX_MESSAGE_BYTES + 1 bytes of a report or mail file, and an mbox one mail at a time.
    Raises BudgetExhausted when ``budget`` (a ReadBudget) runs out.
    """
    found = found if found is not None else ReportSet()
    budget = budget if budget is not None else ReadBudget()
    named_like_report = path.lower().endswith(_REPORT_FILE_SUFFIXES)
    try:
        with open(path, 'rb') as handle:
            head = handle.read(5)
            handle.seek(0)
            if head == b'From ':
                _read_mbox(handle, path, found, budget)
                return found
            budget.count_source()
            data = handle.read(MAX_MESSAGE_BYTES + 1)
    except OSError as exc:
        found.add_malformed(path, 'cannot read: %s' % (exc.strerror or exc))
        return found
    budget.charge(len(data))
    if len(data) > MAX_MESSAGE_BYTES:
        found.add_malformed(path, 'larger than %d bytes' % MAX_MESSAGE_BYTES)
        return found
    start = data.lstrip()[:1]
    if data[:2] == _GZIP_MAGIC or start in (b'{', b'[') or data[:3] == b'\xef\xbb\xbf' or named_like_report:
        found.sources_read += 1
        try:
            found.reports.append(parse_report(_strip_bom(data), path))
        except ReportError as exc:
            found.add_malformed(path, str(exc), domains=domains_named(data))
    elif _HEADER_LINE.match(data):
        read_message(data, path, found)
    else:
        found.add_non_report(path, 'not a report, a mail or an mbox')
    return found


def _strip_bom(data):
    return data[3:] if data[:3] == b'\xef\xbb\xbf' else data


_MBOX_PIECE = 64 * 1024


def _read_mbox(handle, path, found, budget):
    for index, data in enumerate(_mbox_mails(handle, budget)):
        source = '%s[%d]' % (path, index + 1)
        if data is None:
            found.sources_read += 1
            found.add_malformed(source, 'larger than %d bytes' % MAX_MESSAGE_BYTES)
        else:
            read_message(data, source, found)


def _mbox_mails(handle, budget, limit=None):
    """The mails of an mbox (each begins at a line starting with ``From ``, as Python's mailbox.mbox splits
    them) as bytes without that line, or None for a mail larger than ``limit``; read in pieces of at most
    64 KiB, so a huge mail or line is never held whole."""
    limit = MAX_MESSAGE_BYTES if limit is None else limit
    pieces = None
    size = 0
    at_line_start = True
    while True:
        piece = handle.readline(_MBOX_PIECE)
        if not piece:
            break
        budget.charge(len(piece))
        if at_line_start and piece.startswith(b'From '):
            if pieces is not None:
                yield None if size > limit else b''.join(pieces)
            budget.count_source()
            pieces, size = [], 0
        elif pieces is not None:
            size += len(piece)
            if size <= limit:
                pieces.append(piece)
            else:
                pieces = []  # too large: only its size is kept
        at_line_start = piece.endswith(b'\n')
    if pieces is not None:
        yield None if size > limit else b''.join(pieces)


# ---------------------------------------------------------------------------------------------------------------
# IMAP (RFC 9051 / 3501) over TLS


IMAP_SECURITY = ('tls', 'starttls')
IMAP_DEFAULT_PORTS = {'tls': 993, 'starttls': 143}
# What the reader takes from the server at most, counted as it reads (never what the server announces):
IMAP_LINE_BYTES = 4 * 1024 * 1024       # one response line (a SEARCH answer of 100,000 UIDs is about 0.8 MB)
IMAP_COMMAND_BYTES = 16 * 1024 * 1024   # everything answering one command other than a message fetch
IMAP_COMMAND_LINES = 1000               # response lines answering one command (a batch of sizes needs 50)
_FETCH_BATCH = 50
_FETCH_EXTRA = 64 * 1024                # the response lines around one message's literal
_UID = re.compile(br'UID (\d+)')
_SIZE = re.compile(br'RFC822\.SIZE (\d+)')


class ImapLimitError(Exception):
    """The server sent more than one command's answer may hold (a line, a literal, a stream of responses)."""


class _BoundedReader(object):
    """Mixin for imaplib's clients: readline() and read() bounded by what is actually read.

    imaplib reads a literal whole as soon as the server announces its size (``{2147483648}`` means 2 GB in
    memory) and keeps untagged responses until the command ends. Here the answer to one command may hold at
    most ``allow()`` bytes in at most IMAP_COMMAND_LINES lines, a line at most IMAP_LINE_BYTES, the run what its
    ReadBudget allows, and no read waits past the budget's deadline. A literal larger than what is left is
    refused before it is read.
    """

    def _bounded_init(self, budget, timeout):
        self._bounded_budget = budget
        self._bounded_timeout = timeout
        self.allow(IMAP_COMMAND_BYTES)

    def allow(self, count):
        """Let the answer to the next command hold at most ``count`` bytes."""
        self._bounded_allowance = count
        self._bounded_spent = 0
        self._bounded_lines = 0

    def _take(self, count):
        self._bounded_spent += count
        if self._bounded_spent > self._bounded_allowance:
            raise ImapLimitError('the server sent more than %d bytes in answer to one command' % self._bounded_allowance)
        self._bounded_budget.charge(count)

    def _peek(self):
        left = self._bounded_budget.remaining_seconds()
        if left <= 0:
            self._bounded_budget.check_time()
        self.sock.settimeout(max(0.05, min(self._bounded_timeout, left)))
        return self.file.peek(1)  # what is buffered, or one read from the socket

    def readline(self):
        self._bounded_lines += 1
        if self._bounded_lines > IMAP_COMMAND_LINES:
            raise ImapLimitError('the server sent more than %d response lines in answer to one command' % IMAP_COMMAND_LINES)
        line = []
        size = 0
        while True:
            head = self._peek()
            if not head:
                break
            end = head.find(b'\n')
            count = len(head) if end < 0 else end + 1
            if size + count > IMAP_LINE_BYTES:
                raise ImapLimitError('the server sent a response line longer than %d bytes' % IMAP_LINE_BYTES)
            self._take(count)
            line.append(self.file.read(count))
            size += count
            if end >= 0:
                break
        return b''.join(line)

    def read(self, size):
        left = self._bounded_allowance - self._bounded_spent
        if size > left:
            raise ImapLimitError('the server announced a literal of %d bytes where at most %d were asked for' % (size, left))
        chunks = []
        while size > 0:
            head = self._peek()
            if not head:
                break
            count = min(len(head), size)
            self._take(count)
            chunks.append(self.file.read(count))
            size -= count
        return b''.join(chunks)


class _IMAP4(_BoundedReader, imaplib.IMAP4):
    def __init__(self, host, port, timeout, budget):
        self._bounded_init(budget, timeout)
        imaplib.IMAP4.__init__(self, host, port, timeout=timeout)


class _IMAP4_SSL(_BoundedReader, imaplib.IMAP4_SSL):
    def __init__(self, host, port, timeout, budget, ssl_context):
        self._bounded_init(budget, timeout)
        imaplib.IMAP4_SSL.__init__(self, host, port, ssl_context=ssl_context, timeout=timeout)


def _quote_mailbox(name):
    return '"%s"' % name.replace('\\', '\\\\').replace('"', '\\"')


def _imap_text(data):
    """The text of an imaplib response, short; never an argument we sent (the password is never echoed)."""
    if isinstance(data, (list, tuple)):
        data = b' '.join(item for item in data if isinstance(item, bytes))
    if isinstance(data, bytes):
        data = data.decode('utf-8', 'replace')
    return _clip(str(data), 200)


_IMAP_ERRORS = (imaplib.IMAP4.error, OSError, ssl.SSLError)


def read_imap(host, username, password, port=None, security='tls', folder='INBOX', ca_path=None, timeout=30.0,
              since=None, ssl_context=None, budget=None):
    """Read the reports in one IMAP folder (read-only: EXAMINE and BODY.PEEK, no flag changes) into a ReportSet.

    The connection is always TLS (``tls`` - IMAPS, or ``starttls``) with the certificate checked against
    ``ca_path`` or the system store and the name in ``host``. ``since`` (a UTC datetime) narrows the search
    to mail that arrived from the day before it on: a report is mailed after the period it covers.
    Mail is fetched one message at a time (at most MAX_MESSAGE_BYTES + 1 octets of each, RFC 9051 section
    6.4.5 partial fetch) and read before the next, so memory holds one message; ``budget`` (a ReadBudget)
    bounds the run. Raises TlsrptSourceError when the server cannot be reached, the TLS or login fails, or
    the folder is missing. Once the folder is open, a server that sends too much, times out or drops the
    connection ends the read: what was read is kept and the rest is named in ``incomplete``.
    """
    if security not in IMAP_SECURITY:
        raise ValueError('security must be one of %s' % ', '.join(IMAP_SECURITY))
    port = port or IMAP_DEFAULT_PORTS[security]
    context = ssl_context or tls_client_context(ca_path)
    budget = budget if budget is not None else ReadBudget()
    where = 'imap://%s:%d/%s' % (host, port, folder)
    client = _imap_connect(host, port, security, context, timeout, where, budget)
    found = ReportSet()
    healthy = False  # LOGOUT waits for the server's answer: only on a connection that answered everything
    try:
        uids, prefix = _imap_open(client, username, password, folder, since, where)
        healthy = _imap_fetch(client, uids, prefix, where, found, budget)
    except (ImapLimitError, BudgetExhausted) as exc:
        found.add_incomplete(where, '%s; no message was read' % exc)
    except _IMAP_ERRORS as exc:
        raise TlsrptSourceError('IMAP %s: %s' % (where, _imap_text(str(exc))))
    finally:
        if healthy:
            try:
                client.logout()
            except (ImapLimitError, BudgetExhausted) + _IMAP_ERRORS:
                _close_quietly(client)
        else:
            _close_quietly(client)
    return found


def _imap_connect(host, port, security, context, timeout, where, budget):
    try:
        if security == 'tls':
            return _IMAP4_SSL(host, port, timeout, budget, context)
        client = _IMAP4(host, port, timeout, budget)
    except ssl.SSLCertVerificationError as exc:
        raise TlsrptSourceError('IMAP %s: the server certificate is not trusted for %s: %s; check ca_path and imap_host' % (
            where, host, exc.verify_message or exc))
    except (ImapLimitError, BudgetExhausted) + _IMAP_ERRORS as exc:
        raise TlsrptSourceError('IMAP %s: cannot connect: %s' % (where, _imap_text(str(exc))))
    try:
        if 'STARTTLS' not in client.capabilities:
            raise TlsrptSourceError('IMAP %s: the server does not offer STARTTLS; use imap_security=tls or enable STARTTLS' % where)
        client.starttls(ssl_context=context)
    except ssl.SSLCertVerificationError as exc:
        _close_quietly(client)
        raise TlsrptSourceError('IMAP %s: the server certificate is not trusted for %s: %s; check ca_path and imap_host' % (
            where, host, exc.verify_message or exc))
    except (ImapLimitError, BudgetExhausted) + _IMAP_ERRORS as exc:
        _close_quietly(client)
        raise TlsrptSourceError('IMAP %s: STARTTLS failed: %s' % (where, _imap_text(str(exc))))
    except TlsrptSourceError:
        _close_quietly(client)
        raise
    return client


def _close_quietly(client):
    try:
        client.shutdown()
    except _IMAP_ERRORS:
        pass


def _imap_open(client, username, password, folder, since, where):
    """Log in, open ``folder`` read-only and search it: (UIDs, the RFC 5092 prefix of their sources)."""
    try:
        client.login(username, password)
    except (ImapLimitError, imaplib.IMAP4.error) as exc:
        raise TlsrptSourceError('IMAP %s: login refused: %s; check imap_username and imap_password' % (where, _imap_text(str(exc))))
    client.untagged_responses.clear()
    status, data = client.select(_quote_mailbox(folder), readonly=True)
    if status != 'OK':
        raise TlsrptSourceError('IMAP %s: cannot open folder %s: %s; check imap_folder' % (where, folder, _imap_text(data)))
    uid_validity = None
    status, data = client.response('UIDVALIDITY')
    if data and data[0]:
        uid_validity = data[0].decode('ascii', 'replace')
    client.untagged_responses.clear()
    criteria = ['ALL']
    if since is not None:
        criteria = ['SINCE', (since - datetime.timedelta(days=1)).strftime('%d-%b-%Y')]
    status, data = client.uid('SEARCH', *criteria)
    if status != 'OK':
        raise TlsrptSourceError('IMAP %s: SEARCH failed: %s' % (where, _imap_text(data)))
    uids = [uid.decode('ascii') for uid in (data[0] or b'').split() if uid.isdigit()]
    return uids, ('%s;UIDVALIDITY=%s' % (where, uid_validity) if uid_validity else where)


def _imap_fetch(client, uids, prefix, where, found, budget):
    """Read the messages ``uids`` into ``found``; True when the connection is still usable at the end."""
    source = where
    done = 0
    try:
        for offset in range(0, len(uids), _FETCH_BATCH):
            batch = uids[offset:offset + _FETCH_BATCH]
            sizes = _imap_sizes(client, batch, where)
            for uid in batch:
                source = '%s/;UID=%s' % (prefix, uid)
                if sizes.get(uid, 0) > MAX_MESSAGE_BYTES:
                    found.sources_read += 1
                    found.add_malformed(source, 'message larger than %d bytes' % MAX_MESSAGE_BYTES)
                else:
                    budget.count_source()
                    raw = _imap_body(client, uid, where)
                    if raw is None:
                        found.add_non_report(source, 'the server returned no message for this UID')
                    elif len(raw) > MAX_MESSAGE_BYTES:
                        found.sources_read += 1
                        found.add_malformed(source, 'message larger than %d bytes' % MAX_MESSAGE_BYTES)
                    else:
                        read_message(raw, source, found)
                    del raw
                done += 1
    except (ImapLimitError, BudgetExhausted) + _IMAP_ERRORS as exc:
        found.add_incomplete(source, '%s; %d of %d message(s) were not read' % (_imap_text(str(exc)), len(uids) - done, len(uids)))
        return False
    return True


def _imap_sizes(client, uids, where):
    client.allow(IMAP_COMMAND_BYTES)
    status, data = client.uid('FETCH', ','.join(uids), '(UID RFC822.SIZE)')
    client.untagged_responses.clear()
    if status != 'OK':
        raise imaplib.IMAP4.error('FETCH failed: %s' % _imap_text(data))
    sizes = {}
    for item in data:
        line = item[0] if isinstance(item, tuple) else item
        if isinstance(line, bytes):
            uid, size = _UID.search(line), _SIZE.search(line)
            if uid and size:
                sizes[uid.group(1).decode('ascii')] = int(size.group(1))
    return sizes


def _imap_body(client, uid, where):
    """One message (at most MAX_MESSAGE_BYTES + 1 octets of it), or None when the server returns none."""
    client.allow(MAX_MESSAGE_BYTES + 1 + _FETCH_EXTRA)
    status, data = client.uid('FETCH', uid, '(UID BODY.PEEK[]<0.%d>)' % (MAX_MESSAGE_BYTES + 1))
    client.untagged_responses.clear()
    if status != 'OK':
        raise imaplib.IMAP4.error('FETCH failed: %s' % _imap_text(data))
    body = None
    for item in data:
        if isinstance(item, tuple) and len(item) == 2:
            found_uid = _UID.search(item[0])
            if found_uid and found_uid.group(1).decode('ascii') == uid and body is None:
                body = item[1]
    return body


# ---------------------------------------------------------------------------------------------------------------
# Summary


def _new_domain(domain):
    return {
        'domain': domain, 'reports': 0, 'successful_sessions': 0, 'failed_sessions': 0, 'failure_types': {},
        'policy_types': {}, 'organizations': [], 'date_range': None, 'mx_patterns': [], 'mx_hosts': {},
        'mx_hosts_not_covered': [], 'malformed_reports': 0, 'ready': False, 'reasons': [],
    }


def _widen(date_range, start, end):
    if date_range is None:
        return {'start': start, 'end': end}
    return {'start': min(date_range['start'], start), 'end': max(date_range['end'], end)}


def _add(counts, key, value):
    counts[key] = counts.get(key, 0) + value


def normalize_domains(domains):
    """The policy domains to summarise, normalised and without repeats. Raises ValueError naming a bad entry."""
    wanted = []
    for name in domains:
        try:
            normalized = normalize_domain(name)
        except DomainError as exc:
            raise ValueError('domains: %r is not a domain name: %s' % (name, exc))
        if normalized not in wanted:
            wanted.append(normalized)
    return wanted


def summarize_reports(reports, domains=None, since=None, until=None, malformed=None, now=None, incomplete=None):
    """Sum what senders reported, per policy domain and per MX host, within a date window.

    ``reports``: Report objects (from load_reports/read_imap/parse_report) or RFC 8460 JSON objects (dicts);
    a dict that does not follow the schema is counted as malformed. ``domains``: only these policy domains
    (any case, trailing dot, IDN), each listed even without reports; None for every domain seen.
    ``since``/``until``: window bounds as window_bound() reads them (days before ``now``, dates, date-times);
    a report counts when its date-range overlaps the window. ``malformed``: the malformed entries of the
    readers, listed in the result and held against the domains they name. ``incomplete``: what the readers
    left unread (ReportSet.incomplete), listed in the result and held against every domain.
    Duplicate reports (same organization-name and report-id) count once.

    Returns a dict: ``domains`` keyed by domain (successful_sessions, failed_sessions, failure_types,
    policy_types, organizations, date_range, mx_patterns, mx_hosts, mx_hosts_not_covered, malformed_reports,
    ready, reasons), and
    the same totals over every counted report, plus reports, duplicates, outside_window, malformed_count,
    malformed, incomplete and window. ``ready`` is true when reports cover the domain in the window, none
    reports a failed session, none naming it was malformed and every source was read in full; ``reasons``
    holds the codes of what is missing.
    """
    now = now or datetime.datetime.now(_UTC)
    start_bound = window_bound(since, now)
    end_bound = window_bound(until, now, end_of_day=True)
    wanted = None if domains is None else normalize_domains(domains)
    malformed = [dict(item) for item in (malformed or [])]
    parsed = []
    for index, item in enumerate(reports):
        if isinstance(item, Report):
            parsed.append(item)
            continue
        try:
            parsed.append(parse_report(item, source='reports[%d]' % index))
        except ReportError as exc:
            malformed.append({'source': 'reports[%d]' % index, 'message_id': None, 'reason': str(exc),
                              'domains': sorted(domains_named(item))})

    per_domain = dict((name, _new_domain(name)) for name in (wanted or []))
    totals = {'successful_sessions': 0, 'failed_sessions': 0, 'failure_types': {}}
    organizations = set()
    seen = set()
    duplicates = outside = counted = 0
    date_range = None
    for report in parsed:
        if start_bound is not None and report.end <= start_bound or end_bound is not None and report.start >= end_bound:
            outside += 1
            continue
        key = (report.organization, report.report_id)
        if key in seen:
            duplicates += 1
            continue
        seen.add(key)
        policies = [policy for policy in report.policies if wanted is None or policy['domain'] in wanted]
        if not policies and wanted is not None:
            continue
        counted += 1
        organizations.add(report.organization)
        date_range = _widen(date_range, report.start, report.end)
        for name in sorted(set(policy['domain'] for policy in policies)):
            entry = per_domain.setdefault(name, _new_domain(name))
            entry['reports'] += 1
            if report.organization not in entry['organizations']:
                entry['organizations'].append(report.organization)
            entry['date_range'] = _widen(entry['date_range'], report.start, report.end)
        for policy in policies:
            _count_policy(per_domain[policy['domain']], policy, totals)

    for item in malformed:
        for name in item.get('domains') or ():
            if name in per_domain or wanted is None:
                per_domain.setdefault(name, _new_domain(name))['malformed_reports'] += 1

    incomplete = [dict(item) for item in (incomplete or [])]
    for entry in per_domain.values():
        _finish_domain(entry, bool(incomplete))
    result = {
        'window': {'since': format_datetime(start_bound), 'until': format_datetime(end_bound)},
        'reports': counted,
        'duplicates': duplicates,
        'outside_window': outside,
        'organizations': sorted(organizations),
        'date_range': _format_range(date_range),
        'malformed_count': len(malformed),
        'malformed': malformed,
        'incomplete': incomplete,
        'domains': dict((name, per_domain[name]) for name in sorted(per_domain)),
    }
    totals['failure_types'] = dict(sorted(totals['failure_types'].items()))
    result.update(totals)
    return result


def _count_policy(entry, policy, totals):
    entry['successful_sessions'] += policy['successful_sessions']
    entry['failed_sessions'] += policy['failed_sessions']
    totals['successful_sessions'] += policy['successful_sessions']
    totals['failed_sessions'] += policy['failed_sessions']
    by_type = entry['policy_types'].setdefault(policy['type'], {'successful_sessions': 0, 'failed_sessions': 0})
    by_type['successful_sessions'] += policy['successful_sessions']
    by_type['failed_sessions'] += policy['failed_sessions']
    for pattern in policy['mx_patterns']:
        if pattern not in entry['mx_patterns']:
            entry['mx_patterns'].append(pattern)
    for failure in policy['failures']:
        _add(entry['failure_types'], failure['result_type'], failure['count'])
        _add(totals['failure_types'], failure['result_type'], failure['count'])
        host = failure['receiving_mx_hostname']
        if not host:
            continue  # e.g. sts-policy-fetch-error: no MX host was reached
        mx = entry['mx_hosts'].setdefault(host, {'failed_sessions': 0, 'failure_types': {}, 'receiving_ips': [],
                                                 'pattern': None})
        mx['failed_sessions'] += failure['count']
        _add(mx['failure_types'], failure['result_type'], failure['count'])
        if failure['receiving_ip'] and failure['receiving_ip'] not in mx['receiving_ips']:
            mx['receiving_ips'].append(failure['receiving_ip'])


def _finish_domain(entry, incomplete=False):
    entry['organizations'].sort()
    entry['mx_patterns'].sort()
    for host, mx in entry['mx_hosts'].items():
        # RFC 8461 section 4.1: which policy pattern covers the MX host senders failed at, if any.
        mx['pattern'] = matching_pattern(entry['mx_patterns'], host)
        mx['receiving_ips'].sort()
    entry['mx_hosts'] = dict((host, entry['mx_hosts'][host]) for host in sorted(entry['mx_hosts']))
    if entry['mx_patterns']:
        entry['mx_hosts_not_covered'] = [host for host, mx in entry['mx_hosts'].items() if mx['pattern'] is None]
    entry['failure_types'] = dict(sorted(entry['failure_types'].items()))
    entry['date_range'] = _format_range(entry['date_range'])
    reasons = []
    if not entry['reports']:
        reasons.append(REASON_NO_REPORTS)
    if entry['failed_sessions'] or entry['failure_types']:
        reasons.append(REASON_FAILURES)
    if entry['malformed_reports']:
        reasons.append(REASON_MALFORMED)
    if incomplete:
        reasons.append(REASON_INCOMPLETE)  # what was not read may hold failures
    entry['reasons'] = reasons
    entry['ready'] = not reasons


def _format_range(date_range):
    if date_range is None:
        return None
    return {'start': format_datetime(date_range['start']), 'end': format_datetime(date_range['end'])}
