# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real Dovecot IMAP server on loopback for the TLS-RPT tests, and the reports and mails to deliver to it.

Nothing under /etc is read or changed: ``dovecot -F -c <dir>/dovecot.conf`` runs in the foreground with users
from a passwd-file, Maildirs and its certificate (from trustme) in the dir, and is stopped by its own PID.
Dovecot's auth and mail processes run as unprivileged users: the dir is ROOT/dovecot, a link to a directory of
its own under /tmp (labproc.public_dir), so that ROOT may be anywhere; ``stop()`` removes it.
Listens on IMAPS (TLS from the first byte) and on IMAP with STARTTLS; no login before TLS.

    with Dovecot(tmpdir, ca, users={'reports': 'secret'}) as server:
        server.append('reports', raw_message_bytes)
        server.imaps_port, server.imap_port, server.address, server.host

The builders at the end make RFC 8460 reports (section 4.4 schema) and the mails that carry them (section 5.3):
``tls_report``, ``tls_policy``, ``failure``, ``report_mail``, ``plain_mail``.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import email.utils
import gzip
import imaplib
import json
import os
import pwd
import shutil
import socket
import ssl
import subprocess
import sys
import time
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import labproc  # noqa: E402  (lives beside this file)

DOVECOT = shutil.which('dovecot') or '/usr/sbin/dovecot'
DEFAULT_ADDRESS = '127.0.0.143'
SERVER_NAME = 'imap.tlsrpt.test'


class DovecotError(Exception):
    pass


def available():
    """Why Dovecot cannot run here, or None when it can."""
    if not os.path.exists(DOVECOT):
        return 'dovecot is not installed (apt-get install -y dovecot-imapd)'
    if os.geteuid() != 0:
        return 'dovecot needs root to start from its own config'
    return None


def _account(*names):
    """The first existing system account of ``names``: (name, uid, gid)."""
    for name in names:
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_name, entry.pw_uid, entry.pw_gid
    raise DovecotError('none of the accounts %s exists' % ', '.join(names))


def free_port(address):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return sock.getsockname()[1]


