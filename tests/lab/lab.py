# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The MTA-STS test lab: real BIND, nginx and SMTP servers on loopback, built from scenarios.py.

    python tests/lab/lab.py up --dir DIR      # start everything, return when every server answers
    python tests/lab/lab.py down --dir DIR    # stop what DIR/pids.json records

Importable: ``start(dir) -> dict`` (the content of DIR/lab.json) and ``stop(dir)``.

Everything lives under DIR (configs, zones, keys, certificates, logs, PIDs) but the policy files nginx's
workers read: DIR/www links to a directory of their own under /tmp (see labproc.public_dir), so that DIR may
be anywhere. Nothing under /etc changes.
Only 127.0.0.0/8 is used. Needs root (ports 25 and 443), bind9 (named, tsig-keygen), nginx, and the
Python packages trustme, aiosmtpd and dnspython.
"""

from __future__ import absolute_import, division, print_function

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import labproc  # noqa: E402  (lives beside this file)
import scenarios as sc  # noqa: E402

TSIG_NAME = 'lab-key'
TSIG_ALGORITHM = 'hmac-sha256'
READY_TIMEOUT = 20.0
WRONG_NAME = 'wrong-name.unrelated.test'


class LabError(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# small helpers

def _path(root, *parts):
    return os.path.join(root, *parts)


_write = labproc.write
_pid_alive = labproc.pid_alive
_cmdline = labproc.cmdline
_tcp_open = labproc.tcp_open
_udp_free = labproc.udp_free


def _tail(path, lines=40):
    return labproc.tail(path, lines)


# ---------------------------------------------------------------------------------------------------
# certificates

def _make_certs(root):
    """Lab CA (ca.pem), rogue CA (rogue-ca.pem, not in ca.pem) and every leaf the scenarios need."""
    import trustme

    certs = _path(root, 'certs')
    os.makedirs(certs, exist_ok=True)
    ca = trustme.CA(organization_name='mailsec lab CA')
    rogue = trustme.CA(organization_name='mailsec rogue CA')
    _write(_path(root, 'ca.pem'), ca.cert_pem.bytes())
    _write(_path(certs, 'ca.key'), ca.private_key_pem.bytes(), 0o600)  # for tests that issue more certificates
    _write(_path(certs, 'rogue-ca.pem'), rogue.cert_pem.bytes())
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    expired = {'not_before': now - datetime.timedelta(days=60), 'not_after': now - datetime.timedelta(days=1)}
    expiring = {'not_before': now - datetime.timedelta(days=60), 'not_after': now + datetime.timedelta(days=5)}

    def leaf(name, authority, names, **kw):
        cert = authority.issue_cert(*names, **kw)
        chain = b''.join(blob.bytes() for blob in cert.cert_chain_pems)
        _write(_path(certs, name + '.crt'), chain)
        _write(_path(certs, name + '.key'), cert.private_key_pem.bytes(), 0o600)
        return {'cert': _path(certs, name + '.crt'), 'key': _path(certs, name + '.key')}

    def cn_only(name, host):
        from cn_only import write_cn_only_leaf
        cert_path, key_path = write_cn_only_leaf(ca, host, _path(certs, name + '.crt'), _path(certs, name + '.key'))
        return {'cert': cert_path, 'key': key_path}

    out = {'policy': {}, 'smtp': {}}
    out['default'] = leaf('default', ca, ['lab-default.test'])
    for scenario in sc.SCENARIOS:
        site = scenario['web']
        if not site or site['ip'] not in (sc.WEB_IP, sc.GARBAGE_IP, sc.INTERIM_IP):
            continue
        host, kind = site['host'], site['cert']
        if kind == 'valid':
            out['policy'][host] = leaf(host, ca, [host])
        elif kind == 'expired':
            out['policy'][host] = leaf(host, ca, [host], **expired)
        elif kind == 'expiring':
            out['policy'][host] = leaf(host, ca, [host], **expiring)
        elif kind == 'wrongname':
            out['policy'][host] = leaf(host, ca, ['mta-sts.' + WRONG_NAME])
        elif kind == 'rogue':
            out['policy'][host] = leaf(host, rogue, [host])
        elif kind == 'cn-only':  # no subjectAltName: trustme cannot, cryptography can
            out['policy'][host] = cn_only(host, host)
        else:
            raise LabError('unknown certificate kind %r for %s' % (kind, host))
    names = sc.mx_names_at
    out['smtp'][sc.SMTP_GOOD_IP] = leaf('smtp-good', ca, names(sc.SMTP_GOOD_IP))
    out['smtp'][sc.SMTP_EXPIRED_IP] = leaf('smtp-expired', ca, names(sc.SMTP_EXPIRED_IP), **expired)
    out['smtp'][sc.SMTP_WRONGNAME_IP] = leaf('smtp-wrongname', ca, [WRONG_NAME])
    out['smtp'][sc.SMTP_ROGUE_IP] = leaf('smtp-rogue', rogue, names(sc.SMTP_ROGUE_IP))
    out['smtp'][sc.SMTP_EXPIRING_IP] = leaf('smtp-expiring', ca, names(sc.SMTP_EXPIRING_IP), **expiring)
    for name in names(sc.SMTP_CNONLY_IP)[:1]:  # a CN holds one name
        out['smtp'][sc.SMTP_CNONLY_IP] = cn_only('smtp-cn-only', name)
    return out


# ---------------------------------------------------------------------------------------------------
# BIND

def _tsig_key(root):
    keyfile = _path(root, 'bind', 'tsig.key')
    try:
        text = subprocess.run(['tsig-keygen', '-a', TSIG_ALGORITHM, TSIG_NAME], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LabError('tsig-keygen failed (is bind9 installed?): %s' % exc)
    _write(keyfile, text, 0o600)
    secret = re.search(r'secret\s+"([^"]+)"', text).group(1)
    return {'name': TSIG_NAME, 'algorithm': TSIG_ALGORITHM, 'secret': secret, 'keyfile': keyfile}


def _zone_of(owner, zones):
    """The deepest zone that contains owner, as BIND chooses it."""
    best = None
    for zone in zones:
        if owner == zone or owner.endswith('.' + zone):
            if best is None or len(zone) > len(best):
                best = zone
    return best


def _rdata(rtype, value):
    if rtype == 'TXT':
        return ' '.join('"%s"' % part.replace('\\', '\\\\').replace('"', '\\"') for part in value)
    return value


def zone_layout():
    """{zone: {'broken': bool, 'records': [(owner, type, value)]}} over all scenarios."""
    layout = {}
    for scenario in sc.SCENARIOS:
        for zone in scenario['zones']:
            layout[zone] = {'broken': zone in scenario['broken'], 'records': []}
        for record in scenario['records']:
            zone = _zone_of(record[0].lower(), scenario['zones'])
            if zone is None:
                raise LabError('%s: record %r is in none of its zones %r' % (scenario['id'], record,
                                                                             scenario['zones']))
            layout[zone]['records'].append(record)
    return layout


def _zone_text(zone, data):
    lines = ['$ORIGIN %s.' % zone, '$TTL 300',
             '@ IN SOA ns.%s. hostmaster.%s. ( 1 3600 600 86400 300 )' % (zone, zone),
             '@ IN NS ns.%s.' % zone, 'ns IN A %s' % sc.DNS_IP]
    for owner, rtype, value in data['records']:
        lines.append('%s. IN %s %s' % (owner, rtype, _rdata(rtype, value)))
    if data['broken']:
        # Deliberately invalid: BIND refuses to load the zone and answers SERVFAIL for it.
        lines.append('broken IN A this-is-not-an-address')
    return '\n'.join(lines) + '\n'


def _write_bind(root, tsig):
    bind = _path(root, 'bind')
    zonedir = _path(bind, 'zones')
    if os.path.isdir(zonedir):
        shutil.rmtree(zonedir)  # old zone files and their .jnl journals
    os.makedirs(zonedir)
    conf = [
        'include "%s";' % tsig['keyfile'],
        'options {',
        '    directory "%s";' % bind,
        '    pid-file "%s";' % _path(bind, 'named.pid'),
        '    session-keyfile "%s";' % _path(bind, 'session.key'),
        '    managed-keys-directory "%s";' % bind,
        '    listen-on port %d { %s; };' % (sc.DNS_PORT, sc.DNS_IP),
        '    listen-on-v6 { none; };',
        '    recursion no;',
        '    allow-query { any; };',
        '    dnssec-validation no;',
        '    notify no;',
        '    check-names primary ignore;  # _mta-sts, _smtp._tls owners and their ns. names',
        '    minimal-responses no;',
        '};',
        'controls { };',
        'logging { category default { default_stderr; }; category lame-servers { null; }; };',
    ]
    layout = zone_layout()
    for zone in sorted(layout):
        path = _path(zonedir, zone + '.zone')
        _write(path, _zone_text(zone, layout[zone]))
        conf += ['zone "%s" {' % zone, '    type primary;', '    file "%s";' % path,
                 '    update-policy { grant %s zonesub ANY; };' % TSIG_NAME, '};']
    _write(_path(bind, 'named.conf'), '\n'.join(conf) + '\n')
    return _path(bind, 'named.conf'), layout


# ---------------------------------------------------------------------------------------------------
# nginx

def _nginx_location(site, docroot):
    response = site['response']
    if response == 'ok':
        return ['default_type text/plain;', 'charset off;']
    if response == 'charset':
        return ['default_type text/plain;', 'charset utf-8;', 'charset_types text/plain;']
    if response == 'html':
        return ['default_type text/html;', 'charset off;']
    if response == 'brotli':  # labelled with an encoding the audit never offers (it accepts gzip, deflate)
        return ['default_type text/plain;', 'charset off;', 'add_header Content-Encoding br;']
    if response == '404':
        return ['return 404;']
    if response == 'redirect':
        return ['return 301 https://mta-sts.pass-enforce.test/.well-known/mta-sts.txt;']
    raise LabError('unknown web response %r for %s' % (response, site['host']))


def _write_nginx(root, certs):
    """nginx.conf in ROOT/nginx, the policy files in the public directory ROOT/www links to.

    Every path below ROOT is written relative to the nginx prefix (ROOT/nginx), so that ROOT may contain
    spaces or other characters nginx's config syntax treats specially; the workers (nobody) read only the
    document roots, which public_dir places where they can reach them.
    """
    prefix = _path(root, 'nginx')
    for sub in ('logs', 'tmp'):
        os.makedirs(_path(prefix, sub), exist_ok=True)
    try:
        www = labproc.public_dir(root, 'www')
    except OSError as exc:
        raise LabError(str(exc))

    def rel(path):
        return os.path.relpath(path, prefix)

    temp = ['%s_temp_path %s;' % (kind, rel(_path(prefix, 'tmp', kind)))
            for kind in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi')]
    conf = [
        'worker_processes 1;',
        'pid nginx.pid;',
        'error_log logs/error.log info;',
        'events { worker_connections 512; }',
        'http {',
        '    access_log logs/access.log;',
    ] + ['    ' + line for line in temp] + [
        '    server_tokens off;',
        '    server_names_hash_bucket_size 128;',
        '    server_names_hash_max_size 2048;',
        '    types { }',
        '    default_type application/octet-stream;',
        '    charset off;',
        '    ssl_protocols TLSv1.2 TLSv1.3;',
        '    ssl_certificate %s;' % rel(certs['default']['cert']),
        '    ssl_certificate_key %s;' % rel(certs['default']['key']),
        '    server {',
        '        listen %s:%d ssl default_server;' % (sc.WEB_IP, sc.HTTPS_PORT),
        '        server_name _;',
        '        return 421;',
        '    }',
        '    server {',
        '        # plain HTTP on the HTTPS port: the TLS handshake of the audit fails',
        '        listen %s:%d default_server;' % (sc.PLAIN_IP, sc.HTTPS_PORT),
        '        server_name _;',
        '        location / { default_type text/plain; return 200 "version: STSv1\\n"; }',
        '    }',
    ]
    for scenario in sc.SCENARIOS:
        site = scenario['web']
        if not site or site['ip'] != sc.WEB_IP:
            continue
        docroot = _path(www, site['host'])
        if site['body'] is not None:
            _write(_path(docroot, '.well-known', 'mta-sts.txt'), site['body'], 0o644)
        else:
            os.makedirs(docroot, exist_ok=True)
        cert = certs['policy'][site['host']]
        conf += [
            '    server {',
            '        listen %s:%d ssl;' % (sc.WEB_IP, sc.HTTPS_PORT),
            '        server_name %s;' % site['host'],
            '        ssl_certificate %s;' % rel(cert['cert']),
            '        ssl_certificate_key %s;' % rel(cert['key']),
            '        root %s;' % docroot,
            '        location = /.well-known/mta-sts.txt {',
        ] + ['            ' + line for line in _nginx_location(site, docroot)] + [
            '        }',
            '        location / { return 404; }',
            '    }',
        ]
    conf.append('}')
    path = _path(prefix, 'nginx.conf')
    _write(path, '\n'.join(conf) + '\n')
    for dirpath, dirnames, filenames in os.walk(www):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            os.chmod(_path(dirpath, name), 0o644)
    return path, www


def privilege_problem():
    """Why this process cannot listen on the lab's ports (25, 443), or None."""
    if os.geteuid() == 0:
        return None
    try:
        with open('/proc/sys/net/ipv4/ip_unprivileged_port_start') as handle:
            first_unprivileged = int(handle.read())
    except (OSError, ValueError):
        first_unprivileged = 1024
    if first_unprivileged <= min(sc.SMTP_PORT, sc.HTTPS_PORT):
        return None
    return ('needs root: the servers listen on ports %d and %d of %s.x. Run it as root; as another user, '
            '`make sanity lint docs-lint unit` need no lab' % (sc.SMTP_PORT, sc.HTTPS_PORT, sc.WEB_IP.rsplit('.', 1)[0]))


