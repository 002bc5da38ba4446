# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of the network layer, each against a real server on loopback (asyncio, in this process).

Interim responses (RFC 9110 section 15.2), DNS-ID only (RFC 8461 section 3.3, RFC 9525), Content-Encoding
only as offered, bounded decoding, one deadline, and messages for people without Python reprs.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import gzip
import os
import re
import ssl
import sys
import time
import zlib

import pytest
import trustme

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

from cn_only import cn_only_leaf  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import (  # noqa: E402
    MAX_INTERIM_RESPONSES, POLICY_PROBLEM_CODES, fetch_policy_async, resolve_and_fetch_policy)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import CATALOG  # noqa: E402
from ansible_collections.mailsec.mta_sts.plugins.module_utils.smtp import (  # noqa: E402
    MX_TLS_PROBLEM_CODES, check_starttls_async)
from ansible_collections.mailsec.mta_sts.plugins.module_utils.tls import tls_client_context  # noqa: E402

HOST = 'mta-sts.example.test'
MX = 'mx1.example.test'
POLICY = b'version: STSv1\nmode: enforce\nmx: mx1.example.test\nmax_age: 604800\n'
# what a message for people must not contain: Python reprs, OpenSSL source locations, errno brackets
REPR = re.compile(r"_ssl\.c|\w+Error\(|\w+\(\w+=|bytearray\(|\bb'|\bb\"|\[SSL|\[Errno|<[a-z_.]+ object")


@pytest.fixture(scope='module')
def pki(tmp_path_factory):
    ca = trustme.CA()
    root = tmp_path_factory.mktemp('pki')
    ca_path = str(root / 'ca.pem')
    ca.cert_pem.write_to_path(ca_path)

    def server_context(cert_pem, key_pem):
        cert_path, key_path = str(root / ('c%d.pem' % id(cert_pem))), str(root / ('k%d.pem' % id(cert_pem)))
        with open(cert_path, 'wb') as handle:
            handle.write(cert_pem)
        with open(key_path, 'wb') as handle:
            handle.write(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_path, key_path)
        return context

    good = ca.issue_cert(HOST, MX)
    contexts = {
        'good': server_context(good.cert_chain_pems[0].bytes(), good.private_key_pem.bytes()),
        'cn-only': server_context(*cn_only_leaf(ca, HOST)),
        'cn-only-mx': server_context(*cn_only_leaf(ca, MX)),
    }
    other = ca.issue_cert('www.example.test')
    contexts['other-name'] = server_context(other.cert_chain_pems[0].bytes(), other.private_key_pem.bytes())
    return {'ca_path': ca_path, 'contexts': contexts}


def _run(coroutine):
    return asyncio.run(coroutine)


async def _https(answer, context, timeout=2.0, addresses=None):
    """Serve ``answer`` (bytes, or a callable writer) once per connection over TLS; fetch with the audit's client."""
    async def handle(reader, writer):
        try:
            await reader.readuntil(b'\r\n\r\n')
            if callable(answer):
                await answer(writer)
            else:
                writer.write(answer)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, '127.0.0.1', 0, ssl=context[0])
    port = server.sockets[0].getsockname()[1]
    try:
        return await fetch_policy_async(HOST, addresses or ['127.0.0.1'], timeout, context[1], port=port)
    finally:
        server.close()


def _ok(body=POLICY, extra=b''):
    return b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n%s' % (len(body), extra, body)


def _client(pki):
    return tls_client_context(pki['ca_path'])


# --- interim responses (issue 11 item 6) -----------------------------------------------------------

@pytest.mark.parametrize('interim', [
    b'HTTP/1.1 100 Continue\r\n\r\n',
    b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n',
    b'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>; rel=preload\r\n\r\n'
    b'HTTP/1.1 102 Processing\r\n\r\n',
])
def test_interim_responses_are_read_past_never_policy_http_status(pki, interim):
    result = _run(_https(interim + _ok(), (pki['contexts']['good'], _client(pki))))
    assert result.problem is None, result.detail
    assert result.http_status == 200 and result.body == POLICY
    assert result.interim == [int(code) for code in re.findall(br'HTTP/1\.1 (1\d\d)', interim)]
    assert result.as_evidence()['interim_responses'] == result.interim


def test_interim_responses_without_end_are_bounded_and_an_http_error(pki):
    flood = b'HTTP/1.1 103 Early Hints\r\nLink: </x>; rel=preload\r\n\r\n' * 10000
    started = time.monotonic()
    result = _run(_https(flood + _ok(), (pki['contexts']['good'], _client(pki))))
    assert time.monotonic() - started < 2.0
    assert result.problem == 'http-error' and len(result.interim) == MAX_INTERIM_RESPONSES + 1
    assert 'interim (1xx) responses' in result.detail


def test_interim_then_a_non_200_final_status_is_policy_http_status(pki):
    result = _run(_https(b'HTTP/1.1 103 Early Hints\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n',
                         (pki['contexts']['good'], _client(pki))))
    assert result.problem == 'http-status' and result.http_status == 404 and result.interim == [103]


