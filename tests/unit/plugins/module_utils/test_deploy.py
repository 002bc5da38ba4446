# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The deploy role's decisions (plugins/module_utils/deploy.py), one test per rule the role relied on Jinja for."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import deploy

SETTINGS = {
    'mode': 'testing', 'max_age': 604800, 'mx': [], 'tlsrpt_rua': [], 'enforce_override': False, 'web_target': 'nginx',
    'web_addresses': ['192.0.2.10', '2001:db8::10'], 'policy_host_cname': '', 'web_root': '/var/www/mta-sts',
    'cert_source': 'files', 'cert_dir': '/etc/ssl/mta-sts', 'dns_provider': 'nsupdate', 'dns_ttl': 300,
    'nginx_extra_directives': [], 'apache_extra_directives': [],
}
LIVE = {
    'input': 'Example.ORG', 'domain': 'example.org',
    'mx': {'outcome': 'answer', 'hosts': [{'host': 'mx1.example.org'}, {'host': 'mx2.example.org'}], 'null_mx': False},
    'record': {'txt': ['v=STSv1; id=old;'], 'id': 'old'}, 'tlsrpt': {'txt': []}, 'policy': {'mode': 'testing'},
}


def settled(entry=None, live=None, **settings):
    return deploy.settle_entry(dict({'domain': 'Example.ORG'}, **(entry or {})), LIVE if live is None else live,
                               dict(SETTINGS, **settings))


# --- settle_entry: the entry over the role's settings (was a 31-key fact of default() chains) -----------

def test_settle_has_every_key_the_tasks_and_templates_use():
    keys = {'domain', 'input', 'policy_host', 'mode', 'max_age', 'mx', 'tlsrpt_rua', 'live_mx_known', 'live_mx',
            'live_mx_outcome', 'null_mx', 'published_sts', 'published_tlsrpt', 'live_id', 'live_mode',
            'enforce_override', 'web_target', 'web_addresses', 'policy_host_cname', 'docroot', 'acme_webroot',
            'cert_source', 'cert_path', 'key_path', 'csr_path', 'dns_provider', 'zone', 'zone_given', 'ttl',
            'google_managed_zone', 'nginx_extra_directives', 'apache_extra_directives'}
    assert set(settled()) == keys


def test_settle_role_settings_apply_when_the_entry_is_silent():
    got = settled()
    assert (got['domain'], got['input'], got['policy_host']) == ('example.org', 'Example.ORG', 'mta-sts.example.org')
    assert got['mode'] == 'testing' and got['max_age'] == 604800 and got['ttl'] == 300
    assert got['docroot'] == '/var/www/mta-sts/example.org'
    assert got['acme_webroot'] == '/var/www/mta-sts/.acme/example.org'
    assert got['cert_path'] == '/etc/ssl/mta-sts/mta-sts.example.org.crt'
    assert got['key_path'] == '/etc/ssl/mta-sts/mta-sts.example.org.key'
    assert got['csr_path'] == '/etc/ssl/mta-sts/mta-sts.example.org.csr'
    assert got['zone'] == 'example.org' and got['zone_given'] is False
    assert got['google_managed_zone'] == 'example-org'


def test_settle_entry_overrides_win():
    got = settled({'mode': 'enforce', 'max_age': '86400', 'mx': ['*.example.org'], 'web_target': 'apache',
                   'web_root': '/srv/x', 'cert_path': '/c.pem', 'key_path': '/k.pem', 'zone': 'org', 'dns_ttl': '60',
                   'enforce_override': 'yes', 'google_managed_zone': 'gz'})
    assert got['mode'] == 'enforce' and got['max_age'] == 86400 and got['mx'] == ['*.example.org']
    assert got['web_target'] == 'apache' and got['docroot'] == '/srv/x'
    assert (got['cert_path'], got['key_path']) == ('/c.pem', '/k.pem')
    assert got['zone'] == 'org' and got['zone_given'] is True and got['ttl'] == 60
    assert got['enforce_override'] is True and got['google_managed_zone'] == 'gz'


def test_settle_none_in_an_entry_means_not_given():
    assert settled({'mode': None})['mode'] == 'testing'


def test_settle_live_state_mx_ids_and_modes():
    got = settled()
    assert got['live_mx_known'] is True and got['live_mx'] == ['mx1.example.org', 'mx2.example.org']
    assert got['published_sts'] == ['v=STSv1; id=old;'] and got['live_id'] == 'old' and got['live_mode'] == 'testing'