class Dovecot(object):
    """One Dovecot instance; ``start()``/``stop()`` or use it as a context manager."""

    def __init__(self, root, ca, users, address=DEFAULT_ADDRESS, server_name=SERVER_NAME, imaps_port=None, imap_port=None):
        self.root = os.path.abspath(root)
        self.ca = ca
        self.users = dict(users)
        self.address = address
        self.host = server_name
        self.imaps_port = imaps_port or free_port(address)
        self.imap_port = imap_port or free_port(address)
        self.process = None
        self.ca_path = os.path.join(self.root, 'ca.pem')
        self.dir = None  # the server's files (labproc.public_dir), made by start()

    # Mail is stored as this account: Dovecot refuses mail access as root (uid 0).
    def _write_config(self):
        mail_user, mail_uid, mail_gid = _account('nobody', 'dovenull')
        internal_user, internal_uid, internal_gid = _account('dovecot', 'nobody')
        login_user = _account('dovenull', 'nobody')[0]
        os.makedirs(self.root, exist_ok=True)
        try:
            self.dir = labproc.public_dir(self.root, 'dovecot')  # the auth and mail users must reach it
        except OSError as exc:
            raise DovecotError(str(exc))
        for sub in ('run', 'state', 'mail'):
            os.makedirs(os.path.join(self.dir, sub), exist_ok=True)
        mail_dir = os.path.join(self.dir, 'mail')
        os.chown(mail_dir, mail_uid, mail_gid)
        leaf = self.ca.issue_cert(self.host, self.address)
        cert_path = os.path.join(self.dir, 'server.pem')
        key_path = os.path.join(self.dir, 'server.key')
        leaf.cert_chain_pems[0].write_to_path(cert_path)
        for pem in leaf.cert_chain_pems[1:]:
            pem.write_to_path(cert_path, append=True)
        leaf.private_key_pem.write_to_path(key_path)
        os.chmod(key_path, 0o600)
        self.ca.cert_pem.write_to_path(self.ca_path)
        passwd_path = os.path.join(self.dir, 'users')
        with open(passwd_path, 'w', encoding='utf-8') as handle:
            for name, password in self.users.items():
                home = os.path.join(mail_dir, name)
                handle.write('%s:{PLAIN}%s:%d:%d::%s::\n' % (name, password, mail_uid, mail_gid, home))
        os.chmod(passwd_path, 0o600)
        os.chown(passwd_path, internal_uid, internal_gid)  # the auth process reads it as the internal user
        with open(self.config_path, 'w', encoding='utf-8') as handle:
            handle.write(_CONFIG % {
                'root': self.dir, 'address': self.address, 'imaps_port': self.imaps_port, 'imap_port': self.imap_port,
                'cert': cert_path, 'key': key_path, 'passwd': passwd_path, 'log': self.log_path,
                'internal_user': internal_user, 'login_user': login_user,
                'first_uid': min(mail_uid, 500), 'mail_uid': mail_uid, 'mail_gid': mail_gid,
            })

    def start(self, wait=15.0):
        reason = available()
        if reason:
            raise DovecotError(reason)
        self._write_config()
        log = open(os.path.join(self.dir, 'dovecot.stderr'), 'ab')
        self.process = subprocess.Popen([DOVECOT, '-F', '-c', self.config_path], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise DovecotError('dovecot exited with %s: %s' % (self.process.returncode, self.logs()))
            if self._listening(self.imaps_port) and self._listening(self.imap_port):
                return self
            time.sleep(0.1)
        logs = self.logs()
        self.stop()
        raise DovecotError('dovecot did not listen on %s within %.0fs: %s' % (self.address, wait, logs))

    def _listening(self, port):
        try:
            with socket.create_connection((self.address, port), timeout=1):
                return True
        except OSError:
            return False

    def logs(self):
        text = ''
        for name in ('dovecot.stderr', 'dovecot.log'):
            path = os.path.join(self.dir or self.root, name)
            if os.path.exists(path):
                with open(path, encoding='utf-8', errors='replace') as handle:
                    text += handle.read()[-3000:]
        return text

    @property
    def config_path(self):
        return os.path.join(self.dir, 'dovecot.conf') if self.dir else None

    @property
    def log_path(self):
        return os.path.join(self.dir, 'dovecot.log') if self.dir else None

    def stop(self):
        """Stop the server and remove its files (the Maildirs with them)."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.process = None
        if self.dir:
            labproc.remove_public(self.root, 'dovecot')
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def client_context(self):
        context = ssl.create_default_context(cafile=self.ca_path)
        return context

    def connect(self, user):
        """An IMAPS client logged in as ``user`` (name checked against the certificate via the address)."""
        client = imaplib.IMAP4_SSL(self.address, self.imaps_port, ssl_context=self._address_context(), timeout=10)
        client.login(user, self.users[user])
        return client

    def _address_context(self):
        # The lab's own client connects by address; the leaf carries the address as an IP SAN.
        return self.client_context()

    def append(self, user, message, folder='INBOX', date=None):
        """Deliver one raw message (bytes) into ``folder`` of ``user`` through IMAP APPEND."""
        client = self.connect(user)
        try:
            if folder != 'INBOX':
                client.create('"%s"' % folder)
            when = imaplib.Time2Internaldate(date if date is not None else time.time())
            status, data = client.append('"%s"' % folder, None, when, message)
            if status != 'OK':
                raise DovecotError('APPEND failed: %r' % (data,))
        finally:
            client.logout()

    def flags(self, user, folder='INBOX'):
        """The flags of every message in ``folder``: to show that reading left them alone."""
        client = self.connect(user)
        try:
            client.select('"%s"' % folder, readonly=True)
            status, data = client.fetch('1:*', '(FLAGS)')
            return [item.decode('ascii', 'replace') for item in data if isinstance(item, bytes)]
        finally:
            client.logout()


_CONFIG = '''# Written by tests/lab/dovecot.py: a throwaway IMAP server on loopback.
base_dir = %(root)s/run
state_dir = %(root)s/state
instance_name = tlsrpt-lab-%(imaps_port)d
log_path = %(log)s
protocols = imap
listen = %(address)s
shutdown_clients = yes
default_internal_user = %(internal_user)s
default_login_user = %(login_user)s
first_valid_uid = %(first_uid)d
mail_uid = %(mail_uid)d
mail_gid = %(mail_gid)d
mail_location = maildir:~/Maildir
namespace inbox {
  inbox = yes
  separator = /
}
ssl = required
ssl_cert = <%(cert)s
ssl_key = <%(key)s
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain login
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %(passwd)s
}
userdb {
  driver = passwd-file
  args = username_format=%%u %(passwd)s
}
service imap-login {
  inet_listener imap {
    address = %(address)s
    port = %(imap_port)d
  }
  inet_listener imaps {
    address = %(address)s
    port = %(imaps_port)d
    ssl = yes
  }
}
service stats {
  unix_listener stats-reader {
    mode = 0600
  }
  unix_listener stats-writer {
    mode = 0600
  }
}
'''


# ---------------------------------------------------------------------------------------------------------------
# RFC 8460 reports and the mails that carry them


def rfc3339(value):
    return value.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def failure(result_type, count, mx=None, receiving_ip=None, sending_ip='192.0.2.25', **extra):
    """One failure-details entry (RFC 8460 section 4.4); ``extra`` adds fields by their schema name."""
    item = {'result-type': result_type, 'failed-session-count': count}
    if sending_ip:
        item['sending-mta-ip'] = sending_ip
    if mx:
        item['receiving-mx-hostname'] = mx
    if receiving_ip:
        item['receiving-ip'] = receiving_ip
    item.update(extra)
    return item


def tls_policy(domain, successful, failures=(), policy_type='sts', mx=None, mode='testing', failed=None):
    """One policies[] entry; ``failed`` defaults to the sum of the failure details."""
    mx = list(mx if mx is not None else ['*.%s' % domain])
    policy = {'policy-type': policy_type, 'policy-domain': domain}
    if policy_type == 'sts':
        policy['policy-string'] = ['version: STSv1', 'mode: %s' % mode] + ['mx: %s' % item for item in mx] + ['max_age: 604800']
        policy['mx-host'] = mx
    entry = {
        'policy': policy,
        'summary': {
            'total-successful-session-count': successful,
            'total-failure-session-count': sum(item['failed-session-count'] for item in failures) if failed is None else failed,
        },
    }
    if failures:
        entry['failure-details'] = list(failures)
    return entry


def tls_report(organization, report_id, day, policies, contact=None):
    """A whole report covering the UTC day ``day`` (a date or datetime)."""
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.timezone.utc)
    return {
        'organization-name': organization,
        'date-range': {'start-datetime': rfc3339(start),
                       'end-datetime': rfc3339(start + datetime.timedelta(days=1, seconds=-1))},
        'contact-info': contact or 'smtp-tls-reporting@%s' % organization.lower().replace(' ', '-'),
        'report-id': report_id,
        'policies': list(policies),
    }


def report_mail(report, submitter='mail.sender.example', compress=True, message_id=None, media_type=None,
                body=None, multipart=True, filename=None):
    """The mail a sender sends (RFC 8460 section 5.3): multipart/report; report-type=tlsrpt with the report attached.

    ``body`` replaces the JSON (bytes) to make malformed reports; ``media_type`` replaces the attachment's type.
    """
    domain = report['policies'][0]['policy']['policy-domain'] if report.get('policies') else 'unknown.example'
    data = body if body is not None else json.dumps(report, indent=1).encode('utf-8')
    if compress:
        data = gzip.compress(data)
    media_type = media_type or ('application/tlsrpt+gzip' if compress else 'application/tlsrpt+json')
    start = report.get('date-range', {}).get('start-datetime', '2024-01-01T00:00:00Z')
    end = report.get('date-range', {}).get('end-datetime', '2024-01-01T23:59:59Z')
    message_id = message_id or email.utils.make_msgid(domain=submitter)
    if filename is None:
        filename = '%s!%s!%s!%s.json%s' % (submitter, domain, _stamp(start), _stamp(end), '.gz' if compress else '')
    maintype, subtype = media_type.split('/', 1)
    attachment = MIMEApplication(data, subtype)
    if maintype != 'application':
        attachment.replace_header('Content-Type', media_type)
    attachment.add_header('Content-Disposition', 'attachment', filename=filename)
    if multipart:
        message = MIMEMultipart('report', report_type='tlsrpt')
        message.attach(MIMEText('This is an aggregate TLS report from %s\n' % submitter))
        message.attach(attachment)
    else:
        message = attachment
    message['From'] = 'tlsrpt-noreply@%s' % submitter
    message['To'] = 'tlsrpt@%s' % domain
    message['Date'] = email.utils.format_datetime(datetime.datetime.now(datetime.timezone.utc))
    message['Subject'] = 'Report Domain: %s Submitter: %s Report-ID: <%s>' % (domain, submitter, report.get('report-id'))
    message['Message-ID'] = message_id
    message['TLS-Report-Domain'] = domain
    message['TLS-Report-Submitter'] = submitter
    return message.as_bytes()


def plain_mail(subject='Lunch?', message_id=None):
    """A mail that is not a report, as any reporting mailbox also receives."""
    message = MIMEText('See you at noon.\n')
    message['From'] = 'colleague@example.net'
    message['To'] = 'tlsrpt@example.org'
    message['Subject'] = subject
    message['Message-ID'] = message_id or email.utils.make_msgid(domain='example.net')
    return message.as_bytes()


def _stamp(value):
    try:
        moment = datetime.datetime.strptime(value, '%Y-%m-%dT%H:%M:%SZ').replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return '0'
    return str(int(moment.timestamp()))
