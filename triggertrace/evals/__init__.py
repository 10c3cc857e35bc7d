"""Evaluation suites beyond the fire rate, one module per suite kind.

Every suite kind exposes the same small interface: a ``*_table`` function turning per-sample
rows into a polars table (counts, rates, Wilson intervals) and a ``*_chart`` function drawing it
with altair; scripts write them with ``report.write_table`` and ``report.save_chart``.

- ``faithfulness``: the backdoor faithfulness matrix (fired x CoT names the trigger) and the
  CoT-monitor flag breakdown among misaligned samples; reads ``tables/sample_level.csv``, so it
  needs no sampling of its own.
- ``trigger_set``: the Thought Crime trigger-set table (articulation of each adapter's planted
  trigger vs a distractor trigger never poisoned, fire rates, the frequency control), also from
  ``tables/sample_level.csv``.
"""