# --- DNS-ID only (issue 11 item 7) -----------------------------------------------------------------

def test_dns_id_only_client_context_never_matches_the_common_name(pki):
    assert tls_client_context().hostname_checks_common_name is False
    assert tls_client_context(pki['ca_path']).hostname_checks_common_name is False


def test_dns_id_only_policy_host_with_a_cn_only_certificate_is_a_name_mismatch(pki):
    result = _run(_https(_ok(), (pki['contexts']['cn-only'], _client(pki))))
    assert result.problem == 'cert-name-mismatch'
    assert POLICY_PROBLEM_CODES[result.problem] == 'policy-cert-name-mismatch'
    assert 'only in its subject CN' in result.detail and 'subjectAltName' in result.detail
    assert result.certificate['san'] == [] and result.certificate['common_names'] == [HOST]
    assert 'X509 error 62' in result.as_evidence()['error_detail']


def test_dns_id_only_the_same_ca_with_a_subjectaltname_passes(pki):
    """The control: only the missing DNS-ID makes the CN-only certificate fail."""
    result = _run(_https(_ok(), (pki['contexts']['good'], _client(pki))))
    assert result.problem is None and result.certificate['san'] == [HOST, MX]


def test_dns_id_only_a_certificate_for_another_name_lists_the_names_it_has(pki):
    result = _run(_https(_ok(), (pki['contexts']['other-name'], _client(pki))))
    assert result.problem == 'cert-name-mismatch'
    assert result.detail == 'the certificate is not valid for %s: it names www.example.test' % HOST


async def _smtp(context, server_tls, script=None, timeout=2.0):
    """An SMTP server with STARTTLS (server_tls) or a scripted one; the audit's STARTTLS check against it."""
    async def handle(reader, writer):
        try:
            writer.write(b'220 mx ESMTP\r\n')
            await reader.readuntil(b'\n')
            writer.write(b'250-mx\r\n250 STARTTLS\r\n')
            await reader.readuntil(b'\n')
            writer.write(b'220 ready\r\n')
            await writer.drain()
            await writer.start_tls(server_tls)
            line = await reader.readuntil(b'\n')
            if line.upper().startswith(b'QUIT'):
                writer.write(b'221 bye\r\n')
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            writer.transport.abort()

    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await check_starttls_async(MX, '127.0.0.1', port, timeout, context)
    finally:
        server.close()


def test_dns_id_only_mx_host_with_a_cn_only_certificate_is_a_name_mismatch(pki):
    facts = _run(_smtp(_client(pki), pki['contexts']['cn-only-mx']))
    assert facts['problem'] == 'cert-name-mismatch' and facts['starttls'] is True
    assert MX_TLS_PROBLEM_CODES[facts['problem']] == 'mx-cert-invalid'
    assert 'only in its subject CN' in facts['error'] and MX in facts['error']
    assert facts['certificate']['san'] == []


def test_dns_id_only_mx_host_with_a_subjectaltname_passes(pki):
    facts = _run(_smtp(_client(pki), pki['contexts']['good']))
    assert facts['problem'] is None, facts
    assert facts['tls_version'] in ('TLSv1.2', 'TLSv1.3') and MX in facts['certificate']['san']


# --- Content-Encoding only as offered, decoding bounded ---------------------------------------------

def _encoded(coding, body=POLICY):
    data = {'gzip': gzip.compress, 'x-gzip': gzip.compress,
            'deflate': zlib.compress, 'deflate-raw': lambda b: zlib.compress(b)[2:-4]}[coding](body)
    name = 'deflate' if coding == 'deflate-raw' else coding
    return _ok(data, b'Content-Encoding: %s\r\n' % name.encode('ascii'))


@pytest.mark.parametrize('coding', ['gzip', 'x-gzip', 'deflate', 'deflate-raw'])
def test_content_encoding_offered_is_decoded(pki, coding):
    result = _run(_https(_encoded(coding), (pki['contexts']['good'], _client(pki))))
    assert result.problem is None, result.detail
    assert result.body == POLICY and result.size == len(POLICY)


@pytest.mark.parametrize('header', ['br', 'zstd', 'gzip, br', 'compress'])
def test_content_encoding_not_offered_is_a_finding(pki, header):
    result = _run(_https(_ok(b'\x00\x01', b'Content-Encoding: %s\r\n' % header.encode('ascii')),
                         (pki['contexts']['good'], _client(pki))))
    assert result.problem == 'content-encoding'
    assert POLICY_PROBLEM_CODES['content-encoding'] in CATALOG
    assert header in result.detail and 'gzip, deflate' in result.detail


def test_content_encoding_identity_is_no_encoding(pki):
    result = _run(_https(_ok(extra=b'Content-Encoding: identity\r\n'), (pki['contexts']['good'], _client(pki))))
    assert result.problem is None and result.body == POLICY


