# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The finding catalogue is the one source: the docs page generated from it is current, every code is in one
section, and the helpers the reports use read it."""

import importlib.util
import os
import re

import pytest

from ansible_collections.mailsec.mta_sts.plugins.module_utils import findings

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..', '..', '..'))


def _generator():
    spec = importlib.util.spec_from_file_location('generate_finding_codes',
                                                  os.path.join(ROOT, 'hacking', 'generate_finding_codes.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_finding_docs_are_current():
    generator = _generator()
    with open(os.path.join(ROOT, 'docs', 'docsite', 'rst', 'finding_codes.rst'), encoding='utf-8') as handle:
        assert handle.read() == generator.generate(findings), 'run make finding-docs'
    assert generator.main(['--check']) == 0


def test_generator_refuses_a_code_missing_from_the_sections():
    generator = _generator()

    class Partial(object):
        CATALOG = findings.CATALOG
        DETAILS = findings.DETAILS
        SECTIONS = findings.SECTIONS[1:]
    with pytest.raises(ValueError, match='exactly once'):
        generator.generate(Partial)


def test_every_code_is_in_exactly_one_section_and_details_name_known_codes():
    listed = [code for section in findings.SECTIONS for code in section['codes']]
    assert sorted(listed) == sorted(findings.CATALOG) and len(listed) == len(set(listed))
    assert set(findings.DETAILS) <= set(findings.CATALOG)


def test_doc_url_points_at_the_code_heading():
    assert findings.doc_url('txt-missing') == findings.DOCS_URL + '#txt-missing'
    assert re.match(r'^https://', findings.DOCS_URL)


def test_remediation_and_title_are_empty_for_a_code_of_another_version():
    assert findings.remediation('no-such-code') == '' and findings.title('no-such-code') == ''
    assert findings.remediation('txt-missing') == findings.CATALOG['txt-missing'][2]


def test_main_finding_prefers_errors_then_warnings():
    entries = [{'code': 'a', 'severity': 'info'}, {'code': 'b', 'severity': 'warning'},
               {'code': 'c', 'severity': 'error'}, {'code': 'd', 'severity': 'error'}]
    assert findings.main_finding(entries)['code'] == 'c'
    assert findings.main_finding(entries[:2])['code'] == 'b'
    assert findings.main_finding([]) is None and findings.main_finding(None) is None