# ---------------------------------------------------------------------------------------------------
# the Python servers: SMTP (aiosmtpd), silent TCP, TLS-but-not-HTTP

def _python_servers_config(root, certs):
    smtp = [
        {'ip': sc.SMTP_GOOD_IP, 'tls': certs['smtp'][sc.SMTP_GOOD_IP]},
        {'ip': sc.SMTP_EXPIRED_IP, 'tls': certs['smtp'][sc.SMTP_EXPIRED_IP]},
        {'ip': sc.SMTP_NOTLS_IP, 'tls': None},
        {'ip': sc.SMTP_WRONGNAME_IP, 'tls': certs['smtp'][sc.SMTP_WRONGNAME_IP]},
        {'ip': sc.SMTP_ROGUE_IP, 'tls': certs['smtp'][sc.SMTP_ROGUE_IP]},
        {'ip': sc.SMTP_EXPIRING_IP, 'tls': certs['smtp'][sc.SMTP_EXPIRING_IP]},
        {'ip': sc.SMTP_CNONLY_IP, 'tls': certs['smtp'].get(sc.SMTP_CNONLY_IP, certs['default'])},
    ]
    garbage = [certs['policy'][s['web']['host']] for s in sc.SCENARIOS
               if s['web'] and s['web']['ip'] == sc.GARBAGE_IP]
    config = {'smtp_port': sc.SMTP_PORT, 'smtp': smtp,
              'tls_broken': {'ip': sc.SMTP_TLSBROKEN_IP},
              'silent': {'ip': sc.SILENT_IP, 'port': sc.HTTPS_PORT},
              'garbage': {'ip': sc.GARBAGE_IP, 'port': sc.HTTPS_PORT, 'tls': garbage[0] if garbage else
                          certs['default']},
              'interim': {'ip': sc.INTERIM_IP, 'port': sc.HTTPS_PORT,
                          'sites': dict((s['web']['host'], {'tls': certs['policy'][s['web']['host']],
                                                            'body': s['web']['body'].decode('latin-1')})
                                        for s in sc.SCENARIOS if s['web'] and s['web']['ip'] == sc.INTERIM_IP)}}
    path = _path(root, 'pyservers.json')
    _write(path, json.dumps(config, indent=2))
    return path


