# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Each shared doc fragment documents exactly its argument-spec helper; the action groups are documented."""

import os

import pytest
import yaml

from ansible_collections.mailsec.mta_sts.plugins.doc_fragments import attributes, authoritative, powerdns, resolver
from ansible_collections.mailsec.mta_sts.plugins.module_utils.argspec import (create_authoritative_argument_spec,
                                                                              create_powerdns_argument_spec,
                                                                              create_resolver_argument_spec)

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


@pytest.mark.parametrize('fragment, spec', [
    (resolver.ModuleDocFragment.DOCUMENTATION, create_resolver_argument_spec()),
    (powerdns.ModuleDocFragment.DOCUMENTATION, create_powerdns_argument_spec()),
    (authoritative.ModuleDocFragment.DOCUMENTATION, create_authoritative_argument_spec()),
])
def test_fragment_documents_exactly_its_argument_spec(fragment, spec):
    options = yaml.safe_load(fragment)['options']
    assert sorted(options) == sorted(spec)
    for name, argument in spec.items():
        documented = options[name]
        assert documented['type'] == argument['type'], name
        assert documented.get('default') == argument.get('default'), name
        assert documented.get('elements') == argument.get('elements'), name
        assert bool(documented.get('required')) == bool(argument.get('required')), name


def test_api_key_is_never_logged():
    assert create_powerdns_argument_spec()['api_key']['no_log'] is True


def test_each_call_gives_a_fresh_spec():
    first = create_resolver_argument_spec()
    first['nameservers']['default'].append('192.0.2.1')
    assert create_resolver_argument_spec()['nameservers']['default'] == []


def test_action_group_fragments_name_the_groups_of_runtime_yml():
    with open(os.path.join(ROOT, 'meta', 'runtime.yml')) as handle:
        groups = yaml.safe_load(handle)['action_groups']
    for group, fragment in (('mta_sts', attributes.ModuleDocFragment.ACTIONGROUP_MTA_STS),
                            ('powerdns', attributes.ModuleDocFragment.ACTIONGROUP_POWERDNS)):
        documented = yaml.safe_load(fragment)['attributes']['action_group']
        assert documented['membership'] == ['mailsec.mta_sts.' + group]
        assert groups[group], group


def test_read_only_fragment_says_nothing_changes():
    attrs = yaml.safe_load(attributes.ModuleDocFragment.READ_ONLY)['attributes']
    assert attrs['check_mode']['support'] == 'full' and attrs['diff_mode']['support'] == 'N/A'
