# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A hostile IMAP server on loopback (asyncio, IMAPS), beside the lab's real Dovecot, for the TLS-RPT reader.

    python tests/lab/hostile_imap.py serve --dir DIR [--max-seconds 1800]

``DIR/mailboxes.json`` maps a login name to a mailbox: ``{"kind": KIND, "at": UID, "pad_mb": N}`` and the
mails in ``DIR/mail/<login>/<uid>.eml``. The password is never checked. The login name picks how the server
behaves (``KINDS``); every behaviour answers honestly up to the message ``at`` (or the command it names):

- ``honest``: serves the mails as they are; ``pad_mb`` pads each mail to about that many MiB (a base64 text
  part replacing the line MAILSEC-PADDING, RFC822.SIZE telling the padded size).
- ``flood-search``: answers UID SEARCH with an endless stream of untagged ``* OK`` responses.
- ``flood-fetch``: answers the body fetch of message ``at`` with an endless stream of untagged responses.
- ``big-literal``: says RFC822.SIZE 1000 for message ``at``, then announces a literal of 2 GiB and streams it.
- ``long-line``: answers the body fetch of message ``at`` with one line that never ends.
- ``hold``: greets, then never answers (a module waiting on it runs until its timeout).

Endless streams end when the client goes away, after STREAM_LIMIT bytes, or after HANDLER_MAX_SECONDS. The
server writes ``DIR/info.json`` (address, port, ca_path, pid) when it listens. Only 127.0.0.0/8 is used:
127.0.<slot>.143 with the slot from MTA_STS_LAB_SLOT, any free port. Needs trustme.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import asyncio
import base64
import email
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time

KINDS = ('honest', 'flood-search', 'flood-fetch', 'big-literal', 'long-line', 'hold')
PADDING_MARKER = b'MAILSEC-PADDING'
LIE_SIZE = 1000
BIG_LITERAL = 2 * 1024 * 1024 * 1024
STREAM_LIMIT = 3 * 1024 * 1024 * 1024
HANDLER_MAX_SECONDS = 600.0
UIDVALIDITY = 1700000016
SERVER_NAME = 'imap.hostile.test'
_BLOCK = 256 * 1024


def address():
    slot = int(os.environ.get('MTA_STS_LAB_SLOT') or 0)
    return '127.0.%d.143' % slot


def write_mailboxes(root, mailboxes):
    """``mailboxes``: {login: {'kind': ..., 'at': uid, 'pad_mb': n, 'mails': [bytes, ...]}} -> files under root."""
    spec = {}
    for login, box in mailboxes.items():
        folder = os.path.join(root, 'mail', login)
        os.makedirs(folder, exist_ok=True)
        for index, mail in enumerate(box.get('mails', ())):
            with open(os.path.join(folder, '%d.eml' % (index + 1)), 'wb') as handle:
                handle.write(mail)
        spec[login] = {'kind': box['kind'], 'at': box.get('at'), 'pad_mb': box.get('pad_mb', 0)}
        if box['kind'] not in KINDS:
            raise ValueError('unknown kind %r' % box['kind'])
    with open(os.path.join(root, 'mailboxes.json'), 'w') as handle:
        json.dump(spec, handle)


def padded(mail):
    """``mail`` (a multipart report mail, bytes) with one more text part that holds the padding marker."""
    boundary = email.message_from_bytes(mail).get_boundary().encode('ascii')
    part = b'--%s\nContent-Type: text/plain; charset=us-ascii\n\n%s\n' % (boundary, PADDING_MARKER)
    head, sep, tail = mail.rpartition(b'--%s--' % boundary)
    return head + part + sep + tail


def _padding(mib):
    """About ``mib`` MiB of base64 lines (random, so nothing compresses it), the same for every mail."""
    raw = os.urandom(57 * 1024)
    line_block = b'\r\n'.join(base64.b64encode(raw[i:i + 57]) for i in range(0, len(raw), 57)) + b'\r\n'
    return line_block * max(1, int(mib * 1024 * 1024 / len(line_block)))


