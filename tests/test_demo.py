"""The demo generator: deterministic, canonical, realistic, and the CLI writes it."""
from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from crm_core.__main__ import main
from crm_core.customers import summarize
from crm_core.dataset import load_dataset
from crm_core.demo import (
    ACQUISITION_CHANNELS,
    CATEGORIES,
    CSV_COLUMNS,
    DISCOUNT_CODES,
    LINES_PER_CUSTOMER,
    NOT_GENERATED,
    END_DATE,
    PRODUCTS,
    REGIONS,
    SALES_CHANNELS,
    START_DATE,
    generate,
    write_orders_csv,
    write_transactions_csv,
)
from crm_core.schema import SIDE_TABLE_SCHEMAS, TRANSACTION_SCHEMA, C

ROOT = Path(__file__).resolve().parent.parent
TABLES = ("transactions", "customers", "interactions", "marketing_spend")


@pytest.fixture(scope="module")
def demo() -> dict[str, pl.DataFrame]:
    dataset = generate(5000, 7)
    return {kind: getattr(dataset, kind).collect() for kind in TABLES}


@pytest.fixture(scope="module")
def summary(demo) -> pl.DataFrame:
    return summarize(demo["transactions"].lazy()).collect()


# --- determinism -----------------------------------------------------------------

def test_same_seed_gives_identical_tables():
    first, second = generate(300, 11), generate(300, 11)
    for kind in TABLES:
        assert_frame_equal(getattr(first, kind).collect(), getattr(second, kind).collect())


def test_other_seed_gives_other_data():
    first, second = generate(300, 11), generate(300, 12)
    assert not first.transactions.collect().equals(second.transactions.collect())


def test_cli_twice_writes_byte_identical_files(tmp_path):
    for name in ("a", "b"):
        assert main(["demo", "--customers", "300", "--seed", "3", "--out", str(tmp_path / name)]) == 0
    for kind in TABLES:
        assert (tmp_path / "a" / f"{kind}.parquet").read_bytes() == (tmp_path / "b" / f"{kind}.parquet").read_bytes()


def test_shipped_demo_is_what_make_demo_generates(demo):
    shipped = load_dataset(ROOT / "data" / "demo")
    for kind in TABLES:
        assert_frame_equal(getattr(shipped, kind).collect(), demo[kind])
    total = sum(path.stat().st_size for path in (ROOT / "data" / "demo").glob("*.parquet"))
    assert total < 5 * 1024 * 1024
    assert "--customers 5000 --seed 7 --out data/demo" in (ROOT / "Makefile").read_text()


# --- schema ----------------------------------------------------------------------

def test_every_table_has_the_canonical_schema(demo):
    generated = {name: dtype for name, dtype in TRANSACTION_SCHEMA.items() if name not in NOT_GENERATED}
    assert dict(demo["transactions"].schema) == generated
    for kind, schema in SIDE_TABLE_SCHEMAS.items():
        assert dict(demo[kind].schema) == schema


def test_no_nulls_and_dates_inside_the_window(demo):
    for kind in TABLES:  # an order without a discount code has none: the one column with nulls
        assert demo[kind].drop(C.DISCOUNT_CODE, strict=False).null_count().sum_horizontal().item() == 0
    tx = demo["transactions"]
    assert tx[C.ORDER_DATE].min() >= START_DATE
    assert tx[C.ORDER_DATE].max() <= END_DATE
    assert demo["interactions"]["interaction_date"].max() <= END_DATE


def test_products_and_codes_come_from_the_documented_sets(demo):
    tx = demo["transactions"]
    by_category = tx.group_by(C.CATEGORY).agg(pl.col(C.PRODUCT).unique())
    for category, names in by_category.iter_rows():
        assert set(names) == set(PRODUCTS[CATEGORIES.index(category)])
    assert tx.select(pl.col(C.PRODUCT), pl.col(C.SKU)).unique().height == 4 * len(CATEGORIES)
    assert set(tx[C.DISCOUNT_CODE].drop_nulls()) == set(DISCOUNT_CODES)
    assert 0.05 < tx[C.DISCOUNT_CODE].is_not_null().mean() < 0.3
    orders = tx.unique([C.ORDER_ID]).sort([C.ORDER_DATE, C.ORDER_ID])
    first_orders = orders.unique(C.CUSTOMER_ID, keep="first")[C.ORDER_ID]
    welcome = orders.filter(pl.col(C.DISCOUNT_CODE) == "WELCOME10")[C.ORDER_ID]
    assert welcome.is_in(first_orders.implode()).all()  # the welcome code only on first orders
    assert tx.group_by(C.ORDER_ID).agg(pl.col(C.DISCOUNT_CODE).n_unique())["discount_code"].max() == 1