def serve_python(config_path):
    """Run the Python servers in the foreground until SIGTERM (started by start() as a child process)."""
    import threading

    from aiosmtpd.controller import Controller

    with open(config_path) as handle:
        config = json.load(handle)

    class Sink(object):
        async def handle_DATA(self, server, session, envelope):
            return '250 OK: discarded by the lab'

    controllers = []
    for server in config['smtp']:
        kwargs = {}
        if server['tls']:
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(server['tls']['cert'], server['tls']['key'])
            kwargs['tls_context'] = context
        controller = Controller(Sink(), hostname=server['ip'], port=config['smtp_port'],
                                server_hostname='lab-smtp', ready_timeout=10, **kwargs)
        controller.start()
        controllers.append(controller)
        print('smtp listening on %s:%d (tls=%s)' % (server['ip'], config['smtp_port'], bool(server['tls'])),
              flush=True)

    held = []  # the silent listener's connections, kept open and never answered

    def silent():
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((config['silent']['ip'], config['silent']['port']))
        listener.listen(128)
        while True:
            conn = listener.accept()[0]
            held.append(conn)
            del held[:-500]

    garbage_conf = config['garbage']
    garbage_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    garbage_context.load_cert_chain(garbage_conf['tls']['cert'], garbage_conf['tls']['key'])

    def garbage_one(conn):
        try:
            conn.settimeout(10)
            with garbage_context.wrap_socket(conn, server_side=True) as tls:
                data = b''
                while b'\r\n\r\n' not in data and len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                tls.sendall(b'THIS IS NOT HTTP\r\n\r\nversion: STSv1\r\n')
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def garbage():
        _accept_forever((garbage_conf['ip'], garbage_conf['port']), garbage_one)

    def tls_broken_one(conn):
        # Announces STARTTLS and agrees to it, then sends bytes that are no TLS record.
        try:
            conn.settimeout(10)
            conn.sendall(b'220 lab-broken-tls ESMTP\r\n')
            reader = conn.makefile('rb')
            for line in reader:
                verb = line.strip().split(b' ', 1)[0].upper()
                if verb in (b'EHLO', b'HELO'):
                    conn.sendall(b'250-lab-broken-tls\r\n250-STARTTLS\r\n250 8BITMIME\r\n')
                elif verb == b'STARTTLS':
                    conn.sendall(b'220 Ready to start TLS\r\nthis is not a TLS record\r\n')
                    break
                elif verb == b'QUIT':
                    conn.sendall(b'221 bye\r\n')
                    break
                else:
                    conn.sendall(b'250 OK\r\n')
        except OSError:
            pass
        finally:
            conn.close()

    def tls_broken():
        _accept_forever((config['tls_broken']['ip'], config['smtp_port']), tls_broken_one)

    # RFC 9110 section 15.2: interim responses (100, 103) before the final one; nginx cannot send them
    interim_conf = config['interim']
    interim_contexts = {}
    for host, site in interim_conf['sites'].items():
        interim_contexts[host] = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        interim_contexts[host].load_cert_chain(site['tls']['cert'], site['tls']['key'])
    interim_default = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    interim_default.load_cert_chain(garbage_conf['tls']['cert'], garbage_conf['tls']['key'])

    def choose(sslobj, server_name, _context):
        if server_name in interim_contexts:
            sslobj.context = interim_contexts[server_name]
    interim_default.sni_callback = choose

    def interim_one(conn):
        try:
            conn.settimeout(10)
            with interim_default.wrap_socket(conn, server_side=True) as tls:
                data = b''
                while b'\r\n\r\n' not in data and len(data) < 65536:
                    chunk = tls.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                found = re.search(br'(?im)^host:\s*([^\s:]+)', data)
                host = found.group(1).decode('ascii', 'replace').lower() if found else ''
                site = interim_conf['sites'].get(host) or next(iter(interim_conf['sites'].values()))
                body = site['body'].encode('latin-1')
                tls.sendall(b'HTTP/1.1 100 Continue\r\n\r\n'
                            b'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n'
                            b'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n'
                            b'Connection: close\r\n\r\n' % len(body) + body)
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def interim():
        _accept_forever((interim_conf['ip'], interim_conf['port']), interim_one)

    for target in (silent, garbage, tls_broken, interim):
        threading.Thread(target=target, daemon=True).start()
    print('silent listener on %s:%d, not-HTTP server on %s:%d, broken STARTTLS on %s:%d' % (
        config['silent']['ip'], config['silent']['port'], garbage_conf['ip'], garbage_conf['port'],
        config['tls_broken']['ip'], config['smtp_port']), flush=True)

    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: stopping.set())
    stopping.wait()
    for controller in controllers:
        try:
            controller.stop()
        except Exception:  # noqa: BLE001 - shutting down anyway
            pass


