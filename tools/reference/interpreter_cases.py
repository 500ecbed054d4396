#!/usr/bin/env python3
"""Expected outputs of LongLM's interpreter unit tests (ChatTemplateInterpreterTests), rendered by python3-jinja2 with
transformers' configuration (chat_template_ref.make_env, clock 2025-01-15 10:30, variable x={'k': 1}).
usage: interpreter_cases.py OUT.json   (tests/data/chat-templates/interpreter-cases.json)"""
import json, os, sys
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from datetime import datetime
from chat_template_ref import make_env
env = make_env(datetime(2025, 1, 15, 10, 30))
cases = [
 ("trim_blocks", "{% if true %}\nyes\n{% endif %}\nend"),
 ("lstrip_blocks", "a\n    {% if true %}\n    b\n    {% endif %}\nc"),
 ("lstrip_not_for_variables", "x\n    {{ 'v' }}\n"),
 ("plus_disables_lstrip", "a\n    {%+ if true %}b{% endif %}"),
 ("minus_strips", "a   \n  {%- if true -%}  \n  b  {{- ' c ' -}}  \n d{# c #}\ne{% endif %}"),
 ("comment_trim", "a\n  {# note #}\nb"),
 ("trailing_newline_removed", "x\n"),
 ("loop_vars", "{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.previtem }}{{ loop.nextitem }}{{ loop.cycle('x','y') }};{% endfor %}"),
 ("loop_filter", "{% for x in range(10) if x is odd %}{{ x }}{{ loop.length }}{% if loop.last %}!{% endif %} {% else %}none{% endfor %}"),
 ("loop_else", "{% for x in [] %}{{ x }}{% else %}empty{% endfor %}"),
 ("break_continue", "{% for x in range(10) %}{% if x == 2 %}{% continue %}{% endif %}{% if x > 4 %}{% break %}{% endif %}{{ x }}{% endfor %}"),
 ("loop_scope", "{% set x = 5 %}{% for i in range(2) %}{{ x }}{% set x = i %}{{ x }}{% endfor %}{{ x }}"),
 ("namespace", "{% set ns = namespace(n=0, s='') %}{% for i in range(4) %}{% set ns.n = ns.n + i %}{% set ns.s = ns.s ~ i %}{% endfor %}{{ ns.n }} {{ ns.s }}"),
 ("macro", "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} {{ greet('B', punct='?') }} {{ greet(name='C') }}"),
 ("call_block", "{% macro wrap(tag) %}<{{ tag }}>{{ caller() }}</{{ tag }}>{% endmacro %}{% call wrap('b') %}bold {{ 1 + 1 }}{% endcall %}"),
 ("call_block_args", "{% macro each(items) %}{% for i in items %}{{ caller(i) }}{% endfor %}{% endmacro %}{% call(x) each([1,2]) %}[{{ x }}]{% endcall %}"),
 ("filter_block", "{% filter upper %}hello {{ 'world' }}{% endfilter %}"),
 ("block_set", "{% set body %}\n  text {{ 1 }}\n{% endset %}[{{ body }}]{% set t | trim %}  padded  {% endset %}[{{ t }}]"),
 ("slicing", "{{ [1,2,3,4,5][1:3] }}{{ [1,2,3,4,5][::-1] }}{{ [1,2,3,4,5][-2:] }}{{ 'hello'[1:-1] }}{{ 'hello'[::2] }}{{ [1,2,3][5:] }}{{ 'abc'[-1] }}"),
 ("python_repr", "{{ [1, 'a', None, True, 1.5, {'k': \"it's\"}] }}|{{ (1,) }}|{{ {'a': [1, (2, 3)]} }}|{{ none }}|{{ true }}|{{ 'q\"uote' ~ [\"x'y\", 'a\\nb'] }}"),
 ("numbers", "{{ 10/4 }} {{ 7//2 }} {{ -7//2 }} {{ -7%3 }} {{ 2**10 }} {{ 2**-1 }} {{ 1e16 }} {{ 0.00001 }} {{ 0.1 + 0.2 }} {{ 3 * 1.0 }} {{ 1_000 }} {{ 5 - 7 }}"),
 ("tojson", "{{ {'b': 1, 'a': [1.0, 'é\"\\n', None, true]}|tojson }}|{{ {'b': 1, 'a': {}}|tojson(indent=2) }}|{{ [1,[]]|tojson(indent=2) }}|{{ {'b': 1, 'a': 2}|tojson(sort_keys=true, separators=(',', ':')) }}"),
 ("string_methods", "{{ '  x  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ '  a'.lstrip() }}|{{ 'a  '.rstrip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'a b c'.split(' ', 1) }}|{{ 'hello world'.title() }}|{{ 'hELLO'.capitalize() }}|{{ 'abc'.startswith('ab') }}{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ '-'.join(['a','b']) }}|{{ 'hello'.find('l') }}{{ 'hello'.count('l') }}|{{ 'ABC'.lower() }}{{ 'abc'.upper() }}"),
 ("dict_methods", "{% set d = {'a': 1, 'b': 2} %}{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d.keys()|list }}{{ d.values()|list }}{{ d.get('a') }}{{ d.get('z', 'none') }}{{ d.get('z') }}{% for k in d %}{{ k }}{% endfor %}"),
 ("filters", "{{ '  t  '|trim }}|{{ [1,2]|length }}{{ 'abc'|count }}|{{ [1,2,3]|join(', ') }}|{{ undefined_var|default('dflt') }}{{ ''|default('empty', true) }}{{ ''|d('kept') }}|{{ [3,1,2]|sort }}{{ [3,1,2]|sort(reverse=true) }}|{{ [1,1,2]|unique|list }}|{{ [1,2,3]|first }}{{ [1,2,3]|last }}|{{ [1,2]|reverse|list }}|{{ 'hi'|upper }}{{ 'HI'|lower }}|{{ 'a-b c'|title }}|{{ 2.5|round }}{{ 3.14159|round(2) }}{{ -3|abs }}|{{ '42'|int + 1 }}{{ 'x'|int }}{{ '1.5'|float }}|{{ 'one two  three'|wordcount }}|{{ {'b':1,'a':2}|dictsort }}|{{ 42|string ~ '!' }}"),
 ("selectattr_map", "{% set xs = [{'n': 'a', 'ok': true}, {'n': 'b', 'ok': false}, {'n': 'c'}] %}{{ xs|selectattr('ok')|map(attribute='n')|list }}{{ xs|rejectattr('ok')|map(attribute='n')|list }}{{ xs|selectattr('ok', 'defined')|list|length }}{{ xs|selectattr('n', 'equalto', 'c')|list }}{{ [1,2,3,4]|select('even')|list }}{{ [1,2,3]|reject('odd')|list }}{{ ['a','b']|map('upper')|list }}"),
 ("indent", "{{ 'a\\nb\\n\\nc'|indent }}|{{ 'a\\nb'|indent(2, true) }}|{{ 'a\\n\\nb'|indent(2, blank=true) }}|{{ 'x\\ny'|indent('> ') }}"),
 ("tests", "{{ x is defined }}{{ y is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}{{ 1 is integer }}{{ 1.0 is float }}{{ true is boolean }}{{ true is true }}{{ false is false }}{{ {} is mapping }}{{ [] is iterable }}{{ 'a' is sequence }}{{ 2 is even }}{{ 3 is odd }}{{ 9 is divisibleby 3 }}{{ 1 is equalto 1 }}{{ 1 is eq 1 }}{{ 1 is ne 2 }}{{ 'a' is in 'abc' }}{{ x is not none }}"),
 ("operators", "{{ 'a' in 'abc' }}{{ 1 not in [1] }}{{ 'a' ~ 1 ~ none }}{{ 1 if false else 2 }}{{ 'x' if false }}|{{ not true or false and true }}{{ 1 < 2 < 3 }}{{ 1 == 1.0 }}{{ [1] + [2] }}{{ 'ab' * 2 }}{{ (1 > 0) and 'yes' }}{{ 0 or 'fallback' }}"),
 ("undefined_prints_empty", "[{{ missing }}][{{ x.missing }}][{{ missing|length }}]{% for i in missing %}no{% endfor %}{% if not missing %}falsy{% endif %}"),
 ("strftime", "{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %j %I%p') }}"),
 ("generation", "{% for m in ['a'] %}{% generation %}[{{ m }}]{% endgeneration %}{% endfor %}"),
 ("string_escapes", "{{ 'tab\\there' }}|{{ \"new\\nline\" }}|{{ '\\u00e9\\x41' }}|{{ 'a' 'b' }}|{{ 'back\\\\slash' }}"),
 ("raw", "{% raw %}{{ not rendered }}{% endraw %}"),
 ("dict_underscore_key", "{% set d = {'_k': 1} %}{{ d._k }}{{ d['_k'] }}{{ 'ab'.__class__ is defined }}"),
 ("message_attributes", "{% set m = {'role': 'user', 'items': 3, 'content': none} %}{{ m.role }}{{ m['items'] }}{{ m.content is none }}{{ m.tool_calls is defined }}{{ m.get('role') }}"),
 ("ws_start_of_template", "  {% if true %}a{% endif %}\n  {# c #}b"),
 ("ws_after_variable", "{{ 'v' }}  {% if true %}a{% endif %}|{{ 'w' }}\n  {% if true %}b{% endif %}"),
 ("ws_between_tags", "{% if true %}  {% endif %}|{% for i in [1, 2] %}\n  {{ i }}\n{% endfor %}|"),
 ("ws_minus_then_lstrip", "a\n  {%- if true %}\n  b\n  {%- endif %}\n  c"),
 ("ws_plus_end", "{% if true +%}\nkept{% endif %}"),
 ("ws_crlf", "a\r\n{% if true %}\r\nb\r\n{% endif %}\r\nc\r\n"),
 ("ws_comment_minus", "a  {#- x -#}  b"),
 ("tuple_unpack", "{% set a, b = [1, 2] %}{{ a }}{{ b }}{% for x, y in [(1, 2), (3, 4)] %}{{ x + y }}{% endfor %}"),
]
out = []
for name, src in cases:
    try:
        r = env.from_string(src).render(x={'k': 1})
        out.append((name, src, r))
    except Exception as e:
        out.append((name, src, 'ERROR ' + type(e).__name__ + ': ' + str(e)))
with open(sys.argv[1], 'w', encoding='utf-8') as f:
    json.dump([{"name": n, "source": s, "expected": r} for n, s, r in out], f, ensure_ascii=False, indent=1)
    f.write("\n")
print(f"{len(out)} cases -> {sys.argv[1]}")
