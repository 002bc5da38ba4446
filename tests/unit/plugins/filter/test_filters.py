# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The filters: the same parsers as the audit, errors as AnsibleFilterError, the audit table one line a domain."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.mailsec.mta_sts.plugins.filter import deploy, mta_sts
from ansible_collections.mailsec.mta_sts.plugins.module_utils.findings import finding

POLICY = 'version: STSv1\nmode: enforce\nmx: mx1.example.org\nmax_age: 604800\n'


def test_parse_record_reads_the_id_of_a_record_split_in_strings():
    parsed = mta_sts.parse_record(['v=STSv1; ', 'id=20240101;'])
    assert parsed['valid'] is True and parsed['id'] == '20240101' and parsed['errors'] == []


def test_parse_record_strict_raises_and_lenient_returns_the_code():
    with pytest.raises(AnsibleFilterError, match='txt-invalid'):
        mta_sts.parse_record('v=STSv1; id=;')
    lenient = mta_sts.parse_record('v=STSv1; id=;', strict=False)
    assert lenient['valid'] is False and lenient['errors'][0]['code'] == 'txt-invalid'


def test_parse_record_refuses_what_is_not_text():
    with pytest.raises(AnsibleFilterError, match='expects a string'):
        mta_sts.parse_record(42)


def test_parse_policy_reads_mode_and_mx_and_collects_every_problem():
    parsed = mta_sts.parse_policy(POLICY)
    assert parsed['valid'] is True and parsed['mode'] == 'enforce' and parsed['mx'] == ['mx1.example.org']
    broken = mta_sts.parse_policy('version: STSv2\nmode: sometimes\n', strict=False)
    codes = set(error['code'] for error in broken['errors'])
    assert broken['valid'] is False and {'policy-version-invalid', 'policy-mode-invalid'} <= codes
    with pytest.raises(AnsibleFilterError):
        mta_sts.parse_policy('mode: sometimes\n')


def test_audit_table_has_one_line_per_domain_with_its_main_finding():
    result = {'domains': [
        {'domain': 'a.example', 'status': 'pass', 'findings': [finding('tlsrpt-missing', 'no record')]},
        {'domain': None, 'input': 'a..b', 'status': 'fail',
         'findings': [finding('txt-ignored', 'x'), finding('domain-invalid', 'y' * 300)]},
    ], 'control': {'id': 'EDCA-TLS-025', 'title': 'T', 'status': 'fail', 'counts': {'pass': 1, 'fail': 1}}}
    lines = mta_sts.audit_table(result, width=12)
    assert lines[0].split() == ['DOMAIN', 'STATUS', 'MAIN', 'FINDING']
    assert lines[1].split()[:3] == ['a.example', 'pass', 'tlsrpt-missing:']
    assert 'domain-invalid: ' + 'y' * 100 + '...' in lines[2]
    assert lines[3] == 'EDCA-TLS-025 T: fail (1 pass, 1 fail, 0 unknown, 0 skipped)'


def test_audit_table_refuses_what_is_not_an_audit_result():
    with pytest.raises(AnsibleFilterError, match='registered result'):
        mta_sts.audit_table({'changed': False})


def test_main_finding_is_a_dash_without_findings():
    assert mta_sts.main_finding([]) == '-'


def test_tlsrpt_record_renders_a_valid_record():
    assert deploy.tlsrpt_record('mailto:tls@example.org') == 'v=TLSRPTv1; rua=mailto:tls@example.org'
    with pytest.raises(AnsibleFilterError):
        deploy.tlsrpt_record(42)


def test_txt_value_refuses_an_unknown_provider():
    with pytest.raises(AnsibleFilterError, match='txt_value'):
        deploy.txt_value('v=STSv1; id=1;', 'no-such-provider')


def test_filter_plugins_register_their_filters():
    assert set(mta_sts.FilterModule().filters()) == {'parse_record', 'parse_policy', 'audit_table', 'domain_verdicts'}
    assert set(deploy.FilterModule().filters()) == {'txt_value', 'tlsrpt_record'} | set(deploy.DECISIONS)