# ---------------------------------------------------------------------------------------------------
# readiness probes

def _dns_ready(zone):
    import dns.message
    import dns.query
    import dns.rcode

    query = dns.message.make_query(zone, 'SOA')
    try:
        udp = dns.query.udp(query, sc.DNS_IP, port=sc.DNS_PORT, timeout=0.5)
        tcp = dns.query.tcp(query, sc.DNS_IP, port=sc.DNS_PORT, timeout=0.5)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return udp.rcode() == dns.rcode.NOERROR and tcp.rcode() == dns.rcode.NOERROR and bool(udp.answer)


def _https_ready(root, host):
    context = ssl.create_default_context(cafile=_path(root, 'ca.pem'))
    try:
        with socket.create_connection((sc.WEB_IP, sc.HTTPS_PORT), timeout=1) as raw:
            with context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(('GET /.well-known/mta-sts.txt HTTP/1.0\r\nHost: %s\r\n\r\n' % host).encode())
                return tls.recv(64).startswith(b'HTTP/1.1 200')
    except (OSError, ssl.SSLError):
        return False


def _smtp_banner(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=1) as conn:
            return conn.recv(64).startswith(b'220')
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------
# start / stop

PROCESSES = ('named', 'nginx', 'pyservers')


def _pids_path(root):
    return _path(root, 'pids.json')


