"""The Python examples in docs/python.md marked <!-- test --> run as written."""
import re

from conftest import REPO_ROOT

DOC = REPO_ROOT / 'docs' / 'python.md'
BLOCK = re.compile(r'^<!-- test -->\n```python\n(.*?)^```$', re.M | re.S)


def test_doc_examples_run(tmp_path, monkeypatch):
    blocks = BLOCK.findall(DOC.read_text(encoding='utf-8'))
    assert len(blocks) >= 3
    monkeypatch.chdir(tmp_path)  # the examples use relative 'cache/...' directories
    for code in blocks:
        exec(compile(code, str(DOC), 'exec'), {'__name__': 'docs_python_md'})
