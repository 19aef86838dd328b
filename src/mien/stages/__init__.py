"""Per-frame perception stages: each reads some fields of Faces and fills others."""
