# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy role's filters: each deploy_* filter is its module_utils/deploy.py function; errors are filter errors."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mta_sts.plugins.filter.deploy import DECISIONS, FilterModule

FILTERS = FilterModule().filters()


def test_every_decision_is_a_filter():
    assert set(DECISIONS) <= set(FILTERS)
    assert {'txt_value', 'tlsrpt_record'} <= set(FILTERS)


def test_decision_errors_become_filter_errors():
    with pytest.raises(AnsibleFilterError, match='deploy_relative_name'):
        FILTERS['deploy_relative_name']('a.example.net', 'example.org')
    with pytest.raises(AnsibleFilterError, match='deploy_settle'):
        FILTERS['deploy_settle']({}, {}, {})


def test_failure_reason_takes_a_task_object_too():
    class Task(object):
        action = 'ansible.builtin.command'
        name = 'Reload'
    assert FILTERS['deploy_failure_reason'](Task(), {'msg': 'boom'}, 'publish') == 'Reload: boom'
