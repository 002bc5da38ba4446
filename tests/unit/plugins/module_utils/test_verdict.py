# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The verdict rules of one domain and of the control, and the finding catalog's documentation."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import ast
import os
import re

import pytest
import yaml

from ansible_collections.mailsec.mta_sts.plugins.module_utils.audit import (
    control_status, control_summary, count_statuses, verdict)
from ansible_collections.mailsec.mta_sts.plugins.plugin_utils.controls import load_control
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import CATALOG, finding

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def f(code, severity=None):
    return finding(code, 'msg', severity)


def test_verdict_no_findings_passes():
    assert verdict([]) == 'pass'


def test_verdict_warnings_and_info_pass():
    assert verdict([f('policy-mode-testing'), f('tlsrpt-missing'), f('txt-ignored')]) == 'pass'


def test_verdict_error_fails():
    assert verdict([f('txt-missing')]) == 'fail'


def test_verdict_lookup_failure_is_unknown():
    assert verdict([f('txt-lookup-failed')]) == 'unknown'


def test_verdict_definite_failure_beats_unknown():
    assert verdict([f('txt-lookup-failed'), f('policy-redirect')]) == 'fail'


def test_verdict_null_mx_is_skipped():
    assert verdict([f('mx-null')]) == 'skipped'


def test_verdict_testing_mode_raised_to_error_fails():
    assert verdict([f('policy-mode-testing', 'error')]) == 'fail'


def test_verdict_uncovered_mx_lowered_to_warning_passes():
    assert verdict([f('mx-not-covered', 'warning')]) == 'pass'


def test_control_status_rules():
    assert control_status({'pass': 3, 'fail': 1, 'unknown': 1}) == 'fail'
    assert control_status({'pass': 3, 'fail': 0, 'unknown': 1}) == 'unknown'
    assert control_status({'pass': 3, 'skipped': 2}) == 'pass'
    assert control_status({'skipped': 2}) == 'skipped'


def test_control_summary_reads_the_control_definition():
    control = load_control()
    summary = control_summary(control, [{'status': 'pass'}, {'status': 'fail'}, {'status': 'skipped'}])
    assert summary['id'] == 'EDCA-TLS-025' == control['id']
    assert summary['severity_weight'] == control['severityWeight']
    assert summary['frameworks'] == control['frameworks']
    assert summary['status'] == 'fail'
    assert summary['counts'] == {'pass': 1, 'fail': 1, 'unknown': 0, 'skipped': 1}


def test_count_statuses_counts_every_status():
    assert count_statuses([]) == {'pass': 0, 'fail': 0, 'unknown': 0, 'skipped': 0}


def test_finding_rejects_unknown_codes():
    with pytest.raises(KeyError):
        finding('no-such-code', 'x')


def test_catalog_codes_are_stable_identifiers():
    for code in CATALOG:
        assert re.match(r'^[a-z0-9]+(-[a-z0-9]+)*$', code), code


def _module_return_doc():
    with open(os.path.join(ROOT, 'plugins', 'modules', 'audit.py')) as handle:
        tree = ast.parse(handle.read())
    for node in tree.body:
        if isinstance(node, ast.Assign) and node.targets[0].id == 'RETURN':
            return yaml.safe_load(node.value.value)
    raise AssertionError('no RETURN')


def test_module_return_points_at_the_finding_reference_instead_of_copying_the_catalog():
    description = '\n'.join(_module_return_doc()['domains']['contains']['findings']['description'])
    assert 'R(the finding reference,ansible_collections.mailsec.mta_sts.docsite.finding_codes)' in description
    assert not set(re.findall(r'C\(([a-z0-9-]+)\)', description)) & set(CATALOG)


def _shared_control():
    """The control as the project's shared/ folder holds it, beside the checkout (tests may run from a copy inside it)."""
    here = ROOT
    while True:
        candidate = os.path.join(here, '..', 'shared', 'controls', 'EDCA-TLS-025.json')
        if os.path.exists(candidate):
            return candidate
        parent = os.path.dirname(here)
        if parent == here:
            return None
        here = parent


def test_control_shipped_equals_shared_definition():
    shared = _shared_control()
    if shared is None:
        pytest.skip('no shared/ folder beside the checkout')
    with open(shared) as a, open(os.path.join(ROOT, 'controls', 'EDCA-TLS-025.json')) as b:
        assert a.read() == b.read()
