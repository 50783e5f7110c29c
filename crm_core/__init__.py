"""crm_core: the analytics engine of the CRM dashboard (no Streamlit here).

Data flows one way: ``ingest`` -> canonical LazyFrames -> ``customers.summarize``
-> kpis / portfolio / segmentation / clv / retention -> charts / export.
"""
