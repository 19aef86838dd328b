"""The output contract: unique names, the documented columns match the written ones."""

from pathlib import Path

from mien import schema


def test_column_names_are_unique_and_groups_complete():
    names = [c.name for c in schema.columns(mesh=True, blendshapes=True)]
    assert len(names) == len(set(names))
    assert len(schema.columns()) == 6 + 4 + 136 + 6 + 2 + 2 + 40 + 9 + 3


def test_docs_columns_md_is_generated_from_the_schema():
    docs = Path(__file__).parent.parent / "docs" / "columns.md"
    assert docs.read_text() == schema.markdown() + "\n", "run: python -m mien.schema > docs/columns.md"
