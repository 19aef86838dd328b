"""Pictures of results: annotated video, plots, and self-contained HTML reports."""
