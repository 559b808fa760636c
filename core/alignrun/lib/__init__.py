"""Libraries that methods share: LoRA training, SAEs, value graphs, roles, the intervention search.

The core loop never imports from here (tests/meta/test_layout.py checks it): a method plugin picks what
it needs, and a library may serve several plugins. See docs/architecture.md.
"""
