"""Manifest parsing: every rule, and that every message names file, line, key and remedy."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from service.adapters.manifest.parse import (
    MAX_NODES,
    load_manifest,
    manifest_schema,
    parse_manifest,
)
from service.domain.manifest import ManifestError

BASE = """\
version: 1
coder:
  command: ["python", "tools/coder.py"]
test:
  command: ["python", "-m", "pytest", "-q", "{test}", "--junitxml={junit}"]
contexts:
  accounts:
    description: Users and credentials
    components:
      - name: user_repository
        priority: 10
      - name: password_hasher
"""


def rejected(text: str) -> str:
    """Return the ManifestError message for `text`."""
    with pytest.raises(ManifestError) as caught:
        parse_manifest(textwrap.dedent(text))
    return str(caught.value)


def test_defaults() -> None:
    parsed = parse_manifest(BASE)
    assert parsed.base is None
    assert parsed.coder.command == ("python", "tools/coder.py")
    assert parsed.coder.timeout == 1800
    assert parsed.attempts == 3
    assert parsed.test.timeout == 600
    assert parsed.setup is None and parsed.verify is None
    assert parsed.parallel == 8
    assert parsed.draft_pull_request is True and parsed.push_pull_request is True
    assert parsed.contexts["accounts"].description == "Users and credentials"


def test_the_design_example_parses() -> None:
    text = BASE.replace("version: 1\n", """\
version: 1
base: main
paths:
  design: docs/design/{context}/{component}.md
  implementation: src/{context}/{component}.py
  test: tests/{context}/test_{component}.py
setup:
  command: ["python", "-m", "pip", "install", "-q", "-e", ".[test]"]
verify:
  command: ["python", "-m", "pytest", "-q"]
parallel: 3
pull_request: {draft: false}
""").replace("      - name: password_hasher\n", """\
      - name: password_hasher
        paths: {implementation: src/accounts/hashing.py}
        allow: ["src/accounts/__init__.py"]
