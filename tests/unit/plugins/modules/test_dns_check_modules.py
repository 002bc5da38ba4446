# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""zone_info and txt_wait through their shared server/port options, against a real DNS server on loopback."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import sys

import pytest

pytest.importorskip('dns.message')

from ansible_collections.mailsec.mta_sts.plugins.modules import txt_wait, zone_info  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from module_runner import run_module  # noqa: E402  (beside this file)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'module_utils'))
from test_authoritative import TinyServer  # noqa: E402

TXT = 'v=STSv1; id=20261201T000000;'


@pytest.fixture
def tiny():
    started = TinyServer('example.test', {('_mta-sts.example.test', 'TXT'): ['"%s"' % TXT]})
    yield started
    started.close()


def run(capsys, module, args):
    return run_module(module, capsys, args)


def test_zone_info_asks_the_server_on_the_given_port(capsys, tiny):
    result = run(capsys, zone_info, {'name': 'mail.example.test', 'server': ['127.0.0.1'], 'port': tiny.port})
    assert result['zone'] == 'example.test'
    assert result['server'] == '127.0.0.1'
    assert result['changed'] is False


def test_zone_info_without_a_server_fails_naming_the_option(capsys):
    result = run(capsys, zone_info, {'name': 'mail.example.test'})
    assert result['failed'] is True
    assert 'server=' in result['msg']


def test_txt_wait_sees_the_values_on_the_given_port(capsys, tiny):
    result = run(capsys, txt_wait, {'records': [{'name': '_mta-sts.example.test', 'values': [TXT]}],
                                    'server': ['127.0.0.1'], 'port': tiny.port, 'timeout': 5})
    assert result.get('failed') is not True, result
    assert result['completed'] == 1 and result['waiting'] == []
    assert result['servers'] == ['127.0.0.1'] and result['port'] == tiny.port
