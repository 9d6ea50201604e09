import pytest

from reconciler.spec.render import Renderer, TemplateFailure


def test_strict_undefined_is_an_error() -> None:
    with pytest.raises(TemplateFailure, match="'nope' is undefined"):
        Renderer().render("x={{ nope }}", {})


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(TemplateFailure, match="unsafe"):
        Renderer().render("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(TemplateFailure):
        Renderer().render("{{ cycler.__init__.__globals__ }}", {})


@pytest.mark.parametrize("text, message", [
    ("{{ 1 // 0 }}", "ZeroDivisionError"),
    ("{{ '%d' % 'x' }}", "TypeError"),
    ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "recursion"),
    ("{% include 'other.j2' %}", "no loader"),
    ("{{ range(10**7) | list }}", "too large"),
    ("{{ 'a' * 10**9 }}", "more than"),
    ("{{ 'x'.ljust(10**9) }}", "too large"),
    ("{{ 9 ** 999999 }}", "too large"),
    ("{{ '{0.__class__}'.format(1) }}", "unsafe"),
    ("{{ '{.x}'.format(1) }}", "KeyError"),
    ("{{ [].pop() }}", "IndexError"),
])
def test_runtime_errors_are_template_failures(text: str, message: str) -> None:
    with pytest.raises(TemplateFailure, match=message):
        Renderer().render(text, {})


def test_a_loop_that_would_not_end_is_stopped_by_the_time_budget() -> None:
    import time

    started = time.monotonic()
    with pytest.raises(TemplateFailure, match="budget"):
        Renderer(time_budget=1.0).render(
            "{% for a in range(99999) %}{% for b in range(99999) %}{% endfor %}{% endfor %}", {})
    assert time.monotonic() - started < 5


def test_crlf_text_keeps_its_line_endings() -> None:
    assert Renderer().render("a={{ x | upper }}\r\nb=2\r\n", {"x": "y"}) == "a=Y\r\nb=2\r\n"


def test_single_expression_keeps_its_type_and_text_is_rendered() -> None:
    r = Renderer()
    assert r.render("{{ port }}", {"port": 8080}) == 8080
    assert r.render({"a": ["{{ x }}-{{ y }}"]}, {"x": 1, "y": "b"}) == {"a": ["1-b"]}
    assert r.render("{{ missing | default('d') }}", {}) == "d"
    assert r.render("plain ${file.a.path}", {}) == "plain ${file.a.path}"


@pytest.mark.parametrize("text", [
    "{{ a }}", "x {{ a }} y", "{{ d.k }}/{{ d.n.deep }}", "{{a}}{{ b }}", "  {{ a }}", "{{ flag }}",
    "{{ items }}", "{{ a | upper }}", "{{ missing }}", "{{ d.missing }}", "{{ d._private }}", "{% if a %}x{% endif %}",
])
def test_plain_lookup_fast_path_matches_jinja(text: str) -> None:
    context = {"a": "A", "b": 2, "flag": True, "items": [1, "x"], "d": {"k": "v", "n": {"deep": 3}}}
    import reconciler.spec.render as render_module

    fast, plain = Renderer(), Renderer()

    def outcome(r: Renderer) -> object:
        try:
            return r.render(text, context)
        except TemplateFailure as exc:
            return str(exc)

    plain._plain_lookups = staticmethod(lambda t, c: render_module._NO_LOOKUP)  # type: ignore[method-assign]
    assert outcome(fast) == outcome(plain)