def test_labels_come_from_the_documented_sets(demo):
    tx = demo["transactions"]
    assert set(tx[C.CHANNEL].unique()) == set(SALES_CHANNELS)
    assert set(tx[C.REGION].unique()) == set(REGIONS) and len(REGIONS) == 5
    assert set(tx[C.CATEGORY].unique()) == set(CATEGORIES) and 6 <= len(CATEGORIES) <= 8
    assert set(demo["customers"]["acquisition_channel"].unique()) == set(ACQUISITION_CHANNELS)


def test_customer_ids_and_emails(demo):
    customers = demo["customers"]
    assert customers["customer_id"].is_unique().all()
    assert customers["customer_id"].str.contains(r"^C\d{6}$").all()
    assert customers["email"].is_unique().all()
    assert customers["email"].str.contains(r"^[a-z0-9.]+@example\.(com|org)$").all()


# --- realism ---------------------------------------------------------------------

def test_side_tables_join_on_customer_id(demo):
    known = demo["customers"].select("customer_id")
    tx_customers = demo["transactions"].select(C.CUSTOMER_ID).unique()
    contact_customers = demo["interactions"].select("customer_id").unique()
    assert tx_customers.join(known, on="customer_id", how="anti").height == 0
    assert contact_customers.join(known, on="customer_id", how="anti").height == 0
    assert tx_customers.height == known.height  # every customer bought at least once


def test_signup_precedes_first_order_and_region_matches(demo):
    first = demo["transactions"].group_by(C.CUSTOMER_ID).agg(
        pl.col(C.ORDER_DATE).min().alias("first"), pl.col(C.REGION).n_unique().alias("regions"), pl.col(C.REGION).first()
    )
    joined = first.join(demo["customers"], on="customer_id", suffix="_customer")
    assert (joined["signup_date"] <= joined["first"]).all()
    assert (joined["regions"] == 1).all()
    assert (joined[C.REGION] == joined["region_customer"]).all()


