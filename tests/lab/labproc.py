# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Files and processes of the test labs (lab.py, deploy_lab.py): written, started and stopped one way.

Stdlib only. Servers run in sessions of their own and are stopped by their own PID and process group,
never by name.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import signal
import socket
import subprocess
import time


def write(path, data, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if isinstance(data, str):
        data = data.encode('utf-8')
    with open(path, 'wb') as handle:
        handle.write(data)
    os.chmod(path, mode)


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
