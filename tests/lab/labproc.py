# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files and processes of the test labs (lab.py, deploy_lab.py, dovecot.py): written, started and stopped one way.

Stdlib only. Servers run in sessions of their own and are stopped by their own PID and process group,
never by name.

What a server reads after dropping its privileges (nginx and Apache workers run as nobody, Dovecot's auth and
mail processes as its own users) goes to a directory of its own under a world-searchable temp dir, made by
``public_dir(root, name)``: the lab directory may be anywhere, e.g. in a clone below a mode-700 home directory,
and no directory mode of the user's changes. ROOT/NAME is a symlink to it; ``remove_public`` deletes both.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

PUBLIC_PREFIX = 'mta-sts-public-'
# Public directories are named in server configs: only characters no config syntax treats specially.
_PLAIN_PATH = re.compile(r'^[A-Za-z0-9._/-]+$')


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


def world_searchable(path):
    """True when every directory from / down to ``path`` lets others through (mode o+x)."""
    path = os.path.abspath(path)
    while True:
        if not os.stat(path).st_mode & 0o001:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _public_base():
    candidates = (tempfile.gettempdir(), '/tmp', '/var/tmp', '/dev/shm')
    for base in candidates:
        if os.path.isdir(base) and _PLAIN_PATH.match(base) and world_searchable(base):
            return base
    raise OSError('none of %s is a world-searchable directory: the servers\' unprivileged processes could not '
                  'reach their files; set TMPDIR to one' % ', '.join(candidates))


def public_dir(root, name, mode=0o755):
    """A new, empty directory that unprivileged server processes can reach; ROOT/NAME links to it.

    Returns its real path, the one to write into server configs (the link's path may cross ROOT's
    parents, which others may not be allowed to search). A previous one of the same name is removed first.
    """
    remove_public(root, name)
    path = tempfile.mkdtemp(prefix='%s%s-' % (PUBLIC_PREFIX, name), dir=_public_base())
    os.chmod(path, mode)  # files below keep their own modes (private keys stay 0600)
    os.symlink(path, os.path.join(root, name))
    return path


def remove_public(root, name):
    """Remove ROOT/NAME: the public directory it links to (when public_dir made it), or an old real directory."""
    link = os.path.join(root, name)
    if os.path.islink(link):
        target = os.readlink(link)
        if (os.path.basename(target).startswith('%s%s-' % (PUBLIC_PREFIX, name)) and os.path.isdir(target)
                and not os.path.islink(target) and os.stat(target).st_uid == os.getuid()):
            shutil.rmtree(target, ignore_errors=True)
        os.unlink(link)
    elif os.path.isdir(link):
        shutil.rmtree(link)


def tail(path, lines=40):
    try:
        with open(path, 'rb') as handle:
            return '\n'.join(handle.read().decode('utf-8', 'replace').splitlines()[-lines:])
    except OSError as exc:
        return '(cannot read %s: %s)' % (path, exc)


def pid_alive(pid):
    """True for a running process; a zombie counts as stopped (PID 1 here reaps slowly)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open('/proc/%d/stat' % pid) as handle:
            return handle.read().split(') ', 1)[1][0] != 'Z'
    except (OSError, IndexError):
        return True


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as handle:
            return handle.read().replace(b'\0', b' ').decode('utf-8', 'replace').strip()
    except OSError:
        return ''


def tcp_open(ip, port, timeout=0.5):
    try:
        with socket.create_connection((ip, port), timeout=timeout):
            return True
    except OSError:
        return False


def udp_free(ip, port):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((ip, port))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def spawn(root, argv, log, env=None):
    """Start a server in a session of its own, its output appended to ``log``."""
    os.makedirs(os.path.dirname(log), exist_ok=True)
    with open(log, 'ab') as out:
        out.write(('\n=== %s starting %s\n' % (time.strftime('%H:%M:%S'), ' '.join(argv))).encode())
        out.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=root,
                                close_fds=True, start_new_session=True, env=env)


def stop_processes(owned, quiet=True, grace=10.0):
    """Stop ``owned`` [(name, pid)]: SIGTERM to each process group, SIGKILL after ``grace`` seconds, reap."""
    stopped = []
    for name, pid in owned:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        except PermissionError:
            os.kill(pid, signal.SIGTERM)
        stopped.append((name, pid))
    deadline = time.monotonic() + grace
    for name, pid in stopped:
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    for name, pid in stopped:
        try:
            os.waitpid(pid, os.WNOHANG)  # our children when pytest started them in-process
        except ChildProcessError:
            pass
    if not quiet:
        for name, pid in stopped:
            print('stopped %s (pid %d)' % (name, pid))
    return stopped
