# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The remediation lab: servers the deploy role changes, on loopback, separate from the audit lab (lab.py).

    python tests/lab/deploy_lab.py up --dir DIR      # start everything, return when every server answers
    python tests/lab/deploy_lab.py down --dir DIR    # stop what DIR/pids.json records

Importable: ``start(dir) -> dict`` (the content of DIR/deploy-lab.json) and ``stop(dir)``.

What runs (addresses in 127.0.0.0/8 only, everything below DIR, nothing under /etc changed; the addresses and
ports below are those of MTA_STS_LAB_SLOT unset, see SLOT);
DIR/www and DIR/static, the document roots that nginx's and Apache's workers read as nobody, link to
directories of their own under /tmp, so that DIR may be anywhere - see labproc.public_dir):

- BIND on 127.0.0.1:53 - the zone ``test.`` and one zone per nsupdate domain (``dl-parent.test`` holds three
  domains: ``PARENT_ZONE``), RFC 2136 updates with a TSIG key. The zone ``test.`` delegates the PowerDNS domain
  to PowerDNS, so that a resolver pointed at 127.0.0.1 finds the authoritative servers of every domain the way
  it would on the Internet.
- A second BIND on 127.0.0.1:``ALT_DNS_PORT`` (not 53), the only server of ``dl-port.test``: a provider whose
  server listens on another port (the role's DNS wait must ask it there).
- nginx on 127.0.0.40:443 and :80 - its main config includes DIR/nginx/conf.d/*.conf, the directory the role
  writes its virtual hosts to; one server block stands for hosting "elsewhere" (the static target).
- PowerDNS Authoritative (sqlite3 backend) on 127.0.0.42:53, its HTTP API on 127.0.0.42:8081.
- pebble (ACME) on 127.0.0.43:14000, resolving through the BIND above, validating http-01 on port 80.
- moto's server (Route 53 API) on 127.0.0.44:5000.
- SMTP with STARTTLS (aiosmtpd) on 127.0.0.45:25, the address of every MX host, with a lab-CA certificate
  valid for every MX host name: the role's enforce readiness audit checks the MX hosts' STARTTLS.
- Nothing on 127.0.0.46 (``DOWN_IP``): a DNS server that is down; tests may put a relay there.
- Apache httpd on 127.0.0.41:443 and :80 when apache2 is installed (optional): it includes
  DIR/apache/conf.d/*.conf, where the role's apache target writes.

The domains start with no MTA-STS at all: an MX record and the MX host's address, nothing else.
Needs root (ports 25, 53, 80, 443), bind9, nginx, pebble, pdns-server, pdns-backend-sqlite3, and the Python
packages trustme, dnspython, requests, boto3, moto[server] and aiosmtpd.

BIND knows two TSIG keys: ``deploy-key`` may update every nsupdate zone; ``limited-key`` may update only
the names ``LIMITED_GRANTS`` lists (the policy host and TLS-RPT records of dl-dnsfault.test, not its
``_mta-sts`` record), so that a DNS provider refusing the id update can be tested after the role's
preflight (which only reads) has passed.
"""

from __future__ import absolute_import, division, print_function

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import labproc  # noqa: E402  (lives beside this file)

# MTA_STS_LAB_SLOT=N (1-250) moves the lab to 127.0.N.40-46 and its DNS servers (BIND can only listen on
# 127.0.0.1 here) to ports 20053+N and 21053+N, so that two deploy labs can run at once; unset or 0: the
# addresses 127.0.0.40-46 and BIND on port 53. The role needs no port 53: it asks its servers on their ports.
SLOT = int(os.environ.get('MTA_STS_LAB_SLOT') or 0)
if not 0 <= SLOT <= 250:
    raise ValueError('MTA_STS_LAB_SLOT must be between 0 and 250, not %d' % SLOT)
NET = '127.0.%d.' % SLOT
DNS_IP = '127.0.0.1'
DNS_PORT = 20053 + SLOT if SLOT else 53
# MTA_STS_DEPLOY_LAB_DNS_PORT moves the first BIND to another port when 20053+N is taken by another lab (the bench's).
DNS_PORT = int(os.environ.get('MTA_STS_DEPLOY_LAB_DNS_PORT') or DNS_PORT)
ALT_DNS_PORT = 21053 + SLOT if SLOT else 9953  # the second BIND: the only server of ALT_DNS_DOMAINS
WEB_IP = NET + '40'
APACHE_IP = NET + '41'        # Apache httpd, when installed (the role's apache target)
PDNS_IP = NET + '42'          # PowerDNS listens on DNS_PORT too
PDNS_API_PORT = 8081
PEBBLE_IP = NET + '43'
MOTO_IP = NET + '44'
MOTO_PORT = 5000
MX_IP = NET + '45'            # the MX hosts' address: SMTP with STARTTLS on port 25
SMTP_PORT = 25
DOWN_IP = NET + '46'          # nothing listens here (a DNS server that is down); tests may bind it
TSIG_NAME = 'deploy-key'
# A second key that BIND knows but that may update only a few names of one zone ("zone refused").
LIMITED_TSIG_NAME = 'limited-key'
TSIG_ALGORITHM = 'hmac-sha256'
READY_TIMEOUT = 30.0
PDNS_SCHEMA = '/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql'

# domain: (DNS provider, MX hosts (relative names), extra records, certificate from the lab CA)
DOMAINS = {
    'dl-nothing.test': ('nsupdate', ['mx1'], [], True),     # remediation playbook, reruns, changes, rollback
    'dl-check.test': ('nsupdate', ['mx1'], [], True),       # check mode
    'dl-badkey.test': ('nsupdate', ['mx1'], [], True),      # a wrong TSIG key
    'dl-enforce.test': ('nsupdate', ['mx1', 'mx2'], [], True),  # enforce, MX coverage and readiness
    'dl-override.test': ('nsupdate', ['mx1', 'mx2'], [], True),  # enforce despite readiness, loudly
    'dl-acme.test': ('nsupdate', ['mx1'], [], False),       # certificate from pebble
    'dl-static.test': ('nsupdate', ['mx1'], [('mta-sts', 'A', WEB_IP)], True),  # policy hosted "elsewhere"
    'dl-pdns.test': ('powerdns', ['mx1'], [], True),
    'dl-route53.test': ('route53', ['mx1'], [], True),
    'dl-apache.test': ('nsupdate', ['mx1'], [], True),      # the apache target (when apache2 is installed)
    # faults and secrets (tests/integration/test_deploy_faults.py)
    'dl-secret.test': ('nsupdate', ['mx1'], [], True),      # -vvv runs searched for the TSIG secret
    'dl-dnsfault.test': ('nsupdate', ['mx1'], [], True),    # the limited key may not change _mta-sts
    'dl-down.test': ('nsupdate', ['mx1'], [], True),        # the update server goes down
    'dl-killed.test': ('nsupdate', ['mx1'], [], True),      # the run is killed before the DNS update
    # the checks before changes (tests/integration/test_deploy_checks.py)
    'dl-port.test': ('nsupdate', ['mx1'], [], True),        # served only by the second BIND, on ALT_DNS_PORT
    'one.dl-parent.test': ('nsupdate', ['mx1'], [], True),  # three domains inside the zone dl-parent.test
    'two.dl-parent.test': ('nsupdate', ['mx1'], [], True),
    'three.dl-parent.test': ('nsupdate', ['mx1'], [], True),
    'dl-badcert.test': ('nsupdate', ['mx1'], [], True),     # given a certificate for another name
    # MX migration (tests/integration/test_deploy_migration.py): mx1 now, PLANNED_MX later
    'dl-migrate.test': ('nsupdate', ['mx1'], [], True),
    'dl-downgrade.test': ('nsupdate', ['mx1'], [], True),   # lifecycle: emergency downgrade enforce -> testing
    'dl-optout.test': ('nsupdate', ['mx1'], [], True),      # lifecycle: opt-out (RFC 8461 section 8.3)
    'dl-staging.test': ('nsupdate', ['mx1'], [], True),     # lifecycle: max_age staging
}
# MX hosts a domain moves to (MX migration): they have an address and STARTTLS, but no MX record yet.
PLANNED_MX = {'dl-migrate.test': ['mx2']}
# Domains that live inside another zone (the zone's name); every other nsupdate domain is a zone of its own.
PARENT_ZONE = 'dl-parent.test'
ZONE_OF = dict((domain, PARENT_ZONE) for domain in DOMAINS if domain.endswith('.' + PARENT_ZONE))
# Zones only the second BIND serves (on ALT_DNS_PORT); the first one knows nothing of them.
ALT_DNS_DOMAINS = ('dl-port.test',)
# Names (relative, record types) LIMITED_TSIG_NAME may update, per zone; it may update nothing elsewhere.
LIMITED_GRANTS = {
    'dl-dnsfault.test': [('mta-sts', 'A AAAA CNAME'), ('_smtp._tls', 'TXT')],
}
APACHE_MODULES = ('mpm_event', 'authz_core', 'mime', 'socache_shmcb', 'ssl')
APACHE_MODULE_DIR = '/usr/lib/apache2/modules'
PUBLIC_DIRS = ('www', 'static')  # labproc.public_dir: what the web servers' workers read


class LabError(Exception):
    pass


def _path(root, *parts):
    return os.path.join(root, *parts)


_write = labproc.write
_pid_alive = labproc.pid_alive
_cmdline = labproc.cmdline


def _tail(path, lines=30):
    return labproc.tail(path, lines)


def _which(tool):
    return shutil.which(tool, path=os.environ.get('PATH', '') + ':/usr/sbin:/sbin')


def _tcp_open(ip, port, timeout=0.3):
    return labproc.tcp_open(ip, port, timeout)


_udp_free = labproc.udp_free


def dns_names(domain):
    return {'policy_host': 'mta-sts.%s' % domain, 'sts': '_mta-sts.%s' % domain, 'tlsrpt': '_smtp._tls.%s' % domain}


# ---------------------------------------------------------------------------------------------------
# certificates

def _make_certs(root):
    import trustme

    certs = _path(root, 'certs')
    os.makedirs(certs, exist_ok=True)
    ca = trustme.CA(organization_name='mailsec deploy lab CA')
    _write(_path(root, 'ca.pem'), ca.cert_pem.bytes())

    def leaf(name, *identities):
        cert = ca.issue_cert(*identities)
        _write(_path(certs, name + '.crt'), b''.join(blob.bytes() for blob in cert.cert_chain_pems))
        _write(_path(certs, name + '.key'), cert.private_key_pem.bytes(), 0o600)
        return {'cert': _path(certs, name + '.crt'), 'key': _path(certs, name + '.key')}

    out = {'default': leaf('deploy-lab-default', 'deploy-lab-default.test'),
           'pebble': leaf('pebble', PEBBLE_IP, 'pebble.deploy-lab.test'), 'policy': {}}
    for domain, (_provider, _mx, _extra, from_lab_ca) in sorted(DOMAINS.items()):
        if from_lab_ca:
            # The role's naming: <cert_dir>/mta-sts.<domain>.crt and .key
            out['policy'][domain] = leaf('mta-sts.' + domain, 'mta-sts.' + domain)
    # One certificate for every MX host name: they all share MX_IP.
    mx_names = sorted('%s.%s' % (host, domain) for domain, (_p, mx, _e, _c) in DOMAINS.items()
                      for host in mx + PLANNED_MX.get(domain, []))
    out['mx'] = leaf('mx-hosts', *mx_names)
    # From the lab CA, valid today, but for a name no domain's policy host has: the role must refuse it.
    out['wrong_name'] = leaf('wrong-name', 'mta-sts.elsewhere.test')
    return out


# ---------------------------------------------------------------------------------------------------
# BIND

def _tsig_key(root, name=TSIG_NAME):
    try:
        text = subprocess.run([_which('tsig-keygen') or 'tsig-keygen', '-a', TSIG_ALGORITHM, name], check=True,
                              capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise LabError('tsig-keygen failed (is bind9 installed?): %s' % exc)
    keyfile = _path(root, 'bind', '%s.key' % name)
    _write(keyfile, text, 0o600)
    return {'name': name, 'algorithm': TSIG_ALGORITHM, 'keyfile': keyfile,
            'secret': re.search(r'secret\s+"([^"]+)"', text).group(1)}


def _soa(origin):
    return ['$ORIGIN %s.' % origin, '$TTL 60', '@ IN SOA ns1.test. hostmaster.test. ( 1 3600 600 86400 60 )',
            '@ IN NS ns1.test.']


def zone_of(domain):
    return ZONE_OF.get(domain, domain)


def _domain_records(domain):
    """The records of DOMAIN, owner names relative to its zone."""
    _provider, mx, extra, _cert = DOMAINS[domain]
    zone = zone_of(domain)
    suffix = '' if zone == domain else '.' + domain[:-len(zone) - 1]

    def owner(relative):
        return (relative + suffix) if relative != '@' else (suffix[1:] or '@')

    records = [('@', 'MX', '%d %s.%s.' % (10 * (index + 1), host, domain)) for index, host in enumerate(mx)]
    records += [(host, 'A', MX_IP) for host in mx + PLANNED_MX.get(domain, [])]
    records += list(extra)
    return [(owner(name), rtype, value) for name, rtype, value in records]


def _write_bind(root, tsig, limited, alt=False):
    """named.conf and zones of the main BIND (port 53) or, with ALT, of the second one (ALT_DNS_PORT)."""
    bind = _path(root, 'bind-alt' if alt else 'bind')
    zonedir = _path(bind, 'zones')
    if os.path.isdir(zonedir):
        shutil.rmtree(zonedir)  # old zone files and their journals
    os.makedirs(zonedir)
    zones = {} if alt else {'test': _soa('test') + ['ns1 IN A %s' % DNS_IP, 'ns-pdns IN A %s' % PDNS_IP]}
    for domain, (provider, _mx, _extra, _cert) in sorted(DOMAINS.items()):
        if (domain in ALT_DNS_DOMAINS) != alt:
            continue
        if provider == 'powerdns':
            zones['test'].append('%s. IN NS ns-pdns.test.' % domain)  # delegated to PowerDNS
        elif provider == 'nsupdate':
            zone = zone_of(domain)
            if zone not in zones:
                zones[zone] = _soa(zone) if not alt else [
                    '$ORIGIN %s.' % zone, '$TTL 60', '@ IN SOA ns1 hostmaster ( 1 3600 600 86400 60 )', '@ IN NS ns1',
                    'ns1 IN A %s' % DNS_IP]  # the NS name's address is 127.0.0.1, but port 53 there knows nothing
            zones[zone] += ['%s IN %s %s' % record for record in _domain_records(domain)]
    conf = [
        'include "%s";' % tsig['keyfile'],
        'include "%s";' % limited['keyfile'],
        'options {',
        '    directory "%s";' % bind,
        '    pid-file "%s";' % _path(bind, 'named.pid'),
        '    session-keyfile "%s";' % _path(bind, 'session.key'),
        '    managed-keys-directory "%s";' % bind,
        '    listen-on port %d { %s; };' % (ALT_DNS_PORT if alt else DNS_PORT, DNS_IP),
        '    listen-on-v6 { none; };',
        '    recursion no;',
        '    allow-query { any; };',
        '    dnssec-validation no;',
        '    notify no;',
        '    check-names primary ignore;',
        '    minimal-responses no;',
        '};',
        'controls { };',
        'logging { category default { default_stderr; }; category lame-servers { null; }; };',
    ]
    for zone in sorted(zones):
        path = _path(zonedir, zone + '.zone')
        _write(path, '\n'.join(zones[zone]) + '\n')
        conf += ['zone "%s" {' % zone, '    type primary;', '    file "%s";' % path]
        if zone != 'test':
            grants = ['grant %s zonesub ANY;' % TSIG_NAME]
            grants += ['grant %s name %s.%s. %s;' % (LIMITED_TSIG_NAME, owner, zone, types)
                       for owner, types in LIMITED_GRANTS.get(zone, [])]
            conf.append('    update-policy { %s };' % ' '.join(grants))
        conf.append('};')
    _write(_path(bind, 'named.conf'), '\n'.join(conf) + '\n')
    return _path(bind, 'named.conf'), sorted(zones)


# ---------------------------------------------------------------------------------------------------
# nginx

def nginx_commands(root):
    """The config test and reload commands of the lab's nginx, as argv lists (the role's variables)."""
    prefix = _path(root, 'nginx')
    base = [_which('nginx') or 'nginx', '-p', prefix, '-c', _path(prefix, 'nginx.conf'),
            '-e', _path(prefix, 'logs', 'error.log')]
    return {'test': base + ['-t', '-q'], 'reload': base + ['-s', 'reload'], 'start': base + ['-g', 'daemon off;']}


def _write_nginx(root, certs):
    prefix = _path(root, 'nginx')
    for sub in ('logs', 'tmp', 'conf.d'):
        os.makedirs(_path(prefix, sub), exist_ok=True)
    try:
        static_root = _path(labproc.public_dir(root, 'static'), 'dl-static.test')
    except OSError as exc:
        raise LabError(str(exc))
    os.makedirs(_path(static_root, '.well-known'), exist_ok=True)
    temp = ['    %s_temp_path %s;' % (kind, _path(prefix, 'tmp', kind))
            for kind in ('client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi')]
    static_cert = certs['policy']['dl-static.test']
    conf = [
        'worker_processes 1;',
        'pid %s;' % _path(prefix, 'nginx.pid'),
        'error_log %s info;' % _path(prefix, 'logs', 'error.log'),
        'events { worker_connections 256; }',
        'http {',
        '    access_log %s;' % _path(prefix, 'logs', 'access.log'),
    ] + temp + [
        '    server_tokens off;',
        '    server_names_hash_bucket_size 128;',
        '    types { }',
        '    default_type application/octet-stream;',
        '    charset off;',
        '    ssl_protocols TLSv1.2 TLSv1.3;',
        '    server {',
        '        listen %s:443 ssl default_server;' % WEB_IP,
        '        server_name _;',
        '        ssl_certificate %s;' % certs['default']['cert'],
        '        ssl_certificate_key %s;' % certs['default']['key'],
        '        return 421;',
        '    }',
        '    server {',
        '        listen %s:80 default_server;' % WEB_IP,
        '        server_name _;',
        '        return 404;',
        '    }',
        '    # mta-sts.dl-static.test is hosted "elsewhere": the role (target static) only writes the file.',
        '    server {',
        '        listen %s:443 ssl;' % WEB_IP,
        '        server_name mta-sts.dl-static.test;',
        '        ssl_certificate %s;' % static_cert['cert'],
        '        ssl_certificate_key %s;' % static_cert['key'],
        '        root %s;' % static_root,
        '        location = /.well-known/mta-sts.txt { default_type text/plain; charset off; }',
        '        location / { return 404; }',
        '    }',
        '    include %s/*.conf;' % _path(prefix, 'conf.d'),
        '}',
    ]
    _write(_path(prefix, 'nginx.conf'), '\n'.join(conf) + '\n')
    return _path(prefix, 'nginx.conf'), static_root


# ---------------------------------------------------------------------------------------------------
# Apache httpd (optional)

def apache_available():
    return bool(_which('apache2')) and all(
        os.path.exists(os.path.join(APACHE_MODULE_DIR, 'mod_%s.so' % name)) for name in APACHE_MODULES)


def apache_commands(root):
    base = [_which('apache2') or 'apache2', '-f', _path(root, 'apache', 'httpd.conf')]
    return {'test': base + ['-t'], 'reload': base + ['-k', 'graceful'], 'start': base + ['-DFOREGROUND']}


def _write_apache(root, certs):
    prefix = _path(root, 'apache')
    for sub in ('logs', 'run', 'conf.d'):
        os.makedirs(_path(prefix, sub), exist_ok=True)
    conf = ['LoadModule %s_module %s/mod_%s.so' % (name, APACHE_MODULE_DIR, name) for name in APACHE_MODULES]
    conf += [
        'ServerRoot %s' % prefix,
        'ServerName deploy-lab-apache.test',
        'PidFile %s' % _path(prefix, 'run', 'httpd.pid'),
        'DefaultRuntimeDir %s' % _path(prefix, 'run'),
        'Mutex file:%s default' % _path(prefix, 'run'),
        'ErrorLog %s' % _path(prefix, 'logs', 'error.log'),
        'LogLevel warn',
        'User nobody',
        'Group nogroup',
        'TypesConfig /etc/mime.types',
        'Listen %s:443' % APACHE_IP,
        'Listen %s:80' % APACHE_IP,
        'SSLSessionCache shmcb:%s(512000)' % _path(prefix, 'run', 'ssl_scache'),
        '<Directory />',
        '    AllowOverride None',
        '    Require all denied',
        '</Directory>',
        '<VirtualHost %s:443>' % APACHE_IP,
        '    ServerName deploy-lab-default.test',
        '    SSLEngine on',
        '    SSLCertificateFile %s' % certs['default']['cert'],
        '    SSLCertificateKeyFile %s' % certs['default']['key'],
        '</VirtualHost>',
        '<VirtualHost %s:80>' % APACHE_IP,
        '    ServerName deploy-lab-default.test',
        '</VirtualHost>',
        'IncludeOptional %s/*.conf' % _path(prefix, 'conf.d'),
    ]
    _write(_path(prefix, 'httpd.conf'), '\n'.join(conf) + '\n')
    return _path(prefix, 'httpd.conf')


# ---------------------------------------------------------------------------------------------------
# PowerDNS

def _write_pdns(root):
    pdns = _path(root, 'pdns')
    os.makedirs(pdns, exist_ok=True)
    database = _path(pdns, 'pdns.sqlite3')
    if os.path.exists(database):
        os.remove(database)
    with open(PDNS_SCHEMA) as handle:
        schema = handle.read()
    connection = sqlite3.connect(database)
    try:
        connection.executescript(schema)
        connection.commit()
    finally:
        connection.close()
    api_key = secrets.token_hex(16)
    conf = [
        'launch=gsqlite3',
        'gsqlite3-database=%s' % database,
        'local-address=%s' % PDNS_IP,
        'local-port=%d' % DNS_PORT,
        'api=yes',
        'api-key=%s' % api_key,
        'webserver=yes',
        'webserver-address=%s' % PDNS_IP,
        'webserver-port=%d' % PDNS_API_PORT,
        'webserver-allow-from=127.0.0.0/8',
        'socket-dir=%s' % pdns,
        'guardian=no',
        'daemon=no',
        'disable-syslog=yes',
        'loglevel=4',
        'default-soa-content=ns-pdns.test. hostmaster.@ 0 10800 3600 604800 60',
        # No answer caches: a test reads its change back at once (wait_for_txt would otherwise wait them out).
        'cache-ttl=0',
        'negquery-cache-ttl=0',
        'query-cache-ttl=0',
    ]
    _write(_path(pdns, 'pdns.conf'), '\n'.join(conf) + '\n', 0o600)
    return pdns, api_key


def _pdns_api(api_key):
    import requests

    session = requests.Session()
    session.headers['X-API-Key'] = api_key
    return session, 'http://%s:%d/api/v1/servers/localhost' % (PDNS_IP, PDNS_API_PORT)


def _pdns_zones(api_key):
    session, base = _pdns_api(api_key)
    for domain, (provider, _mx, _extra, _cert) in sorted(DOMAINS.items()):
        if provider != 'powerdns':
            continue
        rrsets = {}
        for owner, rtype, value in _domain_records(domain):
            name = domain + '.' if owner == '@' else '%s.%s.' % (owner, domain)
            rrsets.setdefault((name, rtype), []).append(value)
        body = {'name': domain + '.', 'kind': 'Native', 'nameservers': ['ns-pdns.test.'],
                'rrsets': [{'name': name, 'type': rtype, 'ttl': 60, 'changetype': 'REPLACE',
                            'records': [{'content': value, 'disabled': False} for value in values]}
                           for (name, rtype), values in sorted(rrsets.items())]}
        response = session.post(base + '/zones', json=body, timeout=5)
        if response.status_code != 201:
            raise LabError('PowerDNS did not create zone %s: HTTP %d %s' % (domain, response.status_code,
                                                                            response.text[:300]))


# ---------------------------------------------------------------------------------------------------
# pebble

def _write_pebble(root, certs):
    config = {'pebble': {
        'listenAddress': '%s:14000' % PEBBLE_IP,
        'managementListenAddress': '%s:15000' % PEBBLE_IP,
        'certificate': certs['pebble']['cert'],
        'privateKey': certs['pebble']['key'],
        'httpPort': 80,
        'tlsPort': 443,
        'ocspResponderURL': '',
        'externalAccountBindingRequired': False,
    }}
    path = _path(root, 'pebble', 'pebble-config.json')
    _write(path, json.dumps(config, indent=2))
    return path


def _pebble_root(root):
    """pebble makes a new root CA at every start: add it to the bundle the audit trusts."""
    context = ssl.create_default_context(cafile=_path(root, 'ca.pem'))
    with socket.create_connection((PEBBLE_IP, 15000), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=PEBBLE_IP) as tls:
            tls.sendall(b'GET /roots/0 HTTP/1.0\r\nHost: %s\r\n\r\n' % PEBBLE_IP.encode())
            data = b''
            while True:
                chunk = tls.recv(65536)
                if not chunk:
                    break
                data += chunk
    head, _sep, body = data.partition(b'\r\n\r\n')
    status = head.split(b' ', 2)[1] if head.count(b' ') >= 1 else b''
    if status != b'200' or b'BEGIN CERTIFICATE' not in body:
        raise LabError('pebble did not hand out its root certificate: %r' % head[:100])
    return body


# ---------------------------------------------------------------------------------------------------
# moto (Route 53)

def _route53_zones():
    import boto3

    client = boto3.client('route53', endpoint_url='http://%s:%d' % (MOTO_IP, MOTO_PORT), region_name='us-east-1',
                          aws_access_key_id='testing', aws_secret_access_key='testing')
    zones = {}
    for domain, (provider, _mx, _extra, _cert) in sorted(DOMAINS.items()):
        if provider != 'route53':
            continue
        zone = client.create_hosted_zone(Name=domain + '.', CallerReference='deploy-lab-%s' % domain)
        zone_id = zone['HostedZone']['Id']
        changes = []
        grouped = {}
        for owner, rtype, value in _domain_records(domain):
            name = domain + '.' if owner == '@' else '%s.%s.' % (owner, domain)
            grouped.setdefault((name, rtype), []).append(value)
        for (name, rtype), values in sorted(grouped.items()):
            changes.append({'Action': 'CREATE', 'ResourceRecordSet': {
                'Name': name, 'Type': rtype, 'TTL': 60, 'ResourceRecords': [{'Value': v} for v in values]}})
        client.change_resource_record_sets(HostedZoneId=zone_id, ChangeBatch={'Changes': changes})
        zones[domain] = zone_id.split('/')[-1]
    return zones


def serve_moto(host, port):
    """Run moto's server in the foreground (a child of start(); its command line names the lab dir)."""
    from moto.server import main as moto_main

    moto_main(['-H', host, '-p', str(port)])


# ---------------------------------------------------------------------------------------------------
# SMTP (aiosmtpd): the MX hosts, with STARTTLS

def serve_smtp(root):
    """Run the MX hosts' SMTP server in the foreground until SIGTERM (a child of start())."""
    from aiosmtpd.controller import Controller

    class Sink(object):
        async def handle_DATA(self, server, session, envelope):
            return '250 OK: discarded by the deploy lab'

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(_path(root, 'certs', 'mx-hosts.crt'), _path(root, 'certs', 'mx-hosts.key'))
    controller = Controller(Sink(), hostname=MX_IP, port=SMTP_PORT, server_hostname='deploy-lab-mx',
                            ready_timeout=10, tls_context=context)
    controller.start()
    print('smtp listening on %s:%d (STARTTLS)' % (MX_IP, SMTP_PORT), flush=True)
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_args: stopped.append(True))
    try:
        while not stopped:
            time.sleep(0.2)
    finally:
        controller.stop()


# ---------------------------------------------------------------------------------------------------
# readiness

def _dns_ready(zone, server=DNS_IP, port=DNS_PORT):
    import dns.message
    import dns.query
    import dns.rcode

    try:
        reply = dns.query.udp(dns.message.make_query(zone, 'SOA'), server, port=port, timeout=0.5)
    except Exception:  # noqa: BLE001 - not up yet
        return False
    return reply.rcode() == dns.rcode.NOERROR and bool(reply.answer)


def _https_ready(ip, port, cafile, name):
    context = ssl.create_default_context(cafile=cafile)
    try:
        with socket.create_connection((ip, port), timeout=1) as raw:
            with context.wrap_socket(raw, server_hostname=name):
                return True
    except (OSError, ssl.SSLError):
        return False


def _smtp_ready(ip=MX_IP, port=SMTP_PORT):
    try:
        with socket.create_connection((ip, port), timeout=1) as conn:
            return conn.recv(64).startswith(b'220')
    except OSError:
        return False


def _pdns_ready(api_key):
    import requests

    session, base = _pdns_api(api_key)
    try:
        return session.get(base, timeout=1).status_code == 200
    except requests.exceptions.RequestException:
        return False


# ---------------------------------------------------------------------------------------------------
# start / stop

def _pids_path(root):
    return _path(root, 'pids.json')


_spawn = labproc.spawn


def _save_pids(root, procs):
    _write(_pids_path(root), json.dumps(dict((name, {'pid': proc.pid, 'cmdline': _cmdline(proc.pid)})
                                             for name, proc in procs.items()), indent=2))


def running(root):
    root = os.path.abspath(root)
    try:
        with open(_pids_path(root)) as handle:
            pids = json.load(handle)
    except (OSError, ValueError):
        return False
    return bool(pids) and all(_pid_alive(entry['pid']) and _cmdline(entry['pid']) == entry['cmdline']
                              for entry in pids.values())


def load(root):
    with open(_path(os.path.abspath(root), 'deploy-lab.json')) as handle:
        return json.load(handle)


def stop(root, quiet=True):
    """Stop the servers recorded in ROOT/pids.json, each by its own PID (and process group)."""
    root = os.path.abspath(root)
    path = _pids_path(root)
    stopped = []
    if os.path.exists(path):
        with open(path) as handle:
            pids = json.load(handle)
        # Only the process with the command line recorded at start is ours (PIDs get reused).
        owned = [(name, entry['pid']) for name, entry in pids.items()
                 if _pid_alive(entry['pid']) and _cmdline(entry['pid']) == entry['cmdline']]
        stopped = labproc.stop_processes(owned, quiet=quiet)
        os.remove(path)
    for name in PUBLIC_DIRS:
        labproc.remove_public(root, name)
    return stopped


def _check_free():
    busy = []
    if not _udp_free(DNS_IP, DNS_PORT) or _tcp_open(DNS_IP, DNS_PORT):
        busy.append('%s:%d' % (DNS_IP, DNS_PORT))
    if not _udp_free(PDNS_IP, DNS_PORT) or _tcp_open(PDNS_IP, DNS_PORT):
        busy.append('%s:%d' % (PDNS_IP, DNS_PORT))
    if not _udp_free(DNS_IP, ALT_DNS_PORT) or _tcp_open(DNS_IP, ALT_DNS_PORT):
        busy.append('%s:%d' % (DNS_IP, ALT_DNS_PORT))
    for ip, port in ((WEB_IP, 443), (WEB_IP, 80), (APACHE_IP, 443), (APACHE_IP, 80), (PDNS_IP, PDNS_API_PORT),
                     (PEBBLE_IP, 14000), (PEBBLE_IP, 15000), (MOTO_IP, MOTO_PORT), (MX_IP, SMTP_PORT),
                     (DOWN_IP, DNS_PORT)):
        if _tcp_open(ip, port, timeout=0.2):
            busy.append('%s:%d' % (ip, port))
    if busy:
        raise LabError('already in use: %s. Another deploy lab (or server) is running; stop it first '
                       '(deploy_lab.py down --dir <its dir>).' % ', '.join(busy))


def role_vars(root, info):
    """Extra vars that point the deploy role at this lab (nsupdate is the default provider)."""
    commands = nginx_commands(root)
    return {
        'mailsec_mta_sts_nameservers': [DNS_IP],
        'mailsec_mta_sts_dns_port': DNS_PORT,
        'mailsec_mta_sts_ca_path': info['ca_path'],
        'mailsec_mta_sts_timeout': 5,
        'mailsec_mta_sts_allow_private_addresses': True,  # the deploy lab is on loopback
        'mailsec_mta_sts_web_target': 'nginx',
        'mailsec_mta_sts_web_addresses': [WEB_IP],
        'mailsec_mta_sts_web_root': info['nginx']['www'],
        'mailsec_mta_sts_nginx_conf_dir': _path(root, 'nginx', 'conf.d'),
        'mailsec_mta_sts_nginx_listen': ['%s:443 ssl' % WEB_IP],
        'mailsec_mta_sts_nginx_http_listen': ['%s:80' % WEB_IP],
        'mailsec_mta_sts_nginx_test_command': commands['test'],
        'mailsec_mta_sts_nginx_reload_command': commands['reload'],
        'mailsec_mta_sts_apache_conf_dir': _path(root, 'apache', 'conf.d'),
        'mailsec_mta_sts_apache_vhost_addresses': ['%s:443' % APACHE_IP],
        'mailsec_mta_sts_apache_http_vhost_addresses': ['%s:80' % APACHE_IP],
        'mailsec_mta_sts_apache_test_command': apache_commands(root)['test'],
        'mailsec_mta_sts_apache_reload_command': apache_commands(root)['reload'],
        'mailsec_mta_sts_cert_source': 'files',
        'mailsec_mta_sts_cert_dir': _path(root, 'certs'),
        'mailsec_mta_sts_state_dir': _path(root, 'state'),  # the announcement state (outside the document roots)
        'mailsec_mta_sts_dns_provider': 'nsupdate',
        'mailsec_mta_sts_dns_ttl': 60,
        'mailsec_mta_sts_dns_wait_port': DNS_PORT,  # the PowerDNS server's DNS port
        'mailsec_mta_sts_nsupdate': {'server': DNS_IP, 'port': DNS_PORT, 'key_name': info['tsig']['name'],
                                     'key_secret': info['tsig']['secret'], 'key_algorithm': TSIG_ALGORITHM},
        'mailsec_mta_sts_powerdns': {'api_url': info['pdns']['api_url'], 'api_key': info['pdns']['api_key']},
        'mailsec_mta_sts_route53': {'endpoint_url': info['route53']['endpoint_url'], 'access_key': 'testing',
                                    'secret_key': 'testing', 'region': 'us-east-1'},
        'mailsec_mta_sts_acme_directory': info['pebble']['directory'],
        'mailsec_mta_sts_acme_ca_path': info['pebble']['ca_path'],
        'mailsec_mta_sts_acme_account_key_path': _path(root, 'acme', 'account.key'),
        'mailsec_mta_sts_acme_email': 'hostmaster@dl-acme.test',
        'mailsec_mta_sts_acme_terms_agreed': True,
        'mailsec_mta_sts_dns_wait_timeout': 30,
        'mailsec_mta_sts_verify_delay': 1,
        'mailsec_mta_sts_enforce_smtp_port': SMTP_PORT,
    }


def start(root, timeout=READY_TIMEOUT):
    """Start the deploy lab in ROOT; return its description (also written to ROOT/deploy-lab.json)."""
    began = time.monotonic()
    root = os.path.abspath(root)
    os.makedirs(root, exist_ok=True)
    stop(root)
    for tool in ('named', 'tsig-keygen', 'nginx', 'pebble', 'pdns_server'):
        if not _which(tool):
            raise LabError('%s not found: apt-get install bind9 bind9-utils nginx pebble pdns-server '
                           'pdns-backend-sqlite3' % tool)
    if not os.path.exists(PDNS_SCHEMA):
        raise LabError('%s not found: apt-get install pdns-backend-sqlite3' % PDNS_SCHEMA)
    _check_free()
    for stale in ('deploy-lab.json', 'deploy-vars.json'):
        if os.path.exists(_path(root, stale)):
            os.remove(_path(root, stale))
    logs = dict((name, _path(root, 'logs', name + '.log'))
                for name in ('named', 'named-alt', 'nginx', 'pdns', 'pebble', 'moto', 'smtp', 'apache'))
    with_apache = apache_available()

    certs = _make_certs(root)
    tsig = _tsig_key(root)
    limited_tsig = _tsig_key(root, LIMITED_TSIG_NAME)
    named_conf, bind_zones = _write_bind(root, tsig, limited_tsig)
    alt_named_conf, alt_zones = _write_bind(root, tsig, limited_tsig, alt=True)
    nginx_conf, static_root = _write_nginx(root, certs)
    pdns_dir, pdns_key = _write_pdns(root)
    pebble_conf = _write_pebble(root, certs)
    if with_apache:
        _write_apache(root, certs)
    try:
        www = labproc.public_dir(root, 'www')  # the role's web root: nginx and Apache workers read it
    except OSError as exc:
        raise LabError(str(exc))
    os.makedirs(_path(root, 'acme'), exist_ok=True)
    _write(_path(root, 'resolv.conf'), 'nameserver %s\n' % DNS_IP)
    pebble_env = dict(os.environ, PEBBLE_VA_NOSLEEP='1', PEBBLE_WFE_NONCEREJECT='0')
    commands = [
        ('named', [_which('named'), '-g', '-c', named_conf], None),
        ('named-alt', [_which('named'), '-g', '-c', alt_named_conf], None),
        ('nginx', nginx_commands(root)['start'], None),
        ('pdns', [_which('pdns_server'), '--config-dir=%s' % pdns_dir], None),
        ('pebble', [_which('pebble'), '-config', pebble_conf, '-dnsserver', '%s:%d' % (DNS_IP, DNS_PORT)], pebble_env),
        ('moto', [sys.executable, os.path.abspath(__file__), '_moto', '--dir', root], None),
        ('smtp', [sys.executable, os.path.abspath(__file__), '_smtp', '--dir', root], None),
    ]
    if with_apache:
        commands.append(('apache', apache_commands(root)['start'], None))
    procs = {}
    try:
        for name, argv, env in commands:
            procs[name] = _spawn(root, argv, logs[name], env)
        time.sleep(0.2)
        _save_pids(root, procs)
        checks = {
            'named': lambda: all(_dns_ready(zone) for zone in bind_zones),
            'named-alt': lambda: all(_dns_ready(zone, port=ALT_DNS_PORT) for zone in alt_zones),
            'nginx': lambda: _https_ready(WEB_IP, 443, _path(root, 'ca.pem'), 'mta-sts.dl-static.test'),
            'pdns': lambda: _pdns_ready(pdns_key),
            'pebble': lambda: _https_ready(PEBBLE_IP, 14000, _path(root, 'ca.pem'), PEBBLE_IP),
            'moto': lambda: _tcp_open(MOTO_IP, MOTO_PORT),
            'smtp': _smtp_ready,
            'apache': lambda: _https_ready(APACHE_IP, 443, _path(root, 'ca.pem'), 'deploy-lab-default.test'),
        }
        if not with_apache:
            del checks['apache']
        deadline = time.monotonic() + timeout
        while checks:
            for name in list(checks):
                if procs[name].poll() is not None:
                    raise LabError('%s exited with status %s during start-up' % (name, procs[name].returncode))
                if checks[name]():
                    del checks[name]
            if checks and time.monotonic() > deadline:
                raise LabError('not answering after %.0f s: %s' % (timeout, ', '.join(sorted(checks))))
            time.sleep(0.05)
        _save_pids(root, procs)  # command lines are final now (moto re-execs nothing, but be sure)
        _pdns_zones(pdns_key)
        route53_zones = _route53_zones()
        pebble_root = _pebble_root(root)
        _write(_path(root, 'pebble', 'root.pem'), pebble_root)
        with open(_path(root, 'ca.pem'), 'rb') as handle:
            _write(_path(root, 'ca-bundle.pem'), handle.read() + b'\n' + pebble_root)
        deadline = time.monotonic() + 10
        while not _dns_ready('dl-pdns.test', PDNS_IP):
            if time.monotonic() > deadline:
                raise LabError('PowerDNS does not serve dl-pdns.test')
            time.sleep(0.1)
    except BaseException as exc:
        report = '\n'.join('----- %s -----\n%s' % (name, _tail(path)) for name, path in sorted(logs.items())
                           if os.path.exists(path))
        stop(root)
        for proc in procs.values():
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        if isinstance(exc, LabError):
            raise LabError('deploy lab start-up failed in %s: %s\n%s' % (root, exc, report))
        raise

    info = {
        'dir': root,
        'nameserver': DNS_IP,
        'dns_port': DNS_PORT,
        'ca_path': _path(root, 'ca-bundle.pem'),
        'lab_ca_path': _path(root, 'ca.pem'),
        'resolv_conf': _path(root, 'resolv.conf'),
        'tsig': {'name': tsig['name'], 'algorithm': tsig['algorithm'], 'secret': tsig['secret']},
        'limited_tsig': {'name': limited_tsig['name'], 'algorithm': limited_tsig['algorithm'],
                         'secret': limited_tsig['secret'], 'grants': LIMITED_GRANTS},
        'smtp': {'ip': MX_IP, 'port': SMTP_PORT},
        'down_ip': DOWN_IP,
        'bind': {'conf': named_conf, 'zone_dir': _path(root, 'bind', 'zones'), 'zones': bind_zones},
        'alt_dns': {'ip': DNS_IP, 'port': ALT_DNS_PORT, 'conf': alt_named_conf, 'zones': alt_zones},
        'wrong_name_cert': certs['wrong_name'],
        'nginx': {'ip': WEB_IP, 'prefix': _path(root, 'nginx'), 'conf': nginx_conf,
                  'conf_dir': _path(root, 'nginx', 'conf.d'), 'www': www,
                  'static_root': static_root, 'commands': nginx_commands(root)},
        'apache': ({'ip': APACHE_IP, 'conf_dir': _path(root, 'apache', 'conf.d'), 'commands': apache_commands(root)}
                   if with_apache else None),
        'pdns': {'address': PDNS_IP, 'api_url': 'http://%s:%d' % (PDNS_IP, PDNS_API_PORT), 'api_key': pdns_key},
        'pebble': {'directory': 'https://%s:14000/dir' % PEBBLE_IP, 'ca_path': _path(root, 'ca.pem'),
                   'root': _path(root, 'pebble', 'root.pem')},
        'route53': {'endpoint_url': 'http://%s:%d' % (MOTO_IP, MOTO_PORT), 'zones': route53_zones,
                    'access_key': 'testing', 'secret_key': 'testing', 'region': 'us-east-1'},
        'domains': dict((domain, {'provider': provider, 'zone': zone_of(domain),
                                  'mx': ['%s.%s' % (host, domain) for host in mx]})
                        for domain, (provider, mx, _extra, _cert) in DOMAINS.items()),
        'pids': dict((name, proc.pid) for name, proc in procs.items()),
        'logs': logs,
        'up_seconds': round(time.monotonic() - began, 2),
    }
    info['role_vars'] = role_vars(root, info)
    _write(_path(root, 'deploy-lab.json'), json.dumps(info, indent=2), 0o600)
    _write(_path(root, 'deploy-vars.json'), json.dumps(info['role_vars'], indent=2), 0o600)
    return info


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    sub = parser.add_subparsers(dest='command', required=True)
    for name, text in (('up', 'start the deploy lab'), ('down', 'stop the deploy lab')):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument('--dir', required=True, help='lab directory (configs, keys, logs, PIDs)')
    for hidden in ('_moto', '_smtp'):
        sub.add_parser(hidden, help=argparse.SUPPRESS).add_argument('--dir', required=True)
    args = parser.parse_args(argv)
    if args.command == '_moto':
        serve_moto(MOTO_IP, MOTO_PORT)
        return 0
    if args.command == '_smtp':
        serve_smtp(os.path.abspath(args.dir))
        return 0
    if args.command == 'up':
        try:
            info = start(args.dir)
        except LabError as exc:
            print('deploy lab: %s' % exc, file=sys.stderr)
            return 1
        print('deploy lab up in %.2f s: %s' % (info['up_seconds'], info['dir']))
        print('  role variables: -e @%s' % _path(info['dir'], 'deploy-vars.json'))
        print('  pids %s' % ', '.join('%s=%d' % kv for kv in sorted(info['pids'].items())))
        return 0
    stopped = stop(args.dir, quiet=False)
    if not stopped:
        print('nothing running for %s' % os.path.abspath(args.dir))
    return 0


if __name__ == '__main__':
    sys.exit(main())
