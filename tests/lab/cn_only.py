# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A leaf certificate that names its host only in the subject CN (no subjectAltName), signed by a trustme CA.

trustme always writes a subjectAltName; senders that match DNS-IDs only (RFC 9525, Go's crypto/tls)
reject a certificate without one, and the audit must too. Needs the Python package cryptography.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def cn_only_leaf(ca, common_name, days=365):
    """(certificate PEM, private key PEM) for ``common_name`` in the subject CN only, issued by trustme ``ca``."""
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    ca_key = serialization.load_pem_private_key(ca.private_key_pem.bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def write_cn_only_leaf(ca, common_name, cert_path, key_path):
    """Write the CN-only leaf (plus nothing else: the CA is the issuer) to ``cert_path`` and ``key_path``."""
    cert_pem, key_pem = cn_only_leaf(ca, common_name)
    with open(cert_path, 'wb') as handle:
        handle.write(cert_pem)
    with open(key_path, 'wb') as handle:
        handle.write(key_pem)
    return cert_path, key_path