""")
    parsed = parse_manifest(text)
    assert parsed.base == "main"
    assert parsed.setup is not None and parsed.setup.timeout == 900
    assert parsed.verify is not None and parsed.verify.timeout == 1800
    assert parsed.parallel == 3
    assert parsed.draft_pull_request is False and parsed.push_pull_request is True
    hasher = parsed.components("accounts", ["password_hasher"])[0]
    assert hasher.implementation == "src/accounts/hashing.py"
    assert hasher.design == "docs/design/accounts/password_hasher.md"
    assert hasher.allow == ("src/accounts/__init__.py",)
    assert parsed.job_config().to_json()["setup"]["timeout"] == 900


def test_pull_request_false_pushes_the_branch_only() -> None:
    parsed = parse_manifest(BASE + "pull_request: false\n")
    assert parsed.push_pull_request is False


def test_string_commands_are_split_like_a_shell() -> None:
    command = """'python tools/coder.py "two words" {design}'"""
    text = BASE.replace('["python", "tools/coder.py"]', command)
    parsed = parse_manifest(text)
    assert parsed.coder.command == ("python", "tools/coder.py", "two words", "{design}")


def test_shell_syntax_in_a_string_command_is_just_arguments() -> None:
    text = BASE.replace('["python", "tools/coder.py"]', "'echo hi; rm -rf x'")
    assert parse_manifest(text).coder.command == ("echo", "hi;", "rm", "-rf", "x")


def test_unbalanced_quotes_in_a_string_command() -> None:
    message = rejected(BASE.replace('["python", "tools/coder.py"]', """'python "x'"""))
    assert message.startswith(".github/ccs.yml:3: coder.command: cannot split")
    assert "write the command as a list" in message


def test_spawn_order_is_priority_descending_then_name() -> None:
    text = BASE + "      - name: audit_log\n        priority: 10\n      - name: zeta\n"
    names = [c.name for c in parse_manifest(text).components("accounts")]
    assert names == ["audit_log", "user_repository", "password_hasher", "zeta"]


def test_subset_keeps_spawn_order() -> None:
    parsed = parse_manifest(BASE)
    subset = parsed.components("accounts", ["password_hasher", "user_repository"])
    assert [c.name for c in subset] == ["user_repository", "password_hasher"]


def test_unknown_context_and_component_name_what_exists() -> None:
    parsed = parse_manifest(BASE)
    with pytest.raises(ManifestError, match=r"unknown context 'billing'.*accounts"):
        parsed.components("billing")
    with pytest.raises(ManifestError, match=r"no component 'nope'.*password_hasher"):
        parsed.components("accounts", ["nope"])


def test_unknown_key_with_line_and_did_you_mean() -> None:
    message = rejected(BASE + "paralel: 4\n")
    assert message.startswith(".github/ccs.yml:13: paralel: unknown key 'paralel'; allowed: ")
    assert "parallel" in message and "did you mean 'parallel'?" in message


def test_unknown_key_deep_inside_a_component() -> None:
    message = rejected(BASE + "        prio: 3\n")
    assert message.startswith(
        ".github/ccs.yml:13: contexts.accounts.components[1].prio: unknown key 'prio'"
    )
    assert "allowed: allow, name, needs, paths, priority" in message
    assert "did you mean 'priority'?" in message


def test_unknown_key_without_a_close_match_has_no_suggestion() -> None:
    message = rejected(BASE + "zzzzz: 1\n")
    assert "unknown key 'zzzzz'" in message and "did you mean" not in message


def test_wrong_type_names_the_key_path_and_expected_type() -> None:
    message = rejected(BASE + "        priority: high\n")
    assert message == (
        ".github/ccs.yml:13: contexts.accounts.components[1].priority: "
        "expected an integer (got 'high')"
    )


@pytest.mark.parametrize("value", ["1.5", "true", "'3'"])
def test_integers_are_strict(value: str) -> None:
    message = rejected(BASE + f"parallel: {value}\n")
    assert ".github/ccs.yml:13: parallel: expected an integer" in message


def test_bounds() -> None:
    assert "parallel: must be at least 1 (got 0)" in rejected(BASE + "parallel: 0\n")
    message = rejected(BASE.replace("  command: [\"python\", \"tools/coder.py\"]\n",
                                    "  command: [\"python\", \"tools/coder.py\"]\n  timeout: 0\n"))
    assert "coder.timeout: must be at least 1" in message


def test_version_must_be_1() -> None:
    assert "version: must be 1 (got 2)" in rejected(BASE.replace("version: 1", "version: 2"))


def test_missing_required_keys() -> None:
    message = rejected(BASE.replace('coder:\n  command: ["python", "tools/coder.py"]\n', ""))
    assert message == ".github/ccs.yml:1: (top level): missing required key 'coder'"
    assert "missing required key 'test'" in rejected(BASE.replace("test:\n", "tst:\n"))


def test_several_problems_are_listed_in_file_order() -> None:
    message = rejected(BASE + "paralel: 1\nverbose: true\n")
    lines = message.splitlines()
    assert lines[0].startswith(".github/ccs.yml:13: paralel")
    assert lines[1].startswith(".github/ccs.yml:14: verbose")


def test_empty_command_and_empty_components() -> None:
    assert "coder.command: must not be empty" in rejected(
        BASE.replace('["python", "tools/coder.py"]', "[]"))
    assert "coder.command: must not be empty" in rejected(
        BASE.replace('["python", "tools/coder.py"]', "'  '"))
    text = BASE.split("    components:")[0] + "    components: []\n"
    assert "contexts.accounts.components: must not be empty" in rejected(text)


def test_command_items_must_be_strings() -> None:
    message = rejected(BASE.replace('["python", "tools/coder.py"]', '["python", 3]'))
    assert "coder.command[1]: expected a string (got 3)" in message


@pytest.mark.parametrize("name", ["a;rm", "Accounts", "1abc", "a-b", "a b", "x" * 64, "$(id)"])
def test_bad_component_names(name: str) -> None:
    message = rejected(BASE.replace("name: password_hasher", f"name: '{name}'"))
    assert message.startswith(".github/ccs.yml:12: contexts.accounts.components[1].name: ")
    assert "^[a-z][a-z0-9_]{0,62}$" in message


def test_bad_context_name() -> None:
    message = rejected(BASE.replace("  accounts:", "  'acc;ounts':"))
    assert message.startswith(".github/ccs.yml:7: contexts.acc;ounts: context name 'acc;ounts'")


def test_yaml_boolean_keys_must_be_quoted() -> None:
    message = rejected(BASE.replace("  accounts:", "  on:"))
    assert message.startswith(".github/ccs.yml:7: contexts.on: key 'on' is not read as a string")
    assert "quote it" in message


def test_duplicate_keys_are_rejected() -> None:
    message = rejected(BASE + "parallel: 2\nparallel: 3\n")
    assert message == ".github/ccs.yml:14: parallel: duplicate key; each key may appear once"


def test_duplicate_component_names() -> None:
    message = rejected(BASE + "      - name: user_repository\n")
    assert message.startswith(".github/ccs.yml:13: contexts.accounts.components[2].name: "
                              "duplicate component 'user_repository'")


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("/etc/passwd", "it is absolute"),
        ("../outside.py", "it leaves the repository"),
        ("src/../../outside.py", "it leaves the repository"),
        (".git/hooks/pre-commit", "it is inside .git/"),
        (".GIT/hooks/x", "it is inside .git/"),
        ("src/.git/x", "it is inside .git/"),
        ("src/.Git./config", "it is inside .git/"),
        ("src/.git /config", "it is inside .git/"),
        (".git::$INDEX_ALLOCATION/hooks/x", "it is inside .git/"),
        ("GIT~1/hooks/x", "it is inside .git/"),
        ("src//x.py", "it is not normalised (write 'src/x.py')"),
        ("./src/x.py", "it is not normalised (write 'src/x.py')"),
        ("src\\\\x.py", "backslash"),
        ("src/", "directory"),
    ],
)
def test_unsafe_override_paths(path: str, problem: str) -> None:
    text = BASE + f'        paths: {{implementation: "{path}"}}\n'
    message = rejected(text)
    assert message.startswith(
        ".github/ccs.yml:13: contexts.accounts.components[1].paths.implementation: unsafe path"
    )
    assert problem in message


@pytest.mark.parametrize("path", [".github/x.py", "src/.gitignore", "src/git/x.py",
                                  "src/.git_helpers.py", "docs/.gitkeep"])
def test_names_that_only_look_like_git_are_allowed(path: str) -> None:
    text = BASE + f'        paths: {{implementation: "{path}"}}\n'
    assert parse_manifest(text).components("accounts")


def test_unsafe_template_points_at_the_template_line() -> None:
    text = BASE.replace("version: 1\n", "version: 1\npaths:\n  test: /tests/{component}.py\n")
    message = rejected(text)
    assert message.startswith(
        ".github/ccs.yml:3: contexts.accounts.components[0].paths.test: unsafe path"
    )


def test_unsafe_allow_path() -> None:
    message = rejected(BASE + "        allow: [src/ok.py, ../../etc/x]\n")
    assert message.startswith(".github/ccs.yml:13: contexts.accounts.components[1].allow[1]: ")
    assert "leaves the repository" in message


def test_unsafe_path_in_another_context_rejects_everything() -> None:
    text = BASE + (
        "  billing:\n    components:\n      - name: invoice\n"
        "        paths: {test: ../../x.py}\n"
    )
    message = rejected(text)
    assert "contexts.billing.components[0].paths.test: unsafe path" in message


def test_paths_must_be_distinct_across_contexts() -> None:
    text = BASE + (
        "  billing:\n    components:\n      - name: invoice\n"
        "        paths: {implementation: src/accounts/user_repository.py}\n"
    )
    message = rejected(text)
    assert message.startswith(".github/ccs.yml:15: contexts.billing.components[0]: components ")
    assert "both resolve to 'src/accounts/user_repository.py'" in message


def test_template_placeholders_are_only_context_and_component() -> None:
    text = BASE.replace("version: 1\n", "version: 1\npaths:\n  design: d/{contxt}.md\n")
    message = rejected(text)
    assert message.startswith(".github/ccs.yml:3: paths.design: template 'd/{contxt}.md' uses")
    attribute = BASE.replace("version: 1\n", "version: 1\npaths:\n  design: d/{context.upper}\n")
    assert "may use only {context}, {component}" in rejected(attribute)


def test_unknown_command_placeholder() -> None:
    message = rejected(BASE.replace('"{test}"', '"{tests}"'))
    assert message.startswith(".github/ccs.yml:5: test.command[4]: unknown placeholder {tests}")
    assert "{context} {component} {design} {implementation} {test} {junit} {attempt}" in message


def test_literal_braces_and_known_placeholders_are_accepted() -> None:
    text = BASE.replace('"{test}"', '"{{not_a_placeholder}}", "{attempt}", "{component}"')
    assert "{{not_a_placeholder}}" in parse_manifest(text).test.command


def test_yaml_syntax_error_names_the_line() -> None:
    message = rejected(BASE + "parallel: [1\n")
    assert message.startswith(".github/ccs.yml:14: invalid YAML")


def test_empty_and_non_mapping_documents() -> None:
    assert "the manifest is empty" in rejected("")
    assert rejected("- 1\n") == ".github/ccs.yml:1: (top level): expected a mapping (got a list)"


def test_aliases_work_but_loops_and_bombs_do_not() -> None:
    text = BASE.replace('command: ["python", "tools/coder.py"]',
                        'command: &cmd ["python", "tools/coder.py"]')
    text += "verify:\n  command: *cmd\n"
    assert parse_manifest(text).verify.command == ("python", "tools/coder.py")
    assert "alias refers to itself" in rejected(BASE + "extra: &a [*a]\n")
    bomb = BASE + "".join(
        f"b{i}: &b{i} [" + ", ".join([f"*b{i - 1}"] * 10) + "]\n" for i in range(1, 7)
    )
    bomb = bomb.replace("b1: &b1 [" + ", ".join(["*b0"] * 10), "b1: &b1 [" + ", ".join(["x"] * 10))
    assert f"more than {MAX_NODES}" in rejected(bomb)


def test_merge_keys_are_refused() -> None:
    assert "merge keys (<<) are not supported" in rejected(BASE + "x: &x {a: 1}\ny:\n  <<: *x\n")


def test_base_must_be_a_branch_name() -> None:
    message = rejected(BASE + "base: --upload-pack=evil\n")
    assert message.startswith(".github/ccs.yml:13: base: branch name '--upload-pack=evil'")


def test_source_is_named_in_messages() -> None:
    with pytest.raises(ManifestError, match=r"^ci/other\.yml:13: paralel"):
        parse_manifest(BASE + "paralel: 1\n", source="ci/other.yml")


def test_load_manifest_reads_the_working_tree(tmp_path: Path) -> None:
    (tmp_path / ".github").mkdir()
    (tmp_path / ".github" / "ccs.yml").write_text(BASE)
    assert load_manifest(tmp_path).source == ".github/ccs.yml"
    (tmp_path / "other.yml").write_text(BASE)
    assert load_manifest(tmp_path, "other.yml").source == "other.yml"


def test_load_manifest_missing(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"no manifest at .*ccs\.yml; run `ccs init`"):
        load_manifest(tmp_path)


def test_load_manifest_not_utf8(tmp_path: Path) -> None:
    (tmp_path / "m.yml").write_bytes(b"version: 1\n\xff\xfe")
    with pytest.raises(ManifestError, match="not UTF-8"):
        load_manifest(tmp_path, "m.yml")


def test_schema_rejects_unknown_keys_everywhere() -> None:
    """Every object in the schema closes its keys, so a typo is never silently ignored."""
    schema = manifest_schema()
    assert schema["$schema"].endswith("2020-12/schema")

    def objects(node):
        if isinstance(node, dict):
            if node.get("type") == "object" or "object" in node.get("type", []):
                yield node
            for value in node.values():
                yield from objects(value)
        elif isinstance(node, list):
            for value in node:
                yield from objects(value)

    for node in objects(schema):
        assert "additionalProperties" in node, node


def test_verify_takes_the_sessions_context_argument_by_argument() -> None:
    manifest = parse_manifest(BASE + 'verify:\n  command: ["pytest", "tests/{context}", '
                              '"--name={context}-suite", "{{context}}", "{component}"]\n')
    config = manifest.verify_config("accounts")
    assert config.verify is not None
    assert config.verify.command == ("pytest", "tests/accounts", "--name=accounts-suite",
                                     "{{context}}", "{component}")
    # The children's config is untouched: the runner fills {context} in there itself.
    assert manifest.job_config().verify == manifest.verify
    assert parse_manifest(BASE).verify_config("accounts").verify is None
