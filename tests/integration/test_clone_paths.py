# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The README's first command, ``make demo``, in fresh clones where newcomers put them (issue 17).

- below a directory only its owner may enter (mode 700, like root's home directory): nginx's workers run as
  nobody and must still read the lab's policy files;
- in a path with spaces: every path the Makefile hands to a shell, to Ansible and to the servers' configs.

Each clone is a ``git clone`` of the repository under test (MTA_STS_SOURCE_REPO, set by ``make integration``)
with the working state of the collection copy laid over it, so uncommitted work is what runs. The clone's
``.venv`` is a link to the venv running these tests and ``make -o .venv/.installed`` keeps make from touching
it: no venv is built. The demo's lab runs in a slot of its own, beside the session's lab.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile

import pytest

import scenarios  # tests/lab, on sys.path through conftest.py

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason='make demo starts the lab, which needs root (ports 25 and 443)')

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
DEMO_TIMEOUT = 300
# Not the session lab's slot, nor an xdist worker's (1..N): the demo's lab starts while those run.
DEMO_SLOT = 200 + scenarios.SLOT % 50
# Set by the outer make; the inner make must see none of them (MAKEFLAGS carries VENV=... overrides, and
# make puts command-line variables into the environment too: those are the Makefile's `?=` settings).
OUTER_ONLY = ('MAKEFLAGS', 'MAKELEVEL', 'MFLAGS', 'MAKEOVERRIDES', 'PYTHONPATH', 'ANSIBLE_COLLECTIONS_PATH',
              'ANSIBLE_PYTHON_INTERPRETER', 'MTA_STS_LAB_DIR', 'MTA_STS_SOURCE_REPO', 'VIRTUAL_ENV')


def _git(*args, cwd=None):
    return subprocess.run(['git'] + list(args), cwd=cwd, check=True, capture_output=True, text=True).stdout


def _files(repo):
    """Tracked and untracked files of ``repo`` that git does not ignore (what `make collection` copies)."""
    out = _git('ls-files', '-z', '--cached', '--others', '--exclude-standard', cwd=repo)
    return sorted(set(name for name in out.split('\0') if name and os.path.lexists(os.path.join(repo, name))))


def _source_repo(scratch):
    """A git repository to clone: the one under test, else a snapshot of the collection copy."""
    given = os.environ.get('MTA_STS_SOURCE_REPO')
    for candidate in (given, COLLECTION):
        if candidate and subprocess.run(['git', '-C', candidate, 'rev-parse', '--verify', '-q', 'HEAD'],
                                        capture_output=True, check=False).returncode == 0:
            return candidate
    snapshot = os.path.join(scratch, 'snapshot')
    os.makedirs(snapshot)
    _overlay(COLLECTION, snapshot)
    _git('init', '-q', cwd=snapshot)
    _git('add', '-A', cwd=snapshot)
    _git('-c', 'user.name=test', '-c', 'user.email=test@invalid', 'commit', '-q', '-m', 'snapshot', cwd=snapshot)
    return snapshot


def _overlay(source, dest):
    files = _files(source)
    pack = subprocess.Popen(['tar', '--null', '--no-recursion', '-T', '-', '-cf', '-'], cwd=source,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    unpack = subprocess.Popen(['tar', '-xf', '-'], cwd=dest, stdin=pack.stdout)
    pack.stdout.close()
    pack.stdin.write(b''.join(name.encode() + b'\0' for name in files))
    pack.stdin.close()
    assert pack.wait() == 0 and unpack.wait() == 0, 'copying %s to %s failed' % (source, dest)
    return files


def _clone(source, dest):
    """``git clone`` of source into dest, then the collection copy's files over it (uncommitted work)."""
    subprocess.run(['git', 'clone', '-q', '--no-hardlinks', source, dest], check=True, capture_output=True)
    wanted = set(_overlay(COLLECTION, dest))
    for name in _files(dest):
        if name not in wanted:  # deleted in the working state under test
            os.remove(os.path.join(dest, name))
    os.symlink(sys.prefix, os.path.join(dest, '.venv'))


def _make_demo(clone):
    with open(os.path.join(clone, 'Makefile')) as handle:
        settings = re.findall(r'^([A-Z_]+) \?=', handle.read(), re.M)
    env = dict((key, value) for key, value in os.environ.items() if key not in OUTER_ONLY + tuple(settings))
    env['MTA_STS_LAB_SLOT'] = str(DEMO_SLOT)
    try:
        run = subprocess.run(['make', '-o', '.venv/.installed', 'demo'], cwd=clone, env=env, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=DEMO_TIMEOUT,
                             check=False)  # the exit status is asserted with the output
    except subprocess.TimeoutExpired as exc:
        pytest.fail('make demo in %r did not finish in %d s:\n%s' % (clone, DEMO_TIMEOUT, (exc.output or '')[-4000:]))
    return run


def _tcp_open(ip, port):
    try:
        with socket.create_connection((ip, port), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.fixture(scope='module')
def places():
    """(base, source): a scratch directory others may enter, and the repository to clone."""
    base = tempfile.mkdtemp(prefix='mta-sts-clones-')
    os.chmod(base, 0o755)  # ours: the mode-700 case is one level below it
    try:
        yield base, _source_repo(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _demo_passes(clone):
    run = _make_demo(clone)
    output = run.stdout
    assert run.returncode == 0, 'make demo failed in %r (exit %d):\n%s' % (clone, run.returncode, output[-6000:])
    assert re.search(r'^localhost\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0\b', output, re.M), output[-3000:]
    # The policy host nginx serves from the lab's files: a worker that cannot read them answers 403.
    assert re.search(r'"pass-enforce\.test\s+pass\s', output), output[-6000:]
    with open(os.path.join(clone, '.lab', 'lab.json')) as handle:
        info = json.load(handle)
    assert info['slot'] == DEMO_SLOT
    summary = re.search(r'EDCA-TLS-025 [^"]*: \w+ \((\d+) pass, (\d+) fail, (\d+) unknown, (\d+) skipped\)', output)
    assert summary, output[-3000:]
    assert sum(int(count) for count in summary.groups()) == len(info['scenarios'])
    # `make demo` always stops the lab: nothing listens, no PID file, and the public directory is gone.
    assert not os.path.exists(os.path.join(clone, '.lab', 'pids.json'))
    assert not os.path.lexists(os.path.join(clone, '.lab', 'www'))
    assert not os.path.exists(info['nginx']['docroot'])
    assert not _tcp_open(info['addresses']['web'], info['nginx']['port'])
    return output


def test_make_demo_in_a_clone_below_a_mode_700_directory(places):
    base, source = places
    home = os.path.join(base, 'home')
    os.mkdir(home)
    os.chmod(home, 0o700)
    clone = os.path.join(home, 'mta_sts')
    _clone(source, clone)
    modes = dict((path, stat.S_IMODE(os.stat(path).st_mode)) for path in (home, clone))
    _demo_passes(clone)
    # The user's directories keep their modes: the lab works around them.
    assert dict((path, stat.S_IMODE(os.stat(path).st_mode)) for path in modes) == modes
    assert modes[home] == 0o700
    # A second demo in the same clone: the previous run's lab directory is no obstacle.
    _demo_passes(clone)


def test_make_demo_in_a_clone_with_spaces_in_its_path(places):
    base, source = places
    clone = os.path.join(base, 'with space', 'mta sts')
    os.makedirs(os.path.dirname(clone))
    _clone(source, clone)
    output = _demo_passes(clone)
    assert 'lab up in' in output and os.path.join(clone, '.lab') in output
