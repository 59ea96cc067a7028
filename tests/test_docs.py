"""The documentation agrees with the code: settings, exceptions, options, commands, includes."""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import shlex
import textwrap
import types
from pathlib import Path

import pytest

import firefly
from firefly import config
from firefly.cli import serve_command

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = ROOT / "README.rst"
EXAMPLES = ROOT / "examples"
CI_RUN = ROOT / ".ci" / "run"

INSTALL_AND_SERVE = "pip install . && cd examples && firefly funcs.square funcs.cube"
TEST_COMMAND = "pip install -e '.[test]' && python -m pytest"

PAGES = sorted(DOCS.glob("*.rst"))
CODE_DIRECTIVE = re.compile(r"^(?P<indent>\s*)\.\. (?:code-block|code|sourcecode)::")
LITERALINCLUDE = re.compile(r"^(?P<indent>\s*)\.\. literalinclude::\s*(?P<path>\S+)\s*$")
OPTION = re.compile(r"^\s*:(?P<name>[\w-]+):\s*(?P<value>.*)$")
TOCTREE = re.compile(r"^(?P<indent>\s*)\.\. toctree::")

Block = tuple[re.Match[str], dict[str, str], str]


def read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def directive_blocks(text: str, directive: re.Pattern[str]) -> list[Block]:
    """Each directive matching ``directive``: its match, its options and its dedented content."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        match = directive.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        options: dict[str, str] = {}
        body: list[str] = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            option = OPTION.match(following)
            if option and not body:
                options[option["name"]] = option["value"].strip()
            elif body or following.strip():
                body.append(following)
        blocks.append((match, options, textwrap.dedent("\n".join(body)).strip()))
    return blocks


def code_blocks(text: str) -> list[str]:
    return [content for _, _, content in directive_blocks(text, CODE_DIRECTIVE)]


def list_table_rows(text: str) -> list[str]:
    """The rows of the ``list-table`` directives in ``text``, each as one string."""
    return re.split(r"^\s*\* - ", text, flags=re.M)[1:]


# (1) every setting is in the table of docs/config.rst


@pytest.mark.parametrize("setting", config.settings(), ids=lambda setting: setting.name)
def test_every_setting_is_in_the_config_table(setting):
    env = setting.metadata["env"]
    flag = "--" + setting.name.replace("_", "-")
    rows = list_table_rows(read(DOCS / "config.rst"))
    assert any(
        f"``{setting.name}``" in row and f"``{env}``" in row and flag in row for row in rows
    ), f"docs/config.rst has no table row with ``{setting.name}``, ``{env}`` and {flag}"


@pytest.mark.parametrize("env", [config.FUNCTIONS_ENV, config.CONFIG_ENV])
def test_functions_and_config_variables_are_in_the_config_table(env):
    rows = list_table_rows(read(DOCS / "config.rst"))
    assert any(f"``{env}``" in row for row in rows)


# (2) every public exception is in docs/client.rst

PUBLIC_EXCEPTIONS = sorted(
    name
    for name in firefly.__all__
    if isinstance(getattr(firefly, name), type) and issubclass(getattr(firefly, name), Exception)
)


def test_the_public_surface_has_exceptions():
    assert "FireflyError" in PUBLIC_EXCEPTIONS and "ValidationError" in PUBLIC_EXCEPTIONS


@pytest.mark.parametrize("name", PUBLIC_EXCEPTIONS)
def test_every_public_exception_is_in_the_client_docs(name):
    assert re.search(rf"\b{name}\b", read(DOCS / "client.rst")), name


# (3) the README starts with the two commands, and CI runs the second


def test_readme_starts_with_the_install_and_test_commands():
    assert code_blocks(read(README))[:2] == [INSTALL_AND_SERVE, TEST_COMMAND]


def test_ci_runs_the_readme_test_command():
    if not CI_RUN.exists():
        pytest.skip(".ci/run does not exist yet")
    script = read(CI_RUN)
    if TEST_COMMAND in script:
        return
    extraction = re.search(r"grep\b[^|\n]*?-E\s+'(?P<pattern>[^']+)'[^|\n]*README\.rst", script)
    assert extraction, ".ci/run neither runs the README's test command nor greps it from README.rst"
    pattern = re.compile(extraction["pattern"])
    found = next(line for line in read(README).splitlines() if pattern.search(line))
    assert found.strip() == TEST_COMMAND


def test_readme_is_valid_restructuredtext():
    from docutils import core  # a test requirement (setup.py): never skipped

    core.publish_doctree(read(README), settings_overrides={"halt_level": 2, "report_level": 2})


def test_readme_example_is_the_example_module():
    python_blocks = [block for block in code_blocks(read(README)) if block.startswith("def ")]
    assert python_blocks
    for block in python_blocks:
        assert block in read(ROOT / "examples" / "funcs.py")


# (4) every literalinclude names a file that exists, and what it selects


def literalincludes() -> list[tuple[Path, re.Match[str], dict[str, str]]]:
    return [
        (page, match, options)
        for page in PAGES
        for match, options, _ in directive_blocks(read(page), LITERALINCLUDE)
    ]


def included_path(page: Path, target: str) -> Path:
    """Sphinx resolves ``/x`` from the docs folder and ``x`` from the including page."""
    return DOCS / target.lstrip("/") if target.startswith("/") else page.parent / target


def test_the_docs_include_example_files():
    assert any("examples" in match["path"] for _, match, _ in literalincludes())


@pytest.mark.parametrize(
    ("page", "match", "options"),
    [
        pytest.param(page, match, options, id=f"{page.name}:{match['path']}")
        for page, match, options in literalincludes()
    ],
)
def test_every_literalinclude_exists(page, match, options):
    path = included_path(page, match["path"])
    assert path.is_file(), f"{page.name}: {match['path']} does not exist"
    text = read(path)
    for option in ("start-at", "start-after", "end-before", "end-at"):
        if option in options:
            assert options[option] in text, f"{page.name}: {option} {options[option]!r} not found"
    if "pyobject" in options:
        names = {node.name for node in ast.walk(ast.parse(text)) if hasattr(node, "name")}
        assert options["pyobject"] in names, f"{page.name}: no {options['pyobject']} in {path}"


# The rest of the docs that name code


def test_every_cli_option_is_in_the_cli_docs():
    text = read(DOCS / "cli.rst")
    for param in serve_command.params:
        for option in param.opts + param.secondary_opts:
            if option.startswith("-"):
                assert f"``{option}" in text, f"docs/cli.rst does not mention {option}"


def test_the_index_lists_every_page():
    (toctree,) = [content for _, _, content in directive_blocks(read(DOCS / "index.rst"), TOCTREE)]
    listed = set(toctree.split())
    pages = {page.stem for page in PAGES if not page.stem.startswith("_")} - {"index"}  # fragments
    assert pages | {"performance"} <= listed


def test_the_python_example_serves_its_functions():
    example = named_block(DOCS / "python.rst", "python-app-example")
    namespace: dict[str, object] = {}
    exec(compile(example, "docs/python.rst", "exec"), namespace)
    app = namespace["app"]
    assert isinstance(app, firefly.Firefly)
    client = app.test_client()
    headers = {"Authorization": "Token abcd1234"}
    assert client.post("/square", json={"n": 4}, headers=headers).get_json() == 16
    assert client.post("/math/add", json={"a": 1, "b": 2}, headers=headers).get_json() == 3
    assert client.post("/cube", json={"n": 2}, headers=headers).get_json() == 8
    listed = client.get("/", headers=headers).get_json()["functions"]
    assert set(listed) == {"square", "plus", "cube"}


# The answers docs/protocol.rst shows are those of examples/funcs.py


def named_block(page: Path, name: str) -> str:
    """The content of the code block of ``page`` with ``:name: name``."""
    (content,) = [
        content
        for _, options, content in directive_blocks(read(page), CODE_DIRECTIVE)
        if options.get("name") == name
    ]
    return content


def console_calls(block: str) -> list[tuple[list[str], str]]:
    """Each ``$ command`` of a console block, split into words, with the output shown after it."""
    calls: list[tuple[list[str], list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            calls.append((shlex.split(line.removeprefix("$ ")), []))
        else:
            calls[-1][1].append(line)
    return [(words, "\n".join(output)) for words, output in calls]


def curl_posts(block: str) -> list[tuple[str, str, str]]:
    """Each ``$ curl -d BODY URL`` of a console block: path, body, and the output shown."""
    posts = []
    for words, output in console_calls(block):
        assert words[:2] == ["curl", "-d"] and len(words) == 4, words
        posts.append(("/" + words[3].split("/", 3)[3], words[2], output))
    return posts


def load_example_funcs() -> types.ModuleType:
    """examples/funcs.py, under a name of its own (tests/apps has a ``funcs`` module too)."""
    spec = importlib.util.spec_from_file_location("docs_example_funcs", EXAMPLES / "funcs.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def examples_client():
    app = firefly.Firefly()
    funcs = load_example_funcs()
    app.function(funcs.square)
    return app.test_client()


def documented_422s() -> list[tuple[str, str, str]]:
    page = DOCS / "protocol.rst"
    return [
        post
        for name in ("protocol-error-example", "protocol-422-examples")
        for post in curl_posts(named_block(page, name))
    ]


def without_request_id(body: dict[str, object]) -> dict[str, object]:
    assert re.fullmatch("[0-9a-f]{32}", str(body["request_id"])), body
    return {key: value for key, value in body.items() if key != "request_id"}


@pytest.mark.parametrize(("path", "body", "output"), documented_422s())
def test_the_protocol_422_bodies_are_the_real_answers(examples_client, path, body, output):
    response = examples_client.post(
        path, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 422
    assert without_request_id(response.get_json()) == without_request_id(json.loads(output))


def test_the_protocol_table_shows_real_422_messages(examples_client):
    (row,) = [
        row for row in list_table_rows(read(DOCS / "protocol.rst")) if row.startswith("``422``")
    ]
    messages = re.findall(r"``(square\(\).+?)``", " ".join(row.split()))
    assert len(messages) == 2
    answers = {json.loads(output)["error"] for _, _, output in documented_422s()}
    assert set(messages) <= answers


def test_the_protocol_integer_examples_are_the_real_answers(examples_client):
    posts = curl_posts(named_block(DOCS / "protocol.rst", "protocol-integer-examples"))
    assert len(posts) == 2
    for path, body, output in posts:
        response = examples_client.post(path, data=body)
        assert (response.status_code, response.get_data(as_text=True)) == (200, output)


def test_the_protocol_table_shows_the_real_integer_and_parts_messages():
    app = firefly.Firefly()
    app.function(load_example_funcs().square)
    app.add_route("/greet", lambda **parts: len(parts), "greet")
    client = app.test_client()
    too_long = client.post("/square", data=b'{"n": 1%s}' % (b"0" * 4300)).get_json()["error"]
    parts = {f"k{i}": "v" for i in range(1001)}
    too_many = client.post("/greet", data=parts, content_type="multipart/form-data")
    assert too_many.status_code == 413
    table = " ".join(" ".join(list_table_rows(read(DOCS / "protocol.rst"))).split())
    assert f"``{too_long}``" in table
    assert f"``{too_many.get_json()['error']}``" in table
    numbers = " ".join(read(DOCS / "protocol.rst").split())
    assert f"gets ``400`` ``{too_long}``" in numbers


def declared_test_requires() -> list[str]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    (assignment,) = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "TEST_REQUIRES"
    ]
    return ast.literal_eval(assignment.value)


def test_docutils_is_a_test_requirement():
    names = {
        re.split(r"[<>=!~\[ ;]", requirement)[0].lower() for requirement in declared_test_requires()
    }
    assert "docutils" in names
    import docutils.core  # installed with the test requirements: the README test never skips

    assert docutils.core.publish_doctree