def test_settle_live_mode_only_counts_with_a_record_id():
    live = dict(LIVE, record={'txt': [], 'id': None})
    assert settled(live=live)['live_mode'] == ''


def test_settle_implicit_mx_is_the_domain_itself():
    # RFC 5321 section 5.1: without MX records the domain is its own mail host.
    live = dict(LIVE, mx={'outcome': 'nodata', 'implicit': True, 'hosts': []})
    got = settled(live=live)
    assert got['live_mx_known'] is True and got['live_mx'] == ['example.org']


def test_settle_failed_mx_lookup_is_unknown():
    live = dict(LIVE, mx={'outcome': 'error'})
    got = settled(live=live)
    assert got['live_mx_known'] is False and got['live_mx'] == [] and got['live_mx_outcome'] == 'error'


def test_settle_missing_live_parts_do_not_break():
    got = settled(live={'input': 'x', 'domain': 'x.test'})
    assert got['live_mx_outcome'] == 'not looked up' and got['published_sts'] == [] and got['live_id'] == ''


def test_settle_refuses_an_entry_without_domain():
    with pytest.raises(deploy.DeployError):
        deploy.settle_entry({'mode': 'testing'}, LIVE, SETTINGS)


# --- entry_problem: the first preflight check ---------------------------------------------------------------

def test_entry_problem_none_for_a_good_entry():
    assert deploy.entry_problem(settled()) == ''


def test_entry_problem_not_a_domain():
    assert 'it is not a domain name' in deploy.entry_problem(settled(live={'input': 'x', 'domain': None}))


def test_entry_problem_null_mx():
    live = dict(LIVE, mx={'outcome': 'answer', 'null_mx': True, 'hosts': []})
    assert 'null MX (RFC 7505)' in deploy.entry_problem(settled(live=live))


def test_entry_problem_names_every_wrong_choice():
    text = deploy.entry_problem(settled({'mode': 'strict', 'dns_provider': 'bind'}))
    assert "mode must be testing or enforce or none, not 'strict'" in text
    assert "dns_provider must be" in text and "'bind'" in text


def test_entry_problem_zone_that_does_not_hold_the_domain():
    text = deploy.entry_problem(settled({'zone': 'example.net'}))
    assert 'zone example.net does not hold example.org' in text and 'set zone' in text
    assert deploy.entry_problem(settled({'zone': 'org.'})) == ''


# --- the switch to enforce ----------------------------------------------------------------------------------

def test_switch_only_when_enforce_is_asked_and_the_live_policy_is_not_enforce():
    assert deploy.switches_to_enforce(settled({'mode': 'enforce'})) is True
    assert deploy.switches_to_enforce(settled()) is False
    live = dict(LIVE, policy={'mode': 'enforce'})
    assert deploy.switches_to_enforce(settled({'mode': 'enforce'}, live=live)) is False


def test_switch_reads_the_policy_file_when_the_audit_could_not_fetch_the_policy():
    live = dict(LIVE, policy=None)
    entry = settled({'mode': 'enforce'}, live=live)
    assert deploy.switches_to_enforce(entry, 'version: STSv1\nmode: enforce\nmx: a\nmax_age: 1\n') is False
    assert deploy.switches_to_enforce(entry, 'version: STSv1\nmode: testing\n') is True
    assert deploy.policy_file_mode('') == ''


def test_blockers_drop_mx_not_covered_when_the_new_policy_covers_every_live_host():
    blockers = [{'code': 'mx-not-covered', 'message': 'a'}, {'code': 'tlsrpt-missing', 'message': 'b'}]
    assert deploy.enforce_blockers(blockers, settled(), []) == [blockers[1]]
    assert deploy.enforce_blockers(blockers, settled(), ['mx3.example.org']) == blockers
    unknown = settled(live=dict(LIVE, mx={'outcome': 'error'}))
    assert deploy.enforce_blockers(blockers, unknown, []) == blockers


def test_blocker_lines():
    assert deploy.blocker_lines([{'code': 'c', 'message': 'm'}], '  ') == ['  c: m']
    assert deploy.blocker_lines(None) == []


# --- DNS records and their order ----------------------------------------------------------------------------

def test_policy_host_records_a_and_aaaa_from_the_addresses():
    assert deploy.policy_host_records(settled()) == [
        {'name': 'mta-sts.example.org', 'type': 'A', 'entries': ['192.0.2.10']},
        {'name': 'mta-sts.example.org', 'type': 'AAAA', 'entries': ['2001:db8::10']}]


