"""`make bench`: speed and memory of crm_core against baselines in the same run."""
