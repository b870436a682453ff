"""The Label Studio labeling config for a dataset: a Text object and one Labels control whose
names match what export writes and import reads (``label`` → ``text``), one Label per dataset
label (its description as the hint)."""

from __future__ import annotations

from xml.sax.saxutils import quoteattr

from allabel.formats.writers import FROM_NAME, TO_NAME


def label_config(labels: list[tuple[str, str | None]]) -> str:
    """``labels``: (name, description) pairs."""
    items = "\n".join(
        f"    <Label value={quoteattr(name)}" + (f" hint={quoteattr(desc)}" if desc else "") + "/>"
        for name, desc in labels)
    return (f"<View>\n  <Labels name=\"{FROM_NAME}\" toName=\"{TO_NAME}\">\n{items}\n  </Labels>\n"
            f"  <Text name=\"{TO_NAME}\" value=\"$text\"/>\n</View>\n")
