import jinja2
import pytest

from reconciler.spec.render import Renderer


def test_strict_undefined_is_an_error() -> None:
    with pytest.raises(jinja2.UndefinedError):
        Renderer().render("x={{ nope }}", {})


def test_sandbox_blocks_attribute_escapes() -> None:
    with pytest.raises(jinja2.TemplateError):
        Renderer().render("{{ ''.__class__.__mro__ }}", {})
    with pytest.raises(jinja2.TemplateError):
        Renderer().render("{{ cycler.__init__.__globals__ }}", {})


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
        except jinja2.TemplateError as exc:
            return type(exc)

    plain._plain_lookups = staticmethod(lambda t, c: render_module._NO_LOOKUP)  # type: ignore[method-assign]
    assert outcome(fast) == outcome(plain)
