# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Checks of a policy host's certificate files before a web server is given them (with ``cryptography``).

RFC 8461 section 3.3: senders fetch the policy over HTTPS and require a certificate valid for the policy
host (``mta-sts.<domain>``) that chains to a trusted root. These are the same checks, on the files, so that
a web server never serves a certificate senders would refuse. No Ansible imports.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import os
import ssl
import warnings

try:
    from cryptography import x509
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import ExtensionOID
    HAS_CRYPTOGRAPHY = True
except ImportError:
    HAS_CRYPTOGRAPHY = False


def name_matches(pattern, host):
    """Whether a dNSName PATTERN covers HOST (RFC 6125 section 6.4.3: a wildcard only as the whole leftmost label)."""
    pattern = pattern.strip().rstrip('.').lower()
    host = host.strip().rstrip('.').lower()
    if pattern == host:
        return True
    if not pattern.startswith('*.'):
        return False
    suffix = pattern[1:]
    return host.endswith(suffix) and '.' not in host[:-len(suffix)] and len(host) > len(suffix) and suffix.count('.') >= 2


def dns_names(cert):
    try:
        extension = cert.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_ALTERNATIVE_NAME)
    except x509.ExtensionNotFound:
        return []
    return extension.value.get_values_for_type(x509.DNSName)


def _utc(cert, which):
    value = getattr(cert, which + '_utc', None)
    if value is None:  # cryptography < 42
        value = getattr(cert, which).replace(tzinfo=datetime.timezone.utc)
    return value


def load_chain(pem):
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError:
        return []


def _public_bytes(key):
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def trust_store_certs(ca_path=None):
    """The CA certificates of CA_PATH (a PEM bundle), or of the system store when it is empty."""
    paths = []
    if ca_path:
        paths = [ca_path]
    else:
        defaults = ssl.get_default_verify_paths()
        if defaults.cafile:
            paths.append(defaults.cafile)
        elif defaults.capath and os.path.isdir(defaults.capath):
            paths += [os.path.join(defaults.capath, name) for name in sorted(os.listdir(defaults.capath))
                      if name.endswith(('.pem', '.crt'))]
    certs = []
    with warnings.catch_warnings():
        # System stores hold old roots cryptography warns about (negative serial numbers): still roots.
        warnings.simplefilter('ignore')
        for path in paths:
            with open(path, 'rb') as handle:
                certs += load_chain(handle.read())
    return certs


def check(host, cert_pem, key_pem, roots, now=None, min_days=0):
    """The problems of a certificate chain and key for HOST (a list of sentences; empty: good) and what was seen.

    CERT_PEM: the leaf first, then intermediates (what the web server sends). KEY_PEM: the private key, never
    echoed. ROOTS: trusted CA certificates; None skips the chain check.
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    problems = []
    chain = load_chain(cert_pem)
    if not chain:
        return ['the certificate file holds no PEM certificate'], {}
    leaf = chain[0]
    names = dns_names(leaf)
    seen = {'subject': leaf.subject.rfc4514_string(), 'issuer': leaf.issuer.rfc4514_string(), 'dns_names': names,
            'not_before': _utc(leaf, 'not_valid_before').isoformat(), 'not_after': _utc(leaf, 'not_valid_after').isoformat(),
            'chain_length': len(chain)}
    if not names:
        problems.append('it has no DNS name in subjectAltName (RFC 6125 section 6.4.4: senders do not use the CN)')
    elif not any(name_matches(name, host) for name in names):
        problems.append('it is for %s, not %s' % (', '.join(names), host))
    if _utc(leaf, 'not_valid_before') > now:
        problems.append('it is not valid before %s' % seen['not_before'])
    if _utc(leaf, 'not_valid_after') <= now:
        problems.append('it expired on %s' % seen['not_after'])
    elif _utc(leaf, 'not_valid_after') <= now + datetime.timedelta(days=min_days):
        problems.append('it expires on %s, within %d days' % (seen['not_after'], min_days))
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        problems.append('the key file holds no unencrypted PEM private key (%s)' % type(exc).__name__)
    else:
        if _public_bytes(key.public_key()) != _public_bytes(leaf.public_key()):
            problems.append('the private key does not belong to the certificate')
    if roots is not None and not any(problem.startswith(('it is for', 'it has no DNS')) for problem in problems):
        chain_problem = verify_chain(host, chain, roots, now)
        if chain_problem:
            problems.append(chain_problem)
    return problems, seen


def _issued_by(cert, issuer):
    if cert.issuer != issuer.subject:
        return False
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def verify_chain(host, chain, roots, now, max_depth=8):
    """'' when CHAIN (leaf first) leads to one of ROOTS, each link's signature and dates checked, else why not.

    Path building as a TLS client does it (RFC 5280 section 6, the parts senders' TLS libraries apply to a
    server chain): issuer by name, signature by the issuer's key, every certificate within its dates.
    """
    if not roots:
        return 'no CA certificate to check the chain against'
    trusted = set(root.fingerprint(hashes.SHA256()) for root in roots)
    current = chain[0]
    pool = list(chain[1:])
    for _depth in range(max_depth):
        if current.fingerprint(hashes.SHA256()) in trusted:
            return ''
        for root in roots:
            if _issued_by(current, root):
                if not _utc(root, 'not_valid_before') <= now < _utc(root, 'not_valid_after'):
                    return 'the CA certificate %s is not valid now' % root.subject.rfc4514_string()
                return ''
        issuer = next((cert for cert in pool if _issued_by(current, cert)), None)
        if issuer is None:
            return ('its chain does not lead to a trusted CA (no certificate of its issuer %s in the file or the CA '
                    'bundle); put the full chain in the file' % current.issuer.rfc4514_string())
        if not _utc(issuer, 'not_valid_before') <= now < _utc(issuer, 'not_valid_after'):
            return 'the intermediate certificate %s in the file is not valid now' % issuer.subject.rfc4514_string()
        pool.remove(issuer)
        current = issuer
    return 'its chain is longer than %d certificates' % max_depth
