# -*- coding: utf-8 -*-
# Copyright (c) mailsec.mta_sts contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# This file holds only the documentation: the work is done by the action plugin of the same name on the
# controller (as for ansible.builtin.template).

DOCUMENTATION = r'''
module: report
short_description: Write control reports (JSON, JUnit, HTML, CSV, Markdown) from MTA-STS audit results
version_added: 0.1.0
description:
  - Takes one or more results of M(mailsec.mta_sts.audit) - for example one per AWX job slice - and JSON reports
    written earlier by this module, merges them into one report, and writes it in the formats asked for to
    O(dest) B(on the controller).
  - The JSON report holds the full evidence of every domain, the control definition read at run time from the
    collection's C(controls/) folder, the verdict, the weighted score, the run's time, the collection version
    and the audit options. It is stable (sorted keys and domains) so the next run can diff against it, and it
    carries the C(history) of up to 30 earlier runs (time, control status, counts per status) for the trend.
  - The JUnit XML report has one test case per domain (V(fail) is a C(failure), V(unknown) an C(error),
    V(skipped) a C(skipped) test case), so CI systems show the audit natively. A test case's C(time) is the
    domain's audit time when the audit result gives one (C(duration) or C(elapsed), in seconds).
  - The HTML report is one self-contained page with no external assets - the verdict, a chart of the
    statuses, the weighted score with why it differs from the share of passing domains, the trend of the last
    runs, every domain with its findings, its evidence (collapsible) and what to do for each finding code - each
    code linked to its entry in the finding reference - a search box and a print layout. Every value is HTML-escaped, and a Content-Security-Policy
    lets only the page's own script run.
  - The CSV report has one row per domain, in UTF-8 with a byte order mark so that Excel shows names such as
    C(bücher.example) intact; a cell that begins with C(=), C(+), C(-), C(@), a tab or a carriage
    return gets a leading apostrophe so spreadsheets never run it as a formula.
  - The Markdown report is a summary for tickets and merge requests, with Markdown and HTML syntax escaped.
  - What a report shows of a value from outside is clipped (an input entry to 512 characters, a value in the
    HTML, CSV, Markdown and JUnit reports to 2000, a policy to 64 KiB), so a hostile input cannot make a report
    megabytes.
  - With a previous JSON report (O(previous), or the report already at O(dest) with O(compare_existing)), the
    reports show what changed - domains that newly fail, domains fixed, policies whose text changed without a
    new TXT id, policy ids that changed.
author:
  - mailsec.mta_sts contributors (@mailsec)
extends_documentation_fragment:
  - mailsec.mta_sts.attributes
  - mailsec.mta_sts.attributes.ACTION
attributes:
  check_mode:
    support: full
    details: Reports which files would be written, and nothing is written.
  diff_mode:
    support: full
    details: Shows the content before and after of each file that changes.
  idempotent:
    support: full
    details:
      - When the audit finds exactly what the report at O(dest) already holds (fetch timings and the order of
        records in a DNS answer aside), no file is rewritten and the report keeps its time; with O(force=true)
        every run records its time instead.
      - The run time alone never makes a file change, also for formats written without the JSON report.
options:
  results:
    description:
      - Registered results of M(mailsec.mta_sts.audit), as one result or a list of results. A registered loop
        (a result with a C(results) list) is expanded.
      - JSON reports of this module loaded as data (for example with P(ansible.builtin.file#lookup)) are accepted too.
      - A domain found in more than one result is reported once - the result with the most severe status
        (V(fail), V(unknown), V(pass), V(skipped)) wins - so two job slices give the same report as one
        unsliced run.
    type: raw
    default: []
  src:
    description:
      - JSON reports written earlier by this module, on the controller, to merge with O(results) - typically one
        per AWX job slice.
      - Shell patterns (C(*), C(?), C([...])) are expanded; a pattern that matches no file is an error.
      - Relative paths are relative to the current working directory.
    type: list
    elements: path
    default: []
  dest:
    description:
      - The directory the reports are written to, on the controller. It is created when missing.
      - Relative paths are relative to the current working directory, not to the playbook.
    type: path
    required: true
  basename:
    description:
      - File name of the reports without extension. The files are C(<basename>.json), C(<basename>.junit.xml),
        C(<basename>.html), C(<basename>.csv) and C(<basename>.md).
    type: str
    default: mta-sts-report
  formats:
    description:
      - The reports to write.
    type: list
    elements: str
    choices: [json, junit, html, csv, markdown]
    default: [json, junit, html, csv, markdown]
  previous:
    description:
      - A JSON report of an earlier run to compare with. The comparison is stored in the JSON report under
        C(diff) and shown in the HTML and Markdown reports.
      - When the file does not exist (the first run), there is no comparison and no error.
    type: path
  compare_existing:
    description:
      - When O(previous) is not set, compare with the JSON report already at O(dest), if any, before it is
        replaced.
    type: bool
    default: true
  options:
    description:
      - The audit options to record in the report (resolvers, timeout, O(mailsec.mta_sts.audit#module:require_mode), ...).
      - When not set, the options of the merged JSON reports are kept if they agree.
    type: dict
  control:
    description:
      - The id of the control reported on; its definition is read from the collection's C(controls/<id>.json).
      - By default the control of the audit results, else V(EDCA-TLS-025).
    type: str
  timestamp:
    description:
      - Record the time of the run in the reports. With V(false) the reports depend only on the audit.
    type: bool
    default: true
  force:
    description:
      - Rewrite the reports with this run's time even when the audit found exactly what they already hold, and
        add the run to the trend - what a scheduled job wants, so the report says when it was checked. The
        role C(mailsec.mta_sts.audit) sets it from C(mailsec_mta_sts_report_refresh) (default V(true)).
      - With V(false), a run that finds what the reports hold rewrites nothing (idempotent).
      - With O(timestamp=false) there is no time to record, and nothing is rewritten either way.
    type: bool
    default: false
  mode:
    description:
      - Permissions of the report files, as an octal string.
    type: raw
    default: '0644'
notes:
  - The weighted score follows the control set - the C(severityWeight) of the passing controls over the weight of
    all verified controls. With one control it is 100% when the control passes and 0% when it fails. A control
    whose verdict is V(unknown) counts as verified and not passing (what could not be shown to pass earns
    nothing); a control that is V(skipped) (it applies to no domain) or whose definition has C(verify=false) is
    left out, and the score is then C(null) (n/a). The share of passing domains among the judged ones (pass, fail,
    unknown) is reported beside it.
  - All formats are written or none - each is rendered before any file is touched, and a report that cannot
    be rendered in one format fails the task with every file left as it was. Files are replaced atomically (a
    temporary file in O(dest), then a rename), so a reader never sees half a report.
seealso:
  - module: mailsec.mta_sts.audit
  - name: Reports of mailsec.mta_sts
    description: The report formats, the JSON schema and how to merge AWX job slices.
    link: https://github.com/mailsec/mta_sts/tree/main/docs/docsite/rst/reports.rst
'''

