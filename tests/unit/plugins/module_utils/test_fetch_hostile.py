# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""fetch_policy against hostile policy hosts (tests/lab/hostile.py) in this process, on loopback ports above 1024.

Each case checks the outcome word, that the fetch ends within its deadline, and the Python memory the
fetch allocated at its peak (tracemalloc): a gzip bomb or a 10 MB line must not be held in memory.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys
import threading
import time
import tracemalloc

import pytest

LAB = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', 'lab'))
if LAB not in sys.path:
    sys.path.insert(0, LAB)

import hostile  # noqa: E402

from ansible_collections.mailsec.mta_sts.plugins.module_utils.fetch import fetch_policy, tls_client_context  # noqa: E402

TIMEOUT = 1.0
DEADLINE_MARGIN = 0.75
PEAK_BYTES = 8 * 1024 * 1024

# behaviour: (problem fetch_policy must report, how the body must end up)
CASES = {
    'good': (None, 'policy'),
    'drip': ('timeout', None),
    'dripbody': ('timeout', None),
    'driptls': ('timeout', None),
    'hang': ('timeout', None),
    'endless': ('too-large', None),
    'gzip': ('too-large', None),
    'gzip2': ('too-large', None),
    'bigline': ('too-large', None),
    'redirect': ('redirect', None),
    'badutf8': (None, 'not-utf8'),
    'nul': (None, 'nul'),
    'tls10': ('tls-error', None),
    'nochain': ('cert-untrusted', None),
    'headers': ('http-error', None),
}


@pytest.fixture(scope='module')
def web(tmp_path_factory):
    server = hostile.HostileWeb(str(tmp_path_factory.mktemp('hostile-web')), port=0).start()
    server._gzip2_ready.wait(30)
    try:
        yield server
    finally:
        server.stop()
    assert not [t for t in threading.enumerate() if t.name.startswith('hostile-web')], 'server threads left running'


def _fetch(web, behaviour):
    host = 'mta-sts.%s' % hostile.domain_name('web%s' % behaviour if behaviour != 'good' else 'good', 1)
    context = tls_client_context(web.ca_path)
    tracemalloc.start()
    started = time.monotonic()
    try:
        result = fetch_policy(host, hostile.web_ip(behaviour), TIMEOUT, context, port=web.ports[behaviour])
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, elapsed, peak


@pytest.mark.parametrize('behaviour', sorted(CASES))
def test_fetch_from_hostile_policy_host(web, behaviour):
    problem, body = CASES[behaviour]
    result, elapsed, peak = _fetch(web, behaviour)
    assert result.problem == problem, (result.problem, result.detail)
    assert elapsed <= TIMEOUT + DEADLINE_MARGIN, 'the fetch took %.2fs with timeout %.1fs' % (elapsed, TIMEOUT)
    assert peak < PEAK_BYTES, 'the fetch allocated %d bytes at its peak' % peak
    if problem == 'too-large':
        assert result.body is None and result.size is not None and result.size <= 65536 + 8192
    if body == 'policy':
        assert result.body.startswith(b'version: STSv1\n')
    elif body == 'not-utf8':
        with pytest.raises(UnicodeDecodeError):
            result.body.decode('utf-8')
    elif body == 'nul':
        assert b'\x00' in result.body


def test_fetch_gzip_bomb_is_really_a_bomb():
    """The double-gzip body is about 10 KiB and decodes to 2 GiB (checked on its first layer and its header)."""
    import struct
    import zlib

    bomb = hostile.double_gzip_bomb()
    assert len(bomb) < 16 * 1024
    inner = zlib.decompressobj(31).decompress(bomb)
    assert struct.unpack('<I', inner[-4:])[0] == (hostile.GZIP2_MIB << 20) & 0xffffffff
    assert zlib.decompressobj(31).decompress(inner, 1 << 20) == bytes(1 << 20)


def test_tls10_host_really_offers_tls_1_0_and_1_1(web):
    """The legacy host is not just broken: an old client gets TLS 1.1 (or 1.0) from it."""
    import socket
    import ssl
    import warnings

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(web.ca_path)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.set_ciphers('DEFAULT:@SECLEVEL=0')
    host = 'mta-sts.%s' % hostile.domain_name('webtls10', 1)
    with socket.create_connection((hostile.web_ip('tls10'), web.ports['tls10']), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.version() in ('TLSv1', 'TLSv1.1')


def test_nochain_host_serves_a_leaf_that_verifies_with_its_intermediate(web):
    """Only the missing intermediate makes the chain fail: with the intermediate added, it verifies."""
    import socket
    import ssl

    context = ssl.create_default_context(cafile=web.ca_path)
    context.load_verify_locations(cadata=web.certs.intermediate.cert_pem.bytes().decode('ascii'))
    host = 'mta-sts.%s' % hostile.domain_name('webnochain', 1)
    with socket.create_connection((hostile.web_ip('nochain'), web.ports['nochain']), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=host) as tls:
            assert tls.getpeercert()['subjectAltName']
