# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""TLS for the policy fetch and the STARTTLS check: one client context, certificate facts, errors in words.

No Ansible imports. Names are matched the way RFC 8461 section 3.3 and RFC 9525 ask: on subjectAltName
DNS names only (DNS-ID), never on the subject CN, as Go's crypto/tls (which many senders use) does.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import ssl

try:
    from cryptography import x509
    from cryptography.x509.oid import NameOID
    HAS_CRYPTOGRAPHY = True
except ImportError:  # ansible-core requires it; without it only the CN-only diagnosis is less precise
    HAS_CRYPTOGRAPHY = False

# OpenSSL X509_V_ERR_* codes (ssl.SSLCertVerificationError.verify_code): (outcome, what it means in words)
_VERIFY_CODES = {
    10: ('cert-expired', 'the certificate has expired'),
    9: ('cert-expired', 'the certificate is not valid yet'),
    62: ('cert-name-mismatch', None),
    2: ('cert-untrusted', 'the certificate chain lacks its issuer (an intermediate CA is missing)'),
    20: ('cert-untrusted', 'the certificate chain lacks its issuer (an intermediate CA is missing) or ends at an untrusted CA'),
    21: ('cert-untrusted', 'the certificate chain is incomplete: the server does not send its intermediate CA'),
    18: ('cert-untrusted', 'the certificate is self-signed'),
    19: ('cert-untrusted', 'the certificate chain ends at a self-signed CA that is not trusted'),
    27: ('cert-untrusted', 'the CA of the certificate is not trusted for server authentication'),
    7: ('cert-untrusted', 'the certificate signature does not verify'),
    23: ('cert-untrusted', 'the certificate has been revoked'),
}

# OpenSSL reason codes of failed handshakes, in words
_TLS_REASONS = {
    'UNSUPPORTED_PROTOCOL': 'the server offers only TLS versions older than 1.2',
    'TLSV1_ALERT_PROTOCOL_VERSION': 'the server accepts none of the TLS versions offered (1.2 or newer)',
    'WRONG_VERSION_NUMBER': 'the server did not answer with TLS',
    'NO_PROTOCOLS_AVAILABLE': 'the server offers only TLS versions older than 1.2',
    'SSLV3_ALERT_HANDSHAKE_FAILURE': 'the server accepted no cipher or option this client offers',
    'TLSV1_ALERT_INTERNAL_ERROR': 'the server aborted the handshake (internal error)',
    'UNEXPECTED_EOF_WHILE_READING': 'the server closed the connection during the TLS handshake',
    'RECORD_LAYER_FAILURE': 'the server sent data that is not TLS',
    'PACKET_LENGTH_TOO_LONG': 'the server sent data that is not TLS',
}


def tls_client_context(ca_path=None):
    """A verifying client context (TLS 1.2+, DNS-ID only); the system store unless ``ca_path`` names a PEM bundle."""
    context = ssl.create_default_context(cafile=ca_path) if ca_path else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # RFC 8461 section 3.3 / RFC 9525 section 6.3: subjectAltName DNS names only, never the subject CN
    context.hostname_checks_common_name = False
    return context


def _diagnostic_context():
    """Accepts any certificate: only to read, after a failed check, what the server presents (never to trust it)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


DIAGNOSTIC_CONTEXT = _diagnostic_context()


def certificate_facts(peercert, now=None):
    """Subject, issuer, expiry and DNS names of a certificate as ssl.getpeercert() returns it (parsed once)."""
    if not peercert:
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    not_after = datetime.datetime.fromtimestamp(ssl.cert_time_to_seconds(peercert['notAfter']), datetime.timezone.utc)
    return {
        'subject': _dn_text(peercert.get('subject', ())),
        'issuer': _dn_text(peercert.get('issuer', ())),
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'days_left': int((not_after - now).total_seconds() // 86400),
        'san': [value for kind, value in peercert.get('subjectAltName', ()) if kind == 'DNS'],
    }


def _dn_text(dn):
    return ', '.join('%s=%s' % (key, value) for rdn in dn for key, value in rdn)


def der_certificate_facts(der, now=None):
    """The same facts as certificate_facts() from a DER certificate that was not verified; None if unreadable."""
    if not der or not HAS_CRYPTOGRAPHY:
        return None
    try:
        cert = x509.load_der_x509_certificate(der)
        try:
            names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            san = names.get_values_for_type(x509.DNSName)
        except x509.ExtensionNotFound:
            san = []
        not_after = getattr(cert, 'not_valid_after_utc', None) or cert.not_valid_after.replace(tzinfo=datetime.timezone.utc)
        subject = cert.subject.rfc4514_string()
        common_names = [attr.value for attr in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        issuer = cert.issuer.rfc4514_string()
    except ValueError:
        return None
    now = now or datetime.datetime.now(datetime.timezone.utc)
    return {'subject': subject, 'issuer': issuer, 'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
            'days_left': int((not_after - now).total_seconds() // 86400), 'san': list(san),
            'common_names': [str(name) for name in common_names]}


def name_mismatch_words(host, facts):
    """Why a certificate is not valid for ``host``, from facts of the unverified certificate (or None)."""
    if facts is None:
        return 'the certificate is not valid for %s' % host
    if not facts['san']:
        if any(name.lower().rstrip('.') == host.lower() for name in facts.get('common_names', ())):
            return ('the certificate names %s only in its subject CN and has no subjectAltName DNS name; senders '
                    'match DNS names only (RFC 8461 section 3.3, RFC 9525), so it is not valid for them' % host)
        return 'the certificate has no subjectAltName DNS name, so it is valid for no host name'
    names = facts['san'][:5]
    more = len(facts['san']) - len(names)
    return 'the certificate is not valid for %s: it names %s%s' % (
        host, ', '.join(names), ' and %d more' % more if more > 0 else '')


def connect_words(address, port, exc):
    """A failed TCP connection in words (the errno text stays in the evidence)."""
    if isinstance(exc, ConnectionRefusedError):
        return 'the connection to %s port %d was refused' % (address, port)
    if isinstance(exc, ConnectionResetError):
        return 'the connection to %s port %d was reset' % (address, port)
    return 'could not connect to %s port %d (%s)' % (address, port, exc.strerror or 'network error')


def os_error_detail(exc):
    """The technical side of an OSError, for the evidence."""
    return '%s: %s' % (exc.__class__.__name__, exc.strerror or exc)


def classify_tls_error(exc, host=None):
    """(outcome, words for people, technical detail) of a failed TLS handshake.

    outcome is cert-expired, cert-name-mismatch, cert-untrusted or tls-error.
    """
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, ssl.SSLCertVerificationError):
            technical = 'certificate verify failed: %s (X509 error %s)' % (exc.verify_message, exc.verify_code)
            outcome, words = _VERIFY_CODES.get(exc.verify_code, ('cert-untrusted', None))
            if outcome == 'cert-name-mismatch':
                words = 'the certificate is not valid for %s' % host if host else 'the certificate is not valid for this host'
            return outcome, words or 'the certificate does not verify (%s)' % (exc.verify_message or 'no reason given'), technical
        if isinstance(exc, ssl.SSLError):
            reason = getattr(exc, 'reason', None) or ''
            technical = '%s %s' % (getattr(exc, 'library', None) or 'SSL', reason or exc.__class__.__name__)
            return 'tls-error', _TLS_REASONS.get(reason, 'the TLS handshake failed'), technical
        exc = exc.__cause__ or exc.__context__
    return 'tls-error', 'the TLS handshake failed', None
