import datetime as dt, sys, time, ibis, polars as pl
sys.path.insert(0, "tests")
from polars.testing import assert_frame_equal
from crm_core.engines import Warehouse, WarehouseSource
from crm_core.customers import summarize
from crm_core.kpis import kpi_comparison, kpi_trend
from crm_core.ingest import read_orders
from crm_core.rfm import rfm
from crm_core.portfolio import assign_tiers, tier_summary
D=dt.date
tx = read_orders("tests/data/cdnow_sample.csv")[0].collect()
which = sys.argv[1]
t0=time.time()
if which == "pg":
    from pg_cluster import PostgresCluster, load_frame
    cl = PostgresCluster(); uri = cl.start(); load_frame(uri, "cdnow", tx)
    w = Warehouse(WarehouseSource(uri, table="cdnow"))
else:
    from pyspark.sql import SparkSession
    spark = SparkSession.builder.master("local[2]").config("spark.sql.session.timeZone","UTC").config("spark.ui.enabled","false").getOrCreate()
    con = ibis.pyspark.connect(spark)
    print("spark up", time.time()-t0)
    con.create_table("cdnow", tx)
    w = Warehouse(WarehouseSource("local[2]", table="cdnow"), backend=con)
print("loaded", time.time()-t0)
s = summarize(tx.lazy()).collect()
assert_frame_equal(w.customer_summary(), s, check_exact=False); print("summary ok", time.time()-t0)
assert_frame_equal(w.rfm_scores(), rfm(tx.lazy())); print("rfm ok")
assert_frame_equal(w.tier_summary(), tier_summary(assign_tiers(s)), check_exact=False); print("tiers ok")
assert_frame_equal(w.kpi_comparison(D(1997,7,1), D(1998,6,30)), kpi_comparison(tx.lazy(), D(1997,7,1), D(1998,6,30)), check_exact=False)
assert_frame_equal(w.kpi_trend(D(1997,1,1), D(1998,6,30), "week"), kpi_trend(tx.lazy(), D(1997,1,1), D(1998,6,30), "week"), check_exact=False)
print("kpis ok")
print(w.totals()); print(w.clv_counts(D(1997,9,30)).height); print(w.rows(customer_id="1", limit=3)); print(w.all_rows().height)
print("total", time.time()-t0)
if which == "pg": cl.stop()
