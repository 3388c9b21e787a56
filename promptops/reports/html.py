"""A self-contained HTML report: per-model summary, then per-case drill-down, failures first."""

from __future__ import annotations

from functools import lru_cache

from ..eval.completeness import by_score
from ..eval.results import EvalReport

_TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>promptops eval</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:2rem;color:#222}
table{border-collapse:collapse;margin:1rem 0;width:100%}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}.pass{color:#137333}.fail{color:#b3261e}.error{color:#8a5a00}
.bar{display:inline-block;height:10px;background:#4c8bf5}.muted{color:#777}
details{margin:1rem 0}summary{cursor:pointer;font-weight:600}
pre{white-space:pre-wrap;margin:0;max-width:50ch}
#partial{border:2px solid #8a5a00;background:#fff4e0;padding:.5rem 1rem;margin:1rem 0}
.badge{display:inline-block;border-radius:3px;padding:0 4px;font-size:12px;font-weight:600;background:#8a5a00;color:#fff}
tr.partial td.acc{color:#8a5a00}
</style></head><body>
<h1>promptops eval</h1>
<p class="muted">{{ report.calls }} calls, {{ report.cached }} cached, {{ '%.1f' % report.duration_s }} s{% if report.interrupted %}, interrupted{% endif %}</p>
{% if report.partials %}<div id="partial" role="alert"><strong>Partial run</strong>: {{ report.partials|length }} of {{ report.summaries|length }} score{{ 's' if report.summaries|length != 1 }} did not cover every case, so {{ 'they are' if report.partials|length != 1 else 'it is' }} not the version's score on its suite.
<ul>{% for p in report.partials %}<li>{{ p.prompt }} <code>{{ p.version }}</code> × {{ p.model }}: {{ p.reasons|join(', ') }}</li>{% endfor %}</ul></div>{% endif %}
<table id="summary"><tr><th>prompt</th><th>version</th><th>model</th><th>accuracy</th><th>95% CI</th>
<th>passed</th><th>failed</th><th>errors</th><th>p50</th><th>p95</th><th>cost</th></tr>
{% for s in report.summaries %}<tr{% if s.partial %} class="partial" title="{{ s.partial.describe() }}"{% endif %}><td>{{ s.prompt }}</td><td><code>{{ s.version }}</code></td><td>{{ s.model }}</td>
<td class="acc"><span class="bar" style="width:{{ (100 * s.accuracy)|round|int }}px"></span> {{ '%.1f' % (100 * s.accuracy) }}%{% if s.partial %} <span class="badge">partial</span>{% endif %}</td>
<td>{{ '%.1f' % (100 * s.ci_low) }}–{{ '%.1f' % (100 * s.ci_high) }}%</td><td>{{ s.passed }}</td><td>{{ s.failed }}</td>
<td>{{ s.errors }}</td><td>{{ s.latency_p50_ms or '–' }}</td><td>{{ s.latency_p95_ms or '–' }}</td><td>${{ '%.4f' % s.cost_usd }}</td></tr>
{% endfor %}</table>
{% for s in report.summaries %}
<details{% if loop.first %} open{% endif %}><summary>{{ s.prompt }} × {{ s.model }} — {{ s.failed }} failed, {{ s.errors }} errors{% if s.partial %} — <span class="badge">{{ s.partial.describe() }}</span>{% endif %}</summary>
{% if s.classification %}<p>macro F1 {{ '%.3f' % s.classification.macro_f1 }}</p>
<table><tr><th>label</th><th>precision</th><th>recall</th><th>F1</th><th>support</th></tr>
{% for label, m in s.classification.per_label.items() %}<tr><td>{{ label }}</td><td>{{ '%.2f' % m.precision }}</td><td>{{ '%.2f' % m.recall }}</td><td>{{ '%.2f' % m.f1 }}</td><td>{{ m.support }}</td></tr>{% endfor %}
</table>{% endif %}
<table class="cases"><tr><th>case</th><th>status</th><th>vars</th><th>expected</th><th>output</th><th>reason</th><th>latency</th></tr>
{% for r in s.results|sort(attribute='case_id')|sort(attribute='status_rank') %}<tr class="{{ r.status }}"><td>{{ r.case_id }}{% if r.repeat_index %} #{{ r.repeat_index }}{% endif %}{% if r.cached %} <span class="muted">(cached)</span>{% endif %}</td>
<td class="{{ r.status }}">{{ r.status }}</td><td><pre>{{ r.vars|tojson }}</pre></td><td><pre>{{ r.expected if r.expected is not none else '' }}</pre></td>
<td><pre>{{ r.error if r.error else r.output }}</pre></td><td>{{ r.reason }}</td><td>{{ r.latency_ms|round|int if r.latency_ms else '' }}</td></tr>
{% endfor %}</table></details>
{% endfor %}
</body></html>
"""


@lru_cache(maxsize=1)
def _template():
    from jinja2 import Environment

    return Environment(autoescape=True).from_string(_TEMPLATE)


class _Row:
    def __init__(self, result):
        self.__dict__.update(result.__dict__)
        self.status = result.status
        self.status_rank = {"error": 0, "fail": 1, "pass": 2}[result.status]


class _View:
    def __init__(self, summary, partial=None):
        self.__dict__.update(summary.__dict__)
        self.partial = partial
        self.results = [_Row(r) for r in summary.results]
        if summary.classification:
            c = dict(summary.classification)
            c["per_label"] = {k: _Obj(v) for k, v in c.get("per_label", {}).items()}
            self.classification = _Obj(c)


class _Obj:
    def __init__(self, d):
        self.__dict__.update(d)


def render_html(report: EvalReport) -> str:
    marks = by_score(report)
    view = _Obj({"calls": report.calls, "cached": report.cached, "duration_s": report.duration_s,
                 "interrupted": report.interrupted, "partials": list(marks.values()),
                 "summaries": [_View(s, marks.get((s.prompt, s.version, s.model))) for s in report.summaries]})
    return _template().render(report=view)