def _logs(root):
    return {'named': _path(root, 'logs', 'named.log'),
            'nginx': _path(root, 'nginx', 'logs', 'error.log'),
            'nginx-stderr': _path(root, 'logs', 'nginx.log'),
            'pyservers': _path(root, 'logs', 'pyservers.log')}


def _log_report(root):
    out = []
    for name, path in sorted(_logs(root).items()):
        if os.path.exists(path):
            out.append('----- %s (%s), last lines -----\n%s' % (name, path, _tail(path)))
    return '\n'.join(out)


def _spawn(root, name, argv, log):
    return labproc.spawn(root, argv, log)


def _save_pids(root, pids):
    _write(_pids_path(root), json.dumps(pids, indent=2))


def running(root):
    """True when ROOT/pids.json names live processes of this lab directory (all of them)."""
    root = os.path.abspath(root)
    try:
        with open(_pids_path(root)) as handle:
            pids = json.load(handle)
    except (OSError, ValueError):
        return False
    return bool(pids) and all(_pid_alive(pid) and root in _cmdline(pid) for pid in pids.values())


def load(root):
    """The description of a running lab (ROOT/lab.json)."""
    with open(_path(os.path.abspath(root), 'lab.json')) as handle:
        return json.load(handle)


def stop(root, quiet=True):
    """Stop the servers recorded in ROOT/pids.json (each by its own PID and process group)."""
    root = os.path.abspath(root)
    path = _pids_path(root)
    stopped = []
    if os.path.exists(path):
        with open(path) as handle:
            pids = json.load(handle)
        # Only a process whose command line names this lab directory is ours (PIDs get reused).
        owned = [(name, pid) for name, pid in pids.items() if _pid_alive(pid) and root in _cmdline(pid)]
        stopped = labproc.stop_processes(owned, quiet=quiet)
        os.remove(path)
    labproc.remove_public(root, 'www')
    return stopped