def test_policy_host_record_cname_replaces_addresses():
    assert deploy.policy_host_records(settled({'policy_host_cname': 'sts.host.test'})) == [
        {'name': 'mta-sts.example.org', 'type': 'CNAME', 'entries': ['sts.host.test']}]
    assert deploy.policy_host_records(settled({'web_addresses': []})) == []


def test_announce_plan_puts_the_sts_id_last():
    # RFC 8461 section 3.1: the new id is what makes senders refetch, so it is written after all else.
    plan = deploy.announce_plan(settled({'tlsrpt_rua': ['mailto:r@example.org']}), 'v=STSv1; id=new;',
                                'v=TLSRPTv1; rua=mailto:r@example.org')
    assert [(record['name'], record['type']) for record in plan['records']] == [
        ('mta-sts.example.org', 'A'), ('mta-sts.example.org', 'AAAA'), ('_smtp._tls.example.org', 'TXT'),
        ('_mta-sts.example.org', 'TXT')]
    assert plan['waits'] == [
        {'name': '_smtp._tls.example.org', 'values': ['v=TLSRPTv1; rua=mailto:r@example.org']},
        {'name': '_mta-sts.example.org', 'values': ['v=STSv1; id=new;']}]


def test_announce_plan_without_tlsrpt():
    plan = deploy.announce_plan(settled(), 'v=STSv1; id=new;')
    assert [record['type'] for record in plan['records']] == ['A', 'AAAA', 'TXT']
    assert [wait['name'] for wait in plan['waits']] == ['_mta-sts.example.org']


def test_txt_changes_list_only_what_differs():
    entry = settled()
    plan = deploy.announce_plan(entry, 'v=STSv1; id=old;')
    assert deploy.txt_changes(entry, plan) == []
    plan = deploy.announce_plan(entry, 'v=STSv1; id=new;')
    assert deploy.txt_changes(entry, plan) == [
        {'name': '_mta-sts.example.org', 'before': ['v=STSv1; id=old;'], 'after': ['v=STSv1; id=new;']}]


def test_dns_call_per_purpose():
    assert deploy.dns_call('nsupdate', 'check') == {'purpose': 'check', 'verb': 'Check the TSIG key with',
                                                    'check_mode': True, 'report_changed': False}
    assert deploy.dns_call('powerdns', 'probe') == {'purpose': 'probe', 'verb': 'Read back', 'check_mode': True,
                                                    'report_changed': True}
    assert deploy.dns_call('route53', 'apply') == {'purpose': 'apply', 'verb': 'Ensure', 'check_mode': False,
                                                   'report_changed': True}
    with pytest.raises(deploy.DeployError):
        deploy.dns_call('nsupdate', 'delete')


def test_probe_says_announced_only_when_nothing_would_change():
    assert deploy.probe_says_announced([{'changed': False}]) is True
    assert deploy.probe_says_announced([{'changed': True}]) is False
    assert deploy.probe_says_announced([{'changed': False, 'skipped': True}]) is False
    assert deploy.probe_says_announced([]) is False


def test_relative_name():
    assert deploy.relative_name('_mta-sts.one.example.org', 'example.org.') == '_mta-sts.one'
    assert deploy.relative_name('Example.org', 'example.org') == '@'
    with pytest.raises(deploy.DeployError, match='set zone'):
        deploy.relative_name('_mta-sts.example.net', 'example.org')


# --- where the records live (zone lookup and propagation wait) ---------------------------------------------

def test_dns_servers_nsupdate_uses_its_server_and_port():
    got = deploy.provider_dns_servers('nsupdate', {'server': '192.0.2.53', 'port': 5353}, {}, [], 0)
    assert got['servers'] == ['192.0.2.53'] and got['port'] == 5353
    assert 'mailsec_mta_sts_nsupdate' in got['setting']
    assert deploy.provider_dns_servers('nsupdate', {'server': '192.0.2.53'}, {}, [], 0)['port'] == 53


def test_dns_servers_powerdns_uses_the_api_host():
    got = deploy.provider_dns_servers('powerdns', {}, {'api_url': 'http://127.0.0.42:8081'}, [], 5300)
    assert got['servers'] == ['127.0.0.42'] and got['port'] == 5300
    assert 'mailsec_mta_sts_dns_wait_port' in got['setting']


def test_dns_servers_api_providers_ask_the_authoritative_servers():
    got = deploy.provider_dns_servers('route53', {}, {}, [], 0)
    assert got['servers'] == [] and got['port'] == 53 and 'NS records' in got['source']


