# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lab as a session fixture: started once in a temp dir and stopped at the end.

With MTA_STS_LAB_DIR set, a lab already running in that directory (``lab.py up --dir ...``) is reused
and left running; if none runs there, one is started there and stopped at the end.
The lab binds fixed loopback addresses; MTA_STS_LAB_SLOT=N (see tests/lab/scenarios.py) moves it to
127.0.N.x beside another one. Under pytest-xdist every worker gets a lab in a slot of its own.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import sys
import tempfile

import pytest

LAB_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', 'lab'))
if LAB_DIR not in sys.path:
    sys.path.insert(0, LAB_DIR)
# Under pytest-xdist each worker starts its own lab in its own slot (gw0 -> 1, gw1 -> 2, ...).
_WORKER = os.environ.get('PYTEST_XDIST_WORKER', '')
if _WORKER.startswith('gw') and not os.environ.get('MTA_STS_LAB_SLOT') and not os.environ.get('MTA_STS_LAB_DIR'):
    os.environ['MTA_STS_LAB_SLOT'] = str(int(_WORKER[2:]) + 1)

import lab  # noqa: E402
import scenarios  # noqa: E402


def pytest_configure(config):
    config.addinivalue_line('markers', 'slow: long load tests, run only with MTA_STS_SLOW=1')


@pytest.fixture(scope='session')
def lab_info():
    given = os.environ.get('MTA_STS_LAB_DIR')
    if given and lab.running(given):
        info = lab.load(given)
        if info.get('slot', 0) != scenarios.SLOT:
            pytest.fail('the lab in %s runs in slot %s, these tests expect MTA_STS_LAB_SLOT=%s' % (
                given, info.get('slot', 0), scenarios.SLOT), pytrace=False)
        yield info
        return
    problem = lab.privilege_problem()
    if problem:  # only ever as a user other than root
        pytest.skip(problem)
    root = given or tempfile.mkdtemp(prefix='mta-sts-lab-')
    try:
        info = lab.start(root)
    except lab.LabError as exc:
        if not given:
            shutil.rmtree(root, ignore_errors=True)
        pytest.fail(str(exc), pytrace=False)
    try:
        yield info
    finally:
        lab.stop(root)
        if not given:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope='session')
def lab_scenarios():
    return scenarios