def _check_free():
    busy = []
    if not _udp_free(sc.DNS_IP, sc.DNS_PORT) or _tcp_open(sc.DNS_IP, sc.DNS_PORT):
        busy.append('%s:%d' % (sc.DNS_IP, sc.DNS_PORT))
    endpoints = [(ip, sc.HTTPS_PORT) for ip in (sc.WEB_IP, sc.SILENT_IP, sc.GARBAGE_IP, sc.PLAIN_IP, sc.INTERIM_IP)]
    endpoints += [(ip, sc.SMTP_PORT) for ip in sc.SMTP_SERVER_IPS]
    endpoints += [(sc.REFUSED_IP, sc.HTTPS_PORT), (sc.SMTP_REFUSED_IP, sc.SMTP_PORT)]
    for ip, port in endpoints:
        if _tcp_open(ip, port, timeout=0.2):
            busy.append('%s:%d' % (ip, port))
    if busy:
        raise LabError('already in use: %s. Another lab (or server) is running: stop it (lab.py down --dir '
                       '<its dir>), or run this one beside it with MTA_STS_LAB_SLOT=<1-250>.' % ', '.join(busy))


def _lab_vars(root, domains, options=None):
    """Ansible extra-vars as YAML (JSON scalars are valid YAML, so no YAML library is needed)."""
    lines = ['---', '# written by tests/lab/lab.py up', 'mailsec_mta_sts_domains:']
    lines += ['  - %s' % json.dumps(domain, ensure_ascii=False) for domain in domains]
    lines += ['mailsec_mta_sts_nameservers: [%s]' % json.dumps(sc.DNS_IP),
              'mailsec_mta_sts_dns_port: %d' % sc.DNS_PORT,
              'mailsec_mta_sts_ca_path: %s' % json.dumps(_path(root, 'ca.pem')),
              'mailsec_mta_sts_timeout: 5',
              '# the lab listens on loopback, which the audit does not contact unless allowed',
              'mailsec_mta_sts_allow_private_addresses: true']
    for key, value in sorted((options or {}).items()):
        lines.append('mailsec_mta_sts_%s: %s' % (key, json.dumps(value)))
    return '\n'.join(lines) + '\n'