class Mailbox(object):
    def __init__(self, root, login, spec, paddings):
        self.kind = spec['kind']
        self.at = spec.get('at')
        folder = os.path.join(root, 'mail', login)
        self.paths = {}
        if os.path.isdir(folder):
            for name in os.listdir(folder):
                if name.endswith('.eml'):
                    self.paths[int(name[:-4])] = os.path.join(folder, name)
        self.padding = b''
        if spec.get('pad_mb'):
            self.padding = paddings.setdefault(spec['pad_mb'], _padding(spec['pad_mb']))

    def uids(self):
        return sorted(self.paths)

    def mail(self, uid):
        with open(self.paths[uid], 'rb') as handle:
            data = handle.read()
        if self.padding:
            data = data.replace(PADDING_MARKER + b'\r\n', self.padding).replace(PADDING_MARKER + b'\n', self.padding)
        return data

    def size(self, uid):
        if self.kind == 'big-literal' and uid == self.at:
            return LIE_SIZE
        return len(self.mail(uid))


class Connection(object):
    def __init__(self, server, reader, writer):
        self.server = server
        self.reader = reader
        self.writer = writer
        self.mailbox = None
        self.started = time.monotonic()

    async def send(self, data):
        if self.writer.is_closing():  # asyncio drops writes to a closed transport without raising
            raise ConnectionResetError('the client went away')
        self.writer.write(data)
        await self.writer.drain()

    async def stream(self, block, limit=STREAM_LIMIT):
        """Send ``block`` again and again until the client goes away or ``limit`` bytes or the time bound."""
        sent = 0
        while sent < limit and time.monotonic() - self.started < HANDLER_MAX_SECONDS:
            await self.send(block)
            sent += len(block)
        return sent

    async def run(self):
        await self.send(b'* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] hostile IMAP server ready\r\n')
        while time.monotonic() - self.started < HANDLER_MAX_SECONDS:
            line = await self.reader.readline()
            if not line:
                return
            parts = line.rstrip(b'\r\n').split(b' ', 2)
            if len(parts) < 2:
                await self.send(b'* BAD no tag\r\n')
                continue
            tag, command = parts[0], parts[1].upper()
            rest = parts[2] if len(parts) > 2 else b''
            handler = getattr(self, 'do_' + command.decode('ascii', 'replace').lower(), None)
            if handler is None:
                await self.send(tag + b' BAD unknown command\r\n')
                continue
            if await handler(tag, rest) is False:
                return

    async def do_capability(self, tag, rest):
        await self.send(b'* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n' + tag + b' OK CAPABILITY done\r\n')

    async def do_login(self, tag, rest):
        login = rest.split(b' ', 1)[0].strip(b'"').decode('utf-8', 'replace')
        if login not in self.server.mailboxes:
            await self.send(tag + b' NO [AUTHENTICATIONFAILED] unknown login\r\n')
            return
        self.mailbox = self.server.mailboxes[login]
        if self.mailbox.kind == 'hold':
            await asyncio.sleep(HANDLER_MAX_SECONDS)
            return False
        await self.send(tag + b' OK LOGIN done\r\n')

    async def do_examine(self, tag, rest):
        count = len(self.mailbox.uids())
        await self.send(b'* %d EXISTS\r\n* OK [UIDVALIDITY %d] ok\r\n%s OK [READ-ONLY] EXAMINE done\r\n' % (
            count, UIDVALIDITY, tag))

    do_select = do_examine

    async def do_logout(self, tag, rest):
        await self.send(b'* BYE hostile server says goodbye\r\n' + tag + b' OK LOGOUT done\r\n')
        return False

    async def do_noop(self, tag, rest):
        await self.send(tag + b' OK NOOP done\r\n')

    async def do_uid(self, tag, rest):
        sub, _sep, args = rest.partition(b' ')
        sub = sub.upper()
        if sub == b'SEARCH':
            if self.mailbox.kind == 'flood-search':
                await self.stream(b'* OK flooding you with untagged responses\r\n' * 1024)
                return False
            uids = b' '.join(b'%d' % uid for uid in self.mailbox.uids())
            await self.send(b'* SEARCH ' + uids + b'\r\n' + tag + b' OK SEARCH done\r\n')
            return None
        if sub == b'FETCH':
            uid_set, _sep, items = args.partition(b' ')
            return await self.fetch(tag, _uid_set(uid_set, self.mailbox.uids()), items.upper())
        await self.send(tag + b' BAD unknown UID command\r\n')
        return None

    async def fetch(self, tag, uids, items):
        box = self.mailbox
        for uid in uids:
            if b'RFC822.SIZE' in items:
                await self.send(b'* %d FETCH (UID %d RFC822.SIZE %d)\r\n' % (uid, uid, box.size(uid)))
                continue
            if uid == box.at and box.kind == 'flood-fetch':
                await self.stream(b'* 1 EXISTS\r\n' * 4096)
                return False
            if uid == box.at and box.kind == 'big-literal':
                await self.send(b'* %d FETCH (UID %d BODY[]<0> {%d}\r\n' % (uid, uid, BIG_LITERAL))
                await self.stream(b'\0' * _BLOCK, BIG_LITERAL)
                return False
            if uid == box.at and box.kind == 'long-line':
                await self.send(b'* %d FETCH (UID %d FLAGS (' % (uid, uid))
                await self.stream(b'x' * _BLOCK)
                return False
            data = box.mail(uid)
            limit = re.search(br'<0\.(\d+)>', items)
            if limit:
                data = data[:int(limit.group(1))]
            await self.send(b'* %d FETCH (UID %d BODY[]<0> {%d}\r\n' % (uid, uid, len(data)) + data + b')\r\n')
        await self.send(tag + b' OK FETCH done\r\n')
        return None


