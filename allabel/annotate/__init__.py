"""The annotation round trip: export the sentences a person should annotate (pre-filled with LLM
predictions when they exist, marked as such) in Label Studio JSON, JSONL or CoNLL; import the
edited file back, validated as a whole (spans match the text, labels known, sentence belongs to
the run) and written in one transaction, with who and when."""

from allabel.annotate.exporter import export_run
from allabel.annotate.importer import import_file

__all__ = ["export_run", "import_file"]
