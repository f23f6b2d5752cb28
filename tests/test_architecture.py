"""The architecture of docs/architecture.md holds: import-linter's contracts (pyproject.toml), and
what import-linter cannot see (an attribute such as jax.lax.scan reached through `import jax`)."""
import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "layerlab"
LINES_WITHOUT_A_REASON = 300


def test_import_contracts_are_kept():
    code = ("import sys; from importlinter.cli import lint_imports; "
            f"sys.exit(lint_imports(config_filename={str(ROOT / 'pyproject.toml')!r}, no_cache=True, no_logo=True))")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout and "Contracts: 6 kept, 0 broken." in done.stdout, done.stdout[-2000:]


def _uses_lax(tree):
    """Lines where a module reaches jax.lax: `jax.lax...`, `from jax import lax`, `import jax.lax`."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "lax" and isinstance(node.value, ast.Name) \
                and node.value.id == "jax":
            lines.append(node.lineno)
        elif isinstance(node, ast.ImportFrom) and node.module and (
                node.module.startswith("jax.lax") or (node.module == "jax" and any(a.name == "lax" for a in node.names))):
            lines.append(node.lineno)
        elif isinstance(node, ast.Import) and any(a.name.startswith("jax.lax") for a in node.names):
            lines.append(node.lineno)
    return lines


def test_the_engine_and_the_convolution_are_the_only_users_of_jax_lax():
    # nn.py: XLA's own convolution for a convolution's input gradient, and lax.map over variants
    # (docs/architecture.md); nothing else there is control flow.
    users = {str(path.relative_to(SRC)): _uses_lax(ast.parse(path.read_text(encoding="utf-8")))
             for path in SRC.rglob("*.py")}
    assert {p for p, lines in users.items() if lines} == {"engine/program.py", "nn.py"}, users


def test_the_lax_check_sees_each_way_of_reaching_it():
    for text in ("import jax\njax.lax.scan(f, 0, xs)", "from jax import lax", "import jax.lax", "from jax.lax import scan"):
        assert _uses_lax(ast.parse(text)) == [text.count("\n") + 1], text
    assert _uses_lax(ast.parse("import jax\njax.numpy.sum(x)")) == []


def test_modules_stay_short_or_say_why():
    long = []
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        doc = ast.get_docstring(ast.parse(text)) or ""
        if text.count("\n") > LINES_WITHOUT_A_REASON and "longer than" not in doc:
            long.append(f"{path.relative_to(SRC)} ({text.count(chr(10))} lines)")
    assert not long, f"over {LINES_WITHOUT_A_REASON} lines without 'longer than ...' and a reason in the docstring: {long}"
