import pytest

from reconciler.model import UNKNOWN
from reconciler.spec import refs

TYPES = ["file", "aws.vpc", "aws.subnet"]


def test_parse_dotted_and_plain_types() -> None:
    r = refs.parse("aws.vpc.main.id", TYPES)
    assert (r.type, r.name, r.host, r.attribute) == ("aws.vpc", "main", None, ("id",))
    r = refs.parse("file.cfg[web1].path", TYPES)
    assert (r.type, r.name, r.host, r.attribute) == ("file", "cfg", "web1", ("path",))
    with pytest.raises(ValueError):
        refs.parse("nothing.here.x", TYPES)
    with pytest.raises(ValueError):
        refs.parse("file.cfg", TYPES)


def test_substitute_keeps_type_for_whole_strings_and_propagates_unknown() -> None:
    values = {"file.a.size": 3, "file.b.path": UNKNOWN}
    lookup = values.__getitem__
    assert refs.substitute("${file.a.size}", lookup) == 3
    assert refs.substitute("n=${file.a.size}!", lookup) == "n=3!"
    assert refs.substitute(["${file.b.path}/x"], lookup) == [UNKNOWN]
    assert refs.substitute("$${file.a.size}", lookup) == "${file.a.size}"
    assert list(refs.find({"a": ["x ${file.a.size}", "$${file.no.x}"]})) == [(("a", 0), "file.a.size")]
