"""Fasciculation detection: voluntary-activity exclusion, artefacts, FPs and their features."""