def test_dns_servers_given_wait_nameservers_win():
    got = deploy.provider_dns_servers('nsupdate', {'server': '192.0.2.53', 'port': 5353}, {}, ['198.51.100.1'], 0)
    assert got['servers'] == ['198.51.100.1'] and got['port'] == 53
    assert deploy.provider_dns_servers('route53', {}, {}, ['198.51.100.1'], 5353)['port'] == 5353


def test_wait_hint_names_what_to_set():
    hint = deploy.wait_hint(deploy.provider_dns_servers('nsupdate', {'server': 'a'}, {}, [], 0))
    assert 'mailsec_mta_sts_nsupdate' in hint and 'mailsec_mta_sts_dns_wait to false' in hint


# --- what a failure means (was a 7-way inline conditional) ------------------------------------------------

@pytest.mark.parametrize('stage, changed, announced, served, expected', [
    ('preflight', True, True, True, 'nothing was changed'),
    ('publish', True, False, False, 'the previous web configuration and policy were restored, DNS was not touched'),
    ('propagate', True, True, True, 'not every authoritative server answered it in time'),
    ('announce', True, False, False, 'DNS did not take the new policy id, so the previous web configuration'),
    ('announce', True, True, False, 'DNS already announces the new policy id, so the new policy keeps serving'),
    ('announce', False, False, True, 'the policy served was in place before this run and DNS announces it'),
    ('announce', False, False, False, 'DNS does not announce its id yet: rerun once the DNS provider works'),
])
def test_failure_outcome_each_of_the_seven_cases(stage, changed, announced, served, expected):
    assert expected in deploy.failure_outcome(stage, changed, announced, served)


def test_needs_rollback():
    assert deploy.needs_rollback('publish', False) is True
    assert deploy.needs_rollback('announce', False) is True
    assert deploy.needs_rollback('announce', True) is False
    assert deploy.needs_rollback('preflight', False) is False
    assert deploy.needs_rollback('propagate', False) is False


def test_failure_reason_task_name_and_message():
    reason = deploy.failure_reason({'action': 'ansible.builtin.command', 'name': 'Test nginx'},
                                   {'msg': 'non-zero return code', 'stderr': 'unknown directive'}, 'publish')
    assert reason == 'Test nginx: non-zero return code - unknown directive'


def test_failure_reason_assert_explains_itself():
    assert deploy.failure_reason({'action': 'ansible.builtin.assert', 'name': 'x'}, {'msg': 'why'}, 'preflight') == 'why'


def test_failure_reason_loop_items_and_provider_hint():
    result = {'msg': 'One or more items failed', 'results': [
        {'failed': True, 'item': {'name': '_mta-sts.example.org', 'type': 'TXT'}, 'msg': 'Failed (rc: 5)',
         'dns_rc_str': 'REFUSED'},
        {'failed': False, 'item': {'name': 'mta-sts.example.org', 'type': 'A'}}]}
    reason = deploy.failure_reason({'action': 'community.general.nsupdate', 'name': 'Ensure'}, result, 'announce',
                                   'check the key')
    assert reason == 'Ensure: _mta-sts.example.org TXT: Failed (rc: 5) (DNS answer REFUSED) (check the key)'


def test_failure_reason_without_anything():
    assert deploy.failure_reason({}, {}, 'publish') == 'failed'


def test_failure_line():
    assert deploy.failure_line('a.test', 'preflight', 'nothing was changed', 'why') == \
        'a.test (preflight, nothing was changed): why'


def test_audit_failures_skip_passing_domains():
    audited = [{'domain': 'a.test', 'status': 'pass'}, {'domain': 'b.test', 'status': 'skipped'},
               {'domain': 'c.test', 'status': 'fail', 'findings': [{'code': 'x', 'severity': 'error'},
                                                                   {'code': 'y', 'severity': 'warning'}]}]
    assert deploy.audit_failure_lines(audited) == [
        {'domain': 'c.test', 'stage': 'audit', 'line': 'c.test (audit): deployed, but the audit says fail: x'}]


def test_select_entries_by_limit():
    entries = [{'domain': 'a.test'}, {'domain': 'b.test'}]
    assert deploy.select_entries(entries, []) == entries
    assert deploy.select_entries(entries, ['b.test']) == [{'domain': 'b.test'}]


def test_stages_in_order():
    assert deploy.STAGES[:4] == ('preflight', 'publish', 'verify', 'announce')