def _uid_set(text, existing):
    wanted = []
    for item in text.split(b','):
        if b':' in item:
            low, high = item.split(b':', 1)
            top = max(existing) if existing else 0
            low, high = int(low), (top if high == b'*' else int(high))
            wanted.extend(uid for uid in existing if low <= uid <= high)
        elif item.isdigit() and int(item) in existing:
            wanted.append(int(item))
    return wanted


class HostileImap(object):
    def __init__(self, root):
        self.root = os.path.abspath(root)
        with open(os.path.join(self.root, 'mailboxes.json')) as handle:
            spec = json.load(handle)
        paddings = {}
        self.mailboxes = dict((login, Mailbox(self.root, login, box, paddings)) for login, box in spec.items())

    async def handle(self, reader, writer):
        try:
            await Connection(self, reader, writer).run()
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError):
            pass
        finally:
            writer.close()

    async def serve(self, max_seconds):
        import trustme
        ca = trustme.CA()
        ip = address()
        leaf = ca.issue_cert(SERVER_NAME, ip)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        ca_path = os.path.join(self.root, 'ca.pem')
        ca.cert_pem.write_to_path(ca_path)
        server = await asyncio.start_server(self.handle, ip, 0, ssl=context, limit=1024 * 1024)
        port = server.sockets[0].getsockname()[1]
        info = {'address': ip, 'port': port, 'ca_path': ca_path, 'pid': os.getpid(), 'host': SERVER_NAME}
        with open(os.path.join(self.root, 'info.json.tmp'), 'w') as handle:
            json.dump(info, handle)
        os.rename(os.path.join(self.root, 'info.json.tmp'), os.path.join(self.root, 'info.json'))
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
        try:
            await asyncio.wait_for(stop, max_seconds)
        except asyncio.TimeoutError:
            pass
        server.close()


def start_process(root, timeout=30.0, max_seconds=1800.0):
    """Run ``serve`` in a child process of its own session; returns its info (address, port, ca_path, pid)."""
    info_path = os.path.join(root, 'info.json')
    if os.path.exists(info_path):
        os.remove(info_path)
    log = open(os.path.join(root, 'hostile-imap.log'), 'ab')
    proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), 'serve', '--dir', root, '--max-seconds',
                             str(max_seconds)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(info_path):
            with open(info_path) as handle:
                info = json.load(handle)
            info['process'] = proc
            return info
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    proc.wait()
    with open(os.path.join(root, 'hostile-imap.log'), 'rb') as handle:
        raise RuntimeError('the hostile IMAP server did not start: %s' % handle.read()[-3000:].decode('utf-8', 'replace'))


def stop_process(info, timeout=15.0):
    proc = info['process']
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    serve = sub.add_parser('serve')
    serve.add_argument('--dir', required=True)
    serve.add_argument('--max-seconds', type=float, default=1800.0)
    args = parser.parse_args(argv)
    asyncio.run(HostileImap(args.dir).serve(args.max_seconds))


if __name__ == '__main__':
    main()