def start(root, timeout=READY_TIMEOUT):
    """Start the lab in ROOT; return the lab description (also written to ROOT/lab.json)."""
    began = time.monotonic()
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    problem = privilege_problem()
    if problem:
        raise LabError(problem)
    stop(root)  # leftovers of a previous run in this directory
    for tool in ('named', 'nginx', 'tsig-keygen'):
        if not shutil.which(tool, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin'):
            raise LabError('%s not found: apt-get install bind9 bind9-utils nginx' % tool)
    _check_free()
    for stale in ('lab.json', 'lab-vars.yml'):
        if os.path.exists(_path(root, stale)):
            os.remove(_path(root, stale))
    os.makedirs(_path(root, 'logs'), exist_ok=True)

    certs = _make_certs(root)
    tsig = _tsig_key(root)
    named_conf, layout = _write_bind(root, tsig)
    nginx_conf, www = _write_nginx(root, certs)
    py_conf = _python_servers_config(root, certs)
    logs = _logs(root)

    named = shutil.which('named', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
    nginx = shutil.which('nginx', path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')
    procs = {}
    try:
        commands = [
            ('named', [named, '-g', '-c', named_conf], logs['named']),
            ('nginx', [nginx, '-p', _path(root, 'nginx'), '-c', nginx_conf, '-e', logs['nginx'],
                       '-g', 'daemon off;'], logs['nginx-stderr']),
            ('pyservers', [sys.executable, os.path.abspath(__file__), '_serve', '--config', py_conf],
             logs['pyservers']),
        ]
        for name, argv, log in commands:
            procs[name] = _spawn(root, name, argv, log)
            _save_pids(root, dict((key, proc.pid) for key, proc in procs.items()))

        good_zone = sc.BY_ID['pass-enforce']['domain']
        checks = {
            'named': lambda: _dns_ready(good_zone),
            'nginx': lambda: (_https_ready(root, 'mta-sts.' + good_zone)
                              and _tcp_open(sc.PLAIN_IP, sc.HTTPS_PORT)),
            'pyservers': lambda: (all(_smtp_banner(ip, sc.SMTP_PORT) for ip in sc.SMTP_SERVER_IPS)
                                  and _tcp_open(sc.SILENT_IP, sc.HTTPS_PORT)
                                  and _tcp_open(sc.GARBAGE_IP, sc.HTTPS_PORT)
                                  and _tcp_open(sc.INTERIM_IP, sc.HTTPS_PORT)),
        }
        pending = dict(checks)
        deadline = time.monotonic() + timeout
        while pending:
            for name in list(pending):
                if procs[name].poll() is not None:
                    raise LabError('%s exited with status %s during start-up' % (name, procs[name].returncode))
                if pending[name]():
                    del pending[name]
            if not pending:
                break
            if time.monotonic() > deadline:
                raise LabError('not answering after %.0f s: %s' % (timeout, ', '.join(sorted(pending))))
            time.sleep(0.05)
        # BIND loads zones in parallel: wait until every good zone answers, and log broken ones.
        _wait_zones(layout, deadline)
    except BaseException as exc:
        report = _log_report(root)
        stop(root)
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if isinstance(exc, LabError):
            raise LabError('lab start-up failed in %s: %s\n%s' % (root, exc, report))
        raise

    info = {
        'dir': root,
        'slot': sc.SLOT,
        'nameserver': sc.DNS_IP,
        'dns_port': sc.DNS_PORT,
        'ca_path': _path(root, 'ca.pem'),
        'ca_key_path': _path(root, 'certs', 'ca.key'),
        'rogue_ca_path': _path(root, 'certs', 'rogue-ca.pem'),
        'tsig': {'name': tsig['name'], 'algorithm': tsig['algorithm'], 'secret': tsig['secret'],
                 'keyfile': tsig['keyfile']},
        'bind': {'conf': named_conf, 'zone_dir': _path(root, 'bind', 'zones'), 'log': logs['named'],
                 'zones': sorted(z for z in layout if not layout[z]['broken']),
                 'broken_zones': sorted(z for z in layout if layout[z]['broken'])},
        'nginx': {'prefix': _path(root, 'nginx'), 'conf': nginx_conf, 'docroot': www,
                  'pid_file': _path(root, 'nginx', 'nginx.pid'), 'error_log': logs['nginx'],
                  'access_log': _path(root, 'nginx', 'logs', 'access.log'), 'ip': sc.WEB_IP,
                  'port': sc.HTTPS_PORT},
        'addresses': {'web': sc.WEB_IP, 'silent': sc.SILENT_IP, 'refused': sc.REFUSED_IP,
                      'not_http': sc.GARBAGE_IP, 'plain_http': sc.PLAIN_IP,
                      'smtp_good': sc.SMTP_GOOD_IP, 'smtp_expired': sc.SMTP_EXPIRED_IP,
                      'smtp_no_starttls': sc.SMTP_NOTLS_IP, 'smtp_wrong_name': sc.SMTP_WRONGNAME_IP,
                      'smtp_refused': sc.SMTP_REFUSED_IP, 'smtp_rogue': sc.SMTP_ROGUE_IP,
                      'smtp_tls_broken': sc.SMTP_TLSBROKEN_IP, 'smtp_expiring': sc.SMTP_EXPIRING_IP},
        'smtp_port': sc.SMTP_PORT,
        'pids': dict((name, proc.pid) for name, proc in procs.items()),
        'logs': logs,
        'groups': dict((name, {'options': opts, 'description': text,
                               'inputs': [s['input'] for s in sc.by_group(name)]})
                       for name, (opts, text) in sc.GROUPS.items()),
        'scenarios': [_scenario_json(s) for s in sc.SCENARIOS],
        'up_seconds': round(time.monotonic() - began, 2),
    }
    _write(_path(root, 'lab.json'), json.dumps(info, indent=2, ensure_ascii=False))
    # The demo audits every scenario at once, MX STARTTLS included, so the mxtls-* domains show their verdicts.
    _write(_path(root, 'lab-vars.yml'), _lab_vars(root, [s['input'] for s in sc.SCENARIOS], {'check_mx_tls': True}))
    for name, (options, dummy) in sc.GROUPS.items():
        _write(_path(root, 'lab-vars-%s.yml' % name),
               _lab_vars(root, [s['input'] for s in sc.by_group(name)], options))
    return info


def _scenario_json(scenario):
    out = dict(scenario)
    out['records'] = [[owner, rtype, list(value) if isinstance(value, tuple) else value]
                      for owner, rtype, value in scenario['records']]
    if scenario['web']:
        web = dict(scenario['web'])
        body = web.pop('body')
        web['body_size'] = len(body) if body is not None else None
        out['web'] = web
    return out


def _wait_zones(layout, deadline):
    import dns.message
    import dns.query
    import dns.rcode

    pending = set(zone for zone, data in layout.items() if not data['broken'])
    while pending:
        for zone in sorted(pending):
            try:
                reply = dns.query.udp(dns.message.make_query(zone, 'SOA'), sc.DNS_IP, port=sc.DNS_PORT,
                                      timeout=0.5)
            except Exception:  # noqa: BLE001 - retried below
                continue
            if reply.rcode() == dns.rcode.NOERROR and reply.answer:
                pending.discard(zone)
        if pending and time.monotonic() > deadline:
            raise LabError('BIND does not serve these zones: %s' % ', '.join(sorted(pending)[:10]))
        if pending:
            time.sleep(0.05)


# ---------------------------------------------------------------------------------------------------
# command line

def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name, text in (('up', 'start the lab'), ('down', 'stop the lab'), ('status', 'show what runs')):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument('--dir', required=True, help='lab directory (configs, keys, logs, PIDs)')
        if name == 'up':
            cmd.add_argument('--timeout', type=float, default=READY_TIMEOUT, help='seconds to wait for servers')
    serve = sub.add_parser('_serve', help=argparse.SUPPRESS)
    serve.add_argument('--config', required=True)
    args = parser.parse_args(argv)

    if args.command == '_serve':
        serve_python(args.config)
        return 0
    if args.command == 'up':
        try:
            info = start(args.dir, timeout=args.timeout)
        except LabError as exc:
            print('lab: %s' % exc, file=sys.stderr)
            return 1
        print('lab up in %.2f s: %s' % (info['up_seconds'], info['dir']))
        print('  dns %s:%d  ca %s' % (info['nameserver'], info['dns_port'], info['ca_path']))
        print('  %d scenarios; %s' % (len(info['scenarios']), _path(info['dir'], 'lab.json')))
        print('  pids %s' % ', '.join('%s=%d' % kv for kv in sorted(info['pids'].items())))
        return 0
    if args.command == 'down':
        stopped = stop(args.dir, quiet=False)
        if not stopped:
            print('nothing running for %s' % os.path.abspath(args.dir))
        return 0
    if args.command == 'status':
        path = _pids_path(os.path.abspath(args.dir))
        if not os.path.exists(path):
            print('not running')
            return 1
        with open(path) as handle:
            pids = json.load(handle)
        alive = dict((name, _pid_alive(pid)) for name, pid in pids.items())
        for name, pid in sorted(pids.items()):
            print('%-10s pid %-8d %s' % (name, pid, 'running' if alive[name] else 'gone'))
        return 0 if all(alive.values()) else 1
    return 2


def _accept_forever(address, handle):
    """Accept on ``address`` and hand each connection to ``handle`` in a thread of its own (lab servers only)."""
    import threading

    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(address)
    listener.listen(128)
    while True:
        conn = listener.accept()[0]
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


if __name__ == '__main__':
    sys.exit(main())