def test_revenue_is_concentrated_like_real_portfolios(summary):
    revenue = summary["revenue"].sort(descending=True)
    top_share = revenue.head(len(revenue) // 5).sum() / revenue.sum()
    assert 0.50 <= top_share <= 0.85


def test_repeat_buying_is_heterogeneous(summary):
    one_timers = (summary["orders"] == 1).mean()
    assert 0.15 <= one_timers <= 0.5
    assert summary["orders"].max() >= 20
    assert summary["orders"].mean() > 3


def test_returns_are_three_to_five_percent_of_orders(demo):
    tx = demo["transactions"]
    returned_orders = tx.filter(pl.col(C.AMOUNT) < 0)[C.ORDER_ID].n_unique()
    assert 0.03 <= returned_orders / tx[C.ORDER_ID].n_unique() <= 0.05


def test_returns_follow_their_order(demo):
    tx = demo["transactions"]
    sales = tx.filter(pl.col(C.AMOUNT) > 0).group_by(C.ORDER_ID).agg(
        pl.col(C.CUSTOMER_ID).first().alias("buyer"), pl.col(C.ORDER_DATE).min().alias("bought")
    )
    returns = tx.filter(pl.col(C.AMOUNT) < 0).join(sales, on=C.ORDER_ID, how="left")
    assert returns["buyer"].null_count() == 0
    assert (returns["buyer"] == returns[C.CUSTOMER_ID]).all()
    assert (returns[C.ORDER_DATE] > returns["bought"]).all()
    assert (returns[C.QUANTITY] < 0).all() and (returns[C.COST] <= 0).all()


def test_each_order_belongs_to_one_customer_and_date(demo):
    sales = demo["transactions"].filter(pl.col(C.AMOUNT) > 0)
    per_order = sales.group_by(C.ORDER_ID).agg(pl.col(C.CUSTOMER_ID).n_unique(), pl.col(C.ORDER_DATE).n_unique())
    assert (per_order[C.CUSTOMER_ID] == 1).all() and (per_order[C.ORDER_DATE] == 1).all()
    assert (sales.group_by(C.ORDER_ID).len()["len"] > 1).any()  # multi-line baskets exist


def test_no_exact_duplicate_rows(demo):
    assert demo["transactions"].is_duplicated().sum() == 0


def test_cost_is_55_to_70_percent_of_amount(demo):
    sales = demo["transactions"].filter(pl.col(C.AMOUNT) >= 5)  # cents rounding dominates tiny lines
    ratio = sales[C.COST] / sales[C.AMOUNT]
    assert ratio.min() >= 0.545 and ratio.max() <= 0.705


def test_quantities_are_positive_whole_numbers_on_sales(demo):
    sales = demo["transactions"].filter(pl.col(C.AMOUNT) > 0)
    assert (sales[C.QUANTITY] >= 1).all() and (sales[C.QUANTITY] == sales[C.QUANTITY].round()).all()


def test_most_invoices_are_paid_on_time(demo):
    late = demo["transactions"][C.DAYS_LATE]
    assert (late >= 0).all()
    assert 0.01 <= (late > 0).mean() <= 0.15
    assert late.max() >= 30


def test_some_customers_are_omnichannel_and_cross_buy(summary):
    assert 0.1 <= (summary["channels"] > 1).mean() <= 0.6
    assert (summary["categories"] >= 3).mean() >= 0.2


def test_cac_differs_by_channel(demo):
    acquired = demo["customers"].group_by("acquisition_channel").len()
    spend = demo["marketing_spend"].group_by("channel").agg(pl.col("spend").sum())
    cac = acquired.join(spend, left_on="acquisition_channel", right_on="channel").with_columns(
        (pl.col("spend") / pl.col("len")).alias("cac")
    )
    assert cac.height == len(ACQUISITION_CHANNELS)
    assert cac["cac"].max() / cac["cac"].min() > 3


def test_marketing_spend_is_monthly_per_channel(demo):
    spend = demo["marketing_spend"]
    assert spend.height == 36 * len(ACQUISITION_CHANNELS)
    assert (spend["month"].dt.day() == 1).all()
    assert (spend["spend"] > 0).all()
    assert spend.select(pl.struct("month", "channel").is_unique().all()).item()


def test_interactions_are_plausible_and_follow_returns(demo, summary):
    contacts = demo["interactions"]
    assert set(contacts["channel"].unique()) == {"Email", "Phone", "Chat"}
    assert contacts["csat"].is_between(1, 5).all() and (contacts["csat"] == contacts["csat"].round()).all()
    assert (contacts["cost"] > 0).all()
    per_customer = contacts.group_by("customer_id").len()
    assert per_customer["len"].max() >= 10  # some customers are costly to serve
    joined = summary.join(per_customer, on="customer_id", how="left").with_columns(pl.col("len").fill_null(0))
    with_returns = joined.filter(pl.col("return_lines") > 0)["len"].mean()
    without = joined.filter(pl.col("return_lines") == 0)["len"].mean()
    assert with_returns > 2 * without
    complaints = contacts.filter(pl.col("reason") == "Complaint")["csat"].mean()
    assert complaints < contacts["csat"].mean() - 0.5


# --- CSV for benchmarks and the CLI ------------------------------------------------

def test_orders_csv_has_export_headers_and_the_generated_rows(tmp_path):
    path = tmp_path / "orders.csv"
    rows = write_orders_csv(path, 2000, seed=5)
    frame = pl.read_csv(path, try_parse_dates=True)
    assert tuple(frame.columns) == CSV_COLUMNS
    assert frame.height == rows
    assert 1600 <= rows <= 2400
    expected = generate(round(2000 / LINES_PER_CUSTOMER), 5).transactions.select(CSV_COLUMNS).collect()
    key = [C.ORDER_ID, C.CATEGORY, C.AMOUNT, C.ORDER_DATE]
    got = frame.with_columns(pl.col(C.QUANTITY).cast(pl.Float64)).sort(key)
    assert_frame_equal(got, expected.sort(key), check_dtypes=False)


def test_gzip_csv_is_deterministic_and_readable(tmp_path):
    first, second = tmp_path / "a.csv.gz", tmp_path / "b.csv.gz"
    write_transactions_csv(first, 100, seed=1)
    write_transactions_csv(second, 100, seed=1)
    assert first.read_bytes() == second.read_bytes()
    assert gzip.decompress(first.read_bytes()).decode().startswith(",".join(CSV_COLUMNS) + "\n")


def test_cli_writes_the_parquet_folder(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--customers", "150", "--seed", "2", "--out", str(out), "--json"]) == 0
    assert sorted(path.name for path in out.iterdir()) == sorted(f"{kind}.parquet" for kind in TABLES)
    loaded = load_dataset(out)
    assert loaded.customers.collect().height == 150
    assert '"customers_rows": 150' in capsys.readouterr().out


def test_cli_writes_csv_when_the_path_ends_in_csv(tmp_path):
    out = tmp_path / "export.csv"
    assert main(["demo", "--customers", "50", "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == ",".join(CSV_COLUMNS)


def test_cli_rejects_a_bad_customer_count(tmp_path, capsys):
    assert main(["demo", "--customers", "0", "--out", str(tmp_path / "x")]) == 2
    assert "at least 1" in capsys.readouterr().err
