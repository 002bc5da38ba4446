# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write docs/docsite/rst/finding_codes.rst from the finding catalogue (plugins/module_utils/findings.py).

    python3 hacking/generate_finding_codes.py           # rewrite the page
    python3 hacking/generate_finding_codes.py --check   # exit 1 when the page is not current

``make finding-docs`` runs the first; a unit test runs the second.
"""

import argparse
import importlib.util
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATALOGUE = os.path.join(ROOT, 'plugins', 'module_utils', 'findings.py')
PAGE = os.path.join(ROOT, 'docs', 'docsite', 'rst', 'finding_codes.rst')
LABEL = 'ansible_collections.mailsec.mta_sts.docsite.finding_codes'

EFFECT_TEXT = {
    'fail': 'fail - the domain fails the control.',
    'unknown': 'unknown - the domain cannot be verified.',
    'warn': 'warning - the domain still passes.',
    'info': 'info - evidence only.',
    'skip': 'skip - the control does not apply to the domain.',
}

HEAD = '''.. _{label}:

.. This page is generated from plugins/module_utils/findings.py by hacking/generate_finding_codes.py
   (make finding-docs); edit the catalogue, not this page. A unit test checks that it is current.

Finding codes
=============

Every finding the audit reports carries a stable code. This page lists each code with its effect on the
domain's verdict, what it means and what to do. The same text (from ``plugins/module_utils/findings.py``)
appears as the remediation hint in the HTML, CSV, Markdown and JUnit reports, and the HTML and Markdown
reports link each code to its entry here.

Effects:

* **fail** - the domain does not meet EDCA-TLS-025.
* **unknown** - a lookup the verdict needs got no authoritative answer (SERVFAIL, REFUSED, timeout); the domain
  is neither passed nor failed.
* **warning** - the domain passes, with something to fix.
* **info** - evidence worth showing; no effect.
* **skip** - the domain accepts no mail; the control does not apply.

Some codes change their effect with the context: ``mx-not-covered`` and the ``mx-*`` STARTTLS codes only fail a
domain whose policy is in mode ``enforce``; ``policy-mode-testing`` fails when ``require_mode`` is ``enforce``.
The severity in each finding (``error``, ``warning``, ``info``) tells which applied. Findings that stand in the
way of mode ``enforce`` (an uncovered MX host, an expiring certificate, no TLS-RPT record, ...) also make a
passing domain *not ready for enforce*: ``enforce_ready`` and ``enforce_blockers`` in the audit result and the
reports.

.. contents::
   :local:
   :depth: 1
'''


def load_catalogue(path=CATALOGUE):
    """findings.py as a module, read from its file (it imports nothing, so no collection path is needed)."""
    spec = importlib.util.spec_from_file_location('mailsec_mta_sts_findings', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rst_text(text):
    """Catalogue text (plain) as reStructuredText: an asterisk would start emphasis."""
    return text.replace('*', '\\*')


def generate(findings):
    listed = [code for section in findings.SECTIONS for code in section['codes']]
    if sorted(listed) != sorted(findings.CATALOG) or len(listed) != len(set(listed)):
        raise ValueError('findings.SECTIONS must list every code of findings.CATALOG exactly once')
    out = [HEAD.format(label=LABEL)]
    for section in findings.SECTIONS:
        out.append('\n%s\n%s\n' % (section['title'], '-' * len(section['title'])))
        if section['intro']:
            out.append('\n%s\n' % section['intro'])
        for code in section['codes']:
            effect, title, hint = findings.CATALOG[code]
            heading = '``%s``' % code
            out.append('\n.. _%s.%s:\n\n%s\n%s\n\n' % (LABEL, code, heading, '^' * len(heading)))
            out.append('* **Effect:** %s\n* **Meaning:** %s\n* **What to do:** %s\n' % (
                EFFECT_TEXT[effect], rst_text(title).rstrip('.') + '.', rst_text(hint)))
            if code in findings.DETAILS:
                out.append('\n%s\n' % findings.DETAILS[code])
    return ''.join(out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--check', action='store_true', help='exit 1 when the page is not current')
    args = parser.parse_args(argv)
    text = generate(load_catalogue())
    with open(PAGE, encoding='utf-8') as handle:
        current = handle.read()
    if args.check:
        if current != text:
            sys.stderr.write('%s is not current: run make finding-docs\n' % os.path.relpath(PAGE, ROOT))
            return 1
        return 0
    if current != text:
        with open(PAGE, 'w', encoding='utf-8') as handle:
            handle.write(text)
        print('wrote %s' % os.path.relpath(PAGE, ROOT))
    return 0


if __name__ == '__main__':
    sys.exit(main())
