"""The example at the top of emr-py/README.md runs as written."""
import pathlib
import re


def test_the_package_readme_example_runs():
    readme = pathlib.Path(__file__).resolve().parent.parent / "emr-py" / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(encoding="utf-8"), re.S)
    assert blocks, "emr-py/README.md has no python example"
    namespace = {}
    exec(compile(blocks[0], str(readme), "exec"), namespace)
    block = namespace["block"]
    assert block.height == 0 and len(block.records) == 1
    assert namespace["changes"]
