"""${variables}: the documented set, unknown names, escapes."""

from __future__ import annotations

import pytest

from sandbox.errors import InputError
from sandbox.scenario import templating


def test_render_replaces_known_and_unescapes() -> None:
    values = {"namespace": "demo-1", "registry": "127.0.0.1:5000"}
    text = "ns ${namespace}, image ${registry}/app, literal $${namespace}"
    assert templating.render(text, values) == "ns demo-1, image 127.0.0.1:5000/app, literal ${namespace}"


def test_strict_render_refuses_unknown_and_lenient_keeps_it() -> None:
    with pytest.raises(InputError, match=r"unknown variable \$\{cluster_name\}"):
        templating.render("${cluster_name}", {"namespace": "x"})
    assert templating.render("${cluster_name} in ${namespace}", {"namespace": "x"}, strict=False) == \
        "${cluster_name} in x"


def test_unknown_variables_knows_step_only_names() -> None:
    text = "${head} ${commit.fix} ${commit.other} ${repo} ${nope} $${escaped}"
    assert templating.unknown_variables(text, commit_ids={"fix"}, in_steps=True) == ["commit.other", "nope"]
    assert templating.unknown_variables(text, commit_ids={"fix"}, in_steps=False) == \
        ["head", "commit.fix", "commit.other", "nope"]
    assert templating.variables_in(text) == ["head", "commit.fix", "commit.other", "repo", "nope"]
