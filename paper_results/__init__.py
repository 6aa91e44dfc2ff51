"""Our results in the layout of the papers' tables and figures: results tables, seed summaries, curves.

They read what the recipes wrote (results.json, decodings, experiment dirs) and put it beside the numbers of
the Adapt-and-Adjust and meta-transfer papers; nothing in the espnet_ext package imports them.  Installed
beside espnet_ext by setup.py, so ``python -m paper_results.<module> ...`` runs from any directory (the
recipes' last stages call them from egs/*/asr1).  See docs/package_layout.md.
"""