EXAMPLES = r'''
- name: Audit the accepted domains
  mailsec.mta_sts.audit:
    domains: "{{ accepted_domains }}"
  register: mta_sts

- name: Write every report to /var/reports/mta-sts
  mailsec.mta_sts.report:
    results: "{{ mta_sts }}"
    dest: /var/reports/mta-sts
    options:
      require_mode: testing

- name: Merge the JSON reports the job slices wrote, and compare with last night's report
  mailsec.mta_sts.report:
    src: /shared/mta-sts/slices/*.json
    dest: /shared/mta-sts/merged
    previous: /shared/mta-sts/nightly/mta-sts-report.json
    formats: [json, html, junit]

- name: Only JUnit for CI, reproducible (no time stamp)
  mailsec.mta_sts.report:
    results: "{{ mta_sts }}"
    dest: "{{ lookup('ansible.builtin.env', 'CI_PROJECT_DIR') }}/reports"
    formats: [junit]
    timestamp: false
'''

RETURN = r'''
files:
  description: The report files, one per format asked for.
  returned: always
  type: list
  elements: dict
  contains:
    format:
      description: The format.
      type: str
      sample: html
    path:
      description: The absolute path of the file on the controller.
      type: str
      sample: /var/reports/mta-sts/mta-sts-report.html
    changed:
      description: Whether the file was (or in check mode would be) written.
      type: bool
      sample: true
sources:
  description: The JSON reports read from O(src), after expanding the patterns.
  returned: always
  type: list
  elements: str
  sample: [/shared/mta-sts/slices/mta-sts-slice-101.json, /shared/mta-sts/slices/mta-sts-slice-102.json]
merged:
  description: How many audit results and reports were merged.
  returned: always
  type: int
  sample: 4
status:
  description: The verdict of the control over all merged domains.
  returned: always
  type: str
  choices: [pass, fail, unknown, skipped]
  sample: fail
counts:
  description: Number of domains per status.
  returned: always
  type: dict
  sample: {"pass": 10, "fail": 2, "unknown": 0, "skipped": 1}
total:
  description: Number of domains in the report.
  returned: always
  type: int
  sample: 13
failing:
  description: The domains that fail.
  returned: always
  type: list
  elements: str
  sample: [example.org]
unknown:
  description: The domains that could not be verified.
  returned: always
  type: list
  elements: str
  sample: []
score:
  description: The weighted score (see the notes) and the share of passing domains.
  returned: always
  type: dict
  contains:
    earned:
      description: The weight of the passing controls.
      type: int
      sample: 0
    possible:
      description: The weight of the verified controls.
      type: int
      sample: 7
    ratio:
      description: RV(score.earned) over RV(score.possible); V(null) when nothing was verified.
      type: float
      sample: 0.0
    percent:
      description: RV(score.ratio) in percent, rounded to one decimal.
      type: float
      sample: 0.0
    domains_passing:
      description: Number of domains that pass.
      type: int
      sample: 10
    domains_judged:
      description: Number of domains that pass, fail or are unknown.
      type: int
      sample: 12
    domains_percent:
      description: RV(score.domains_passing) over RV(score.domains_judged) in percent.
      type: float
      sample: 83.3
generated:
  description: The time recorded in the reports (UTC, ISO 8601); V(null) with O(timestamp=false).
  returned: always
  type: str
  sample: "2026-01-31T02:00:00Z"
control:
  description: The control reported on, as read from the collection's C(controls/) folder.
  returned: always
  type: dict
  contains:
    id:
      description: Control id.
      type: str
      sample: EDCA-TLS-025
    title:
      description: Control title.
      type: str
      sample: Accepted domains publish valid MTA-STS policies
    severity:
      description: Control severity.
      type: str
      sample: Medium
    severity_weight:
      description: The control's severity weight.
      type: int
      sample: 7
diff_summary:
  description:
    - What changed since the previous report, counted; V(null) when there was nothing to compare with.
    - The full comparison is in the JSON report under C(diff).
  returned: always
  type: dict
  contains:
    previous:
      description: The path of the report compared with.
      type: str
    previous_generated:
      description: The time of the report compared with.
      type: str
    empty:
      description: Whether nothing changed.
      type: bool
    newly_failing:
      description: Number of domains that fail now and did not before.
      type: int
    fixed:
      description: Number of domains that failed before and pass (or are skipped) now.
      type: int
    status_changed:
      description: Number of other status changes.
      type: int
    policy_changed_same_id:
      description: Number of domains whose policy text changed while the TXT id stayed the same.
      type: int
    policy_id_changed:
      description: Number of domains whose TXT id changed.
      type: int
    added:
      description: Number of domains audited now and not before.
      type: int
    removed:
      description: Number of domains audited before and not now.
      type: int
    newly_failing_domains:
      description: The domains that newly fail.
      type: list
      elements: str
    fixed_domains:
      description: The domains that were fixed.
      type: list
      elements: str
'''