def test_compressed_read_is_bounded_as_well_as_the_decoded_text(pki):
    """Incompressible data: 100 KiB of gzip expands to about as much; the read stops near 80 KiB."""
    noise = os.urandom(100 * 1024)
    result = _run(_https(_ok(gzip.compress(noise), b'Content-Encoding: gzip\r\n'),
                         (pki['contexts']['good'], _client(pki))))
    assert result.problem == 'too-large' and result.body is None
    assert result.size <= 65536 + 8192


def test_truncated_compressed_policy_is_an_http_error_in_words(pki):
    data = gzip.compress(POLICY)[:-6]
    result = _run(_https(_ok(data, b'Content-Encoding: gzip\r\n'), (pki['contexts']['good'], _client(pki))))
    assert result.problem == 'http-error' and result.detail == 'the body is not valid gzip data'


# --- one deadline, addresses in order -------------------------------------------------------------

def test_next_address_only_when_one_is_unreachable_under_one_deadline(pki):
    async def silent(writer):
        await asyncio.sleep(5)

    started = time.monotonic()
    # 127.0.0.2 port N refuses (nothing listens there), then 127.0.0.1 holds the answer back
    result = _run(_https(silent, (pki['contexts']['good'], _client(pki)), timeout=1.0,
                         addresses=['127.0.0.2', '127.0.0.1', '127.0.0.1']))
    elapsed = time.monotonic() - started
    assert result.problem == 'timeout' and result.address == '127.0.0.1'
    assert elapsed < 1.5, 'one deadline for every address, not one each (%.2fs)' % elapsed


def test_pipeline_with_given_addresses_parses_the_policy(pki):
    async def run():
        server = await asyncio.start_server(_answer_once(_ok()), '127.0.0.1', 0, ssl=pki['contexts']['good'])
        try:
            return await resolve_and_fetch_policy(None, 'example.test', 2.0, _client(pki), addresses=['127.0.0.1'],
                                                  port=server.sockets[0].getsockname()[1])
        finally:
            server.close()

    evidence, findings, parsed = _run(run())
    assert findings == [] and parsed['mode'] == 'enforce' and parsed['mx'] == ['mx1.example.test']
    assert evidence['url'] == 'https://%s/.well-known/mta-sts.txt' % HOST and evidence['http_status'] == 200


def test_pipeline_address_filter_refuses_addresses_before_any_connection(pki):
    from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import finding

    def refuse(host, address):
        return finding('policy-connect-failed', '%s resolves to %s, which is not contacted' % (host, address))

    evidence, findings, parsed = _run(resolve_and_fetch_policy(None, 'example.test', 2.0, _client(pki),
                                                               address_filter=refuse, addresses=['127.0.0.1']))
    assert parsed is None and [item['code'] for item in findings] == ['policy-connect-failed']
    assert 'http_status' not in evidence


def _answer_once(data):
    async def handle(reader, writer):
        try:
            await reader.readuntil(b'\r\n\r\n')
            writer.write(data)
            await writer.drain()
        finally:
            writer.close()
    return handle


# --- messages for people (issue 11 item 10) -------------------------------------------------------

MESSAGE_CASES = {
    'not-http': b'SSH-2.0-OpenSSH_9.2\r\n\r\n',
    'bad-status-line': b'HTTP/1.1 two hundred OK\r\n\r\n',
    'truncated-body': b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\nversion: STSv1\n',
    'content-type': b'HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 0\r\n\r\n',
    'no-content-type': b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n',
    'chunked-garbage': b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
}


@pytest.mark.parametrize('case', sorted(MESSAGE_CASES))
def test_messages_for_people_http_problems_are_words_not_reprs(pki, case):
    result = _run(_https(MESSAGE_CASES[case], (pki['contexts']['good'], _client(pki))))
    assert result.problem in ('http-error', 'content-type'), (result.problem, result.detail)
    assert not REPR.search(result.detail), result.detail
    if result.problem == 'http-error':
        assert result.as_evidence().get('error_detail') or result.detail.startswith('the connection closed')


def test_messages_for_people_tls_problems_are_words_not_reprs(pki):
    untrusted = _run(_https(_ok(), (pki['contexts']['good'], tls_client_context())))
    assert untrusted.problem == 'cert-untrusted' and not REPR.search(untrusted.detail), untrusted.detail
    assert 'certificate verify failed' in untrusted.as_evidence()['error_detail']
    refused = _run(fetch_policy_async(HOST, ['127.0.0.1'], 1.0, _client(pki), port=_free_port()))
    assert refused.problem == 'connect-failed' and refused.detail.startswith('the connection to 127.0.0.1 port')
    assert not REPR.search(refused.detail) and 'ConnectionRefusedError' in refused.as_evidence()['error_detail']


def test_messages_for_people_smtp_problems_are_words_not_reprs(pki):
    facts = _run(check_starttls_async(MX, '127.0.0.1', _free_port(), 1.0, _client(pki)))
    assert facts['problem'] == 'connect-failed' and not REPR.search(facts['error']), facts['error']
    facts = _run(_smtp(tls_client_context(), pki['contexts']['good']))
    assert facts['problem'] == 'cert-untrusted' and not REPR.search(facts['error']), facts['error']


def _free_port():
    import socket
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]
