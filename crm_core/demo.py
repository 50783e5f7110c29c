"""Deterministic, realistic synthetic portfolio (the demo and benchmark data).

The generator simulates three years of a mid-sized retailer:

* customers are acquired month by month (growing, with a Nov/Dec peak)
  through six acquisition channels, each with its own cost per acquisition
  and its own customer quality (marketplace buyers rarely come back,
  referred customers stay longer);
* repeat buying follows the BG/NBD story: each customer buys at their own
  gamma-distributed rate (seasonally modulated) and, after each purchase,
  drops out with their own beta-distributed probability;
* order values follow the gamma-gamma story: each customer has a
  heavy-tailed mean spend and order values vary around it;
* orders have 1-5 lines in product categories the customer prefers (each
  customer favours a main category and its natural companions, so
  cross-sell analysis finds patterns), a sales channel (a few customers are
  omni-channel), cost of goods, invoice lateness for business accounts and
  some returns (negative lines sharing the order id);
* each line names a product of its category (loyal customers favour each
  category's best seller) and orders may carry a discount code (deal
  seekers, who churn faster, more often start with WELCOME10); both are
  drawn after everything else, so the other columns do not depend on them;
* support contacts follow orders and returns; a few "high-friction"
  customers call a lot, rate service lower and churn faster.

Everything is vectorised with numpy: customers are processed in fixed-size
chunks (each chunk with its own seeded random stream), so the output does
not depend on memory and 10M order lines stream to CSV in constant memory.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import gzip
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterator

import numpy as np
import polars as pl

from crm_core.dataset import Dataset
from crm_core.schema import (
    CUSTOMER_SCHEMA,
    INTERACTION_SCHEMA,
    MARKETING_SPEND_SCHEMA,
    TRANSACTION_SCHEMA,
    C,
)

#: Last day of the simulated history (fixed so the output is deterministic).
END_DATE = dt.date(2026, 9, 30)
#: First day: three years before END_DATE.
START_DATE = dt.date(2023, 10, 1)
MONTHS = 36
#: Customers per random-stream chunk. Part of the output's definition: changing it changes the data.
CHUNK_CUSTOMERS = 20_000

ACQUISITION_CHANNELS = ("Paid search", "Social", "Email", "Referral", "Organic", "Marketplace")
_ACQ_SHARE = np.array([0.26, 0.16, 0.10, 0.12, 0.24, 0.12])
#: Marketing cost per acquired customer (CAC) by acquisition channel.
_ACQ_CAC = np.array([58.0, 42.0, 14.0, 26.0, 9.0, 31.0])
#: Customer quality by acquisition channel: purchase-rate and dropout multipliers, spend multiplier.
_ACQ_RATE = np.array([1.00, 0.80, 1.25, 1.20, 1.10, 0.65])
_ACQ_DROPOUT = np.array([1.00, 1.35, 0.80, 0.70, 0.90, 1.60])
_ACQ_SPEND = np.array([1.00, 0.85, 1.00, 1.15, 1.05, 0.80])

REGIONS = ("North", "South", "East", "West", "Central")
_REGION_SHARE = np.array([0.24, 0.22, 0.20, 0.20, 0.14])
_REGION_SPEND = np.array([1.00, 0.90, 1.05, 1.12, 0.95])

SALES_CHANNELS = ("Web", "Mobile app", "Store", "Phone")
_SALES_SHARE = np.array([0.45, 0.30, 0.18, 0.07])
_SALES_SHARE_BUSINESS = np.array([0.45, 0.05, 0.10, 0.40])

CATEGORIES = (
    "Electronics", "Home & Kitchen", "Clothing", "Beauty",
    "Sports & Outdoors", "Books", "Toys & Games",
)
_CATEGORY_SHARE = np.array([0.16, 0.20, 0.22, 0.12, 0.12, 0.10, 0.08])
#: Typical unit price by category (drives quantity) and cost of goods as a share of the amount.
_CATEGORY_UNIT_PRICE = np.array([120.0, 35.0, 30.0, 18.0, 45.0, 14.0, 25.0])
_CATEGORY_COST_RATIO = np.array([0.70, 0.60, 0.55, 0.57, 0.63, 0.66, 0.62])
_CATEGORY_RETURN = np.array([1.3, 0.8, 2.0, 0.6, 1.0, 0.4, 0.7])
#: Categories bought together (row: main category, columns: extra Dirichlet weight).
_CATEGORY_AFFINITY = np.array([
    [0, 0.6, 0, 0, 0.3, 0, 0.5],     # Electronics -> Home, Toys
    [0.4, 0, 0, 0.5, 0, 0.4, 0],     # Home & Kitchen -> Beauty, Books, Electronics
    [0, 0, 0, 0.9, 0.7, 0, 0],       # Clothing -> Beauty, Sports
    [0, 0.4, 0.9, 0, 0, 0, 0],       # Beauty -> Clothing, Home
    [0.3, 0, 0.9, 0, 0, 0, 0],       # Sports -> Clothing, Electronics
    [0, 0.3, 0, 0, 0, 0, 0.8],       # Books -> Toys, Home
    [0.4, 0, 0, 0, 0, 0.8, 0],       # Toys -> Books, Electronics
])

#: Four products per category (same order as CATEGORIES); the first is the category's best seller.
PRODUCTS = (
    ("Wireless Earbuds", "Smart Speaker", "Phone Charger", "4K Monitor"),
    ("Chef's Knife", "Coffee Grinder", "Linen Sheets", "Cast Iron Pan"),
    ("Rain Shell Jacket", "Merino T-Shirt", "Denim Jeans", "Wool Socks"),
    ("Face Serum", "Hand Cream", "Lip Balm", "Shampoo Bar"),
    ("Trail Running Shoes", "Yoga Mat", "Water Bottle", "Camping Stove"),
    ("Cookbook", "Travel Guide", "Thriller Novel", "Children's Atlas"),
    ("Board Game", "Building Blocks", "Jigsaw Puzzle", "Plush Bear"),
)
#: Product choice within a category: loyal customers (low dropout) favour the best seller.
_PRODUCT_SHARE = np.array([0.30, 0.30, 0.25, 0.15])
_PRODUCT_SHARE_LOYAL = np.array([0.55, 0.20, 0.15, 0.10])
_LOYAL_DROPOUT = 0.08
DISCOUNT_CODES = ("WELCOME10", "BLACKFRIDAY", "SAVE15")

CONTACT_CHANNELS = ("Email", "Phone", "Chat")
_CONTACT_COST = np.array([4.5, 8.5, 3.0])
CONTACT_REASONS = (
    "Delivery question", "Product question", "Billing", "Account / login", "Complaint", "Return / refund",
)
_ORDER_REASON_SHARE = np.array([0.42, 0.25, 0.10, 0.10, 0.13])  # contacts not caused by a return
_REASON_CSAT = np.array([3.9, 4.2, 3.6, 3.9, 2.3, 3.4])

_FIRST_NAMES = (
    "Anna", "Ben", "Chloé", "David", "Emma", "Farid", "Grace", "Hugo", "Ines", "Jack", "Kenji", "Laura",
    "Mateo", "Nora", "Oliver", "Priya", "Quentin", "Rosa", "Samuel", "Tara", "Umar", "Valentina",
    "William", "Xin", "Yasmin", "Zoë", "Liam", "Sofia", "Noah", "Mia", "Lucas", "Amelia", "Ethan",
    "Aisha", "Leo", "Hannah", "Mohammed", "Julia", "Oscar", "Elena",
)
_LAST_NAMES = (
    "Smith", "Müller", "García", "Johnson", "Rossi", "Nguyen", "O'Brien", "Kowalski", "Dubois", "Silva",
    "Brown", "Jensen", "Novak", "Khan", "Tanaka", "Martin", "Andersson", "Fischer", "Lopez", "Taylor",
    "Moreau", "Costa", "Schmidt", "Wilson", "Patel", "Kim", "Virtanen", "Horvat", "Jones", "Walker",
)
_COMPANY_SUFFIXES = ("Ltd", "GmbH", "Group", "Trading", "Supplies", "Partners")

#: Average order lines per customer the simulation produces (sizes write_orders_csv).
LINES_PER_CUSTOMER = 9.7

#: Column names of the CSV export (as an order system would label them).
CSV_COLUMNS = (C.CUSTOMER_ID, C.ORDER_ID, C.ORDER_DATE, C.AMOUNT, C.QUANTITY, C.CHANNEL, C.REGION, C.CATEGORY, C.COST)


@dataclass(frozen=True)
class _Customers:
    """Customer-level draws made once for the whole portfolio (all arrays of length n)."""

    signup_day: np.ndarray       # days since START_DATE
    acquisition: np.ndarray      # index into ACQUISITION_CHANNELS
    region: np.ndarray           # index into REGIONS
    business: np.ndarray         # bool: B2B account paying on invoice
    id_width: int

    @property
    def count(self) -> int:
        return len(self.signup_day)


def _days() -> int:
    return (END_DATE - START_DATE).days + 1


def _month_starts() -> np.ndarray:
    """Day offsets (from START_DATE) of the first day of each of the 36 months, plus the end."""
    starts = np.arange(np.datetime64(START_DATE, "M"), np.datetime64(START_DATE, "M") + MONTHS + 1)
    return (starts.astype("datetime64[D]") - np.datetime64(START_DATE)).astype(np.int64)


def _calendar_month(index: np.ndarray) -> np.ndarray:
    """Calendar month (1-12) of month index 0..35."""
    return (START_DATE.month - 1 + index) % 12 + 1


def _acquisition_mix() -> np.ndarray:
    """Monthly acquisition-channel shares (36 x 6): social grows, paid search fades."""
    trend = np.linspace(0.0, 1.0, MONTHS)[:, None]
    drift = np.array([-0.35, 0.70, 0.0, 0.10, 0.15, 0.25])
    mix = _ACQ_SHARE * (1.0 + trend * drift)
    return mix / mix.sum(axis=1, keepdims=True)


def _monthly_acquisition_weights() -> np.ndarray:
    """Share of all customers acquired in each month: growth plus a Nov/Dec peak."""
    month = _calendar_month(np.arange(MONTHS))
    season = np.select([month == 11, month == 12, month == 1], [1.35, 1.45, 0.80], 1.0)
    weights = (1.0 + 0.6 * np.arange(MONTHS) / (MONTHS - 1)) * season
    return weights / weights.sum()


def _draw_customers(customers: int, seed: int) -> _Customers:
    rng = np.random.default_rng([seed, 0])
    month_weights = _monthly_acquisition_weights()
    month = np.sort(rng.choice(MONTHS, size=customers, p=month_weights))
    starts = _month_starts()
    signup_day = starts[month] + (rng.random(customers) * (starts[month + 1] - starts[month])).astype(np.int64)
    order = np.argsort(signup_day, kind="stable")
    signup_day, month = signup_day[order], month[order]
    acquisition = _pick(rng, _acquisition_mix()[month])
    region = rng.choice(len(REGIONS), size=customers, p=_REGION_SHARE)
    business = rng.random(customers) < 0.08
    return _Customers(signup_day, acquisition, region, business, max(6, len(str(customers))))


def _pick(rng: np.random.Generator, probabilities: np.ndarray) -> np.ndarray:
    """One categorical draw per row of ``probabilities`` (rows sum to 1)."""
    cumulative = np.cumsum(probabilities, axis=1)
    draws = rng.random(len(probabilities))[:, None]
    return np.minimum((draws > cumulative).sum(axis=1), probabilities.shape[1] - 1)


def _seasonality() -> np.ndarray:
    """Relative purchase intensity per day (mean 1): Black Friday to Christmas peak, January lull, weekends."""
    dates = np.datetime64(START_DATE) + np.arange(_days())
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64)
    weekday = (dates.astype(np.int64) + 3) % 7  # 0 = Monday
    season = 1.0 + 0.9 * np.exp(-(((day_of_year - 340) / 18.0) ** 2)) - 0.2 * np.exp(-(((day_of_year - 15) / 12.0) ** 2))
    season *= np.where(weekday >= 5, 1.12, 0.95)
    return season / season.mean()


def _group_offsets(counts: np.ndarray) -> np.ndarray:
    """Start index of each group in a flat array of groups of ``counts`` elements."""
    return np.concatenate(([0], np.cumsum(counts)[:-1]))


def _within_group_cumsum(values: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Cumulative sum restarting at each group (groups are contiguous)."""
    total = np.cumsum(values)
    before_group = np.concatenate(([0.0], total))[_group_offsets(counts)]
    return total - np.repeat(before_group, counts)


def _purchase_days(rng: np.random.Generator, first_day: np.ndarray, rate: np.ndarray, dropout: np.ndarray,
                   warp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BG/NBD repeat purchases after each customer's first purchase.

    A customer's purchases form a Poisson process (``rate`` per day, modulated by
    seasonality through the warped clock ``warp``) until they drop out after a
    purchase with probability ``dropout``. Returns (customer index, day) of the
    repeat purchases. Given N events in a window, the first K of N sorted
    uniforms are built from exponential spacings, so only K values are drawn.
    """
    window = warp[-1] - warp[first_day + 1]
    events = rng.poisson(rate * window)
    alive_for = rng.geometric(dropout) - 1  # purchases made before dropping out, after the first
    repeats = np.minimum(events, alive_for)
    owner = np.repeat(np.arange(len(first_day)), repeats)
    spacing = rng.exponential(size=int(repeats.sum()))
    partial = _within_group_cumsum(spacing, repeats)
    total = np.bincount(owner, weights=spacing, minlength=len(first_day))
    total += rng.gamma(events - repeats + 1.0)
    position = warp[first_day + 1][owner] + window[owner] * partial / total[owner]
    days = np.searchsorted(warp, position, side="right") - 1
    return owner, np.minimum(days, len(warp) - 2)


def _chunk_rng(seed: int, chunk: int) -> np.random.Generator:
    return np.random.default_rng([seed, 1, chunk])


def _chunks(population: _Customers) -> Iterator[tuple[int, slice]]:
    for chunk, start in enumerate(range(0, population.count, CHUNK_CUSTOMERS)):
        yield chunk, slice(start, min(start + CHUNK_CUSTOMERS, population.count))


def _simulate_chunk(population: _Customers, rows: slice, rng: np.random.Generator, first_order: int,
                    warp: np.ndarray) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """Order lines and support contacts of the customers in ``rows``.

    Returns (lines, contacts, orders) where lines/contacts are column arrays
    (customer as absolute index) and ``orders`` is the number of orders used.
    """
    n = rows.stop - rows.start
    customer = np.arange(rows.start, rows.stop)
    acquisition = population.acquisition[rows]
    business = population.business[rows]
    friction = rng.random(n) < 0.05  # costly-to-serve customers: many contacts, low CSAT, churn faster

    # Customer latent traits.
    rate = rng.gamma(0.85, 1.0 / 35.0, n) * _ACQ_RATE[acquisition] * np.where(business, 1.8, 1.0)
    dropout = rng.beta(0.8, 5.5, n) * _ACQ_DROPOUT[acquisition] * np.where(friction, 1.8, 1.0)
    dropout = np.clip(dropout, 0.003, 0.95)
    spend_rate = rng.gamma(3.2, 1.0 / 38.0, n)  # gamma-gamma: nu ~ Gamma(q, gamma)
    spend_scale = (_ACQ_SPEND[acquisition] * _REGION_SPEND[population.region[rows]]
                   * np.where(business, 2.8, 1.0) / spend_rate)
    return_propensity = rng.beta(1.3, 50.0, n) * np.where(rng.random(n) < 0.04, 5.0, 1.0)
    main_category = rng.choice(len(CATEGORIES), size=n, p=_CATEGORY_SHARE)
    preference_shape = (0.35 * _CATEGORY_SHARE * len(CATEGORIES) + 2.5 * np.eye(len(CATEGORIES))[main_category]
                        + _CATEGORY_AFFINITY[main_category])
    preference = rng.gamma(preference_shape)
    preference /= preference.sum(axis=1, keepdims=True)
    primary_channel = _pick(rng, np.where(business[:, None], _SALES_SHARE_BUSINESS, _SALES_SHARE))
    loyalty = np.where(rng.random(n) < 0.25, 0.35, 0.93)  # share of orders on the primary sales channel
    late_propensity = np.where(business, rng.beta(1.5, 2.5, n), np.where(rng.random(n) < 0.02, 0.3, 0.0))

    # Orders: the first purchase shortly after sign-up, then BG/NBD repeats.
    lag = np.where(rng.random(n) < 0.7, 0, rng.geometric(0.15, n))
    first_day = np.minimum(population.signup_day[rows] + lag, len(warp) - 2)
    repeat_owner, repeat_day = _purchase_days(rng, first_day, rate, dropout, warp)
    owner = np.concatenate((np.arange(n), repeat_owner))
    day = np.concatenate((first_day, repeat_day))
    chronological = np.lexsort((owner, day))
    owner, day = owner[chronological], day[chronological]
    orders = len(owner)
    order_number = first_order + np.arange(orders)
    order_value = rng.gamma(4.0, spend_scale[owner])
    sales_channel = np.where(rng.random(orders) < loyalty[owner], primary_channel[owner],
                             rng.choice(len(SALES_CHANNELS), size=orders, p=_SALES_SHARE))
    late = rng.random(orders) < late_propensity[owner]
    days_late = np.where(late, np.minimum(np.ceil(rng.gamma(1.2, 14.0, orders)), 120.0), 0.0)

    # Lines: 1-5 per order, amounts split the order value.
    line_count = np.minimum(1 + rng.poisson(0.5, orders), 5)
    line_order = np.repeat(np.arange(orders), line_count)
    lines = len(line_order)
    line_owner = owner[line_order]
    category = _pick(rng, preference[line_owner])
    share = rng.gamma(1.5, 1.0, lines) * np.sqrt(_CATEGORY_UNIT_PRICE[category])  # pricier categories, bigger lines
    share /= np.bincount(line_order, weights=share, minlength=orders)[line_order]
    amount = np.maximum(np.round(order_value[line_order] * share, 2), 0.5)
    unit_price = _CATEGORY_UNIT_PRICE[category] * rng.lognormal(0.0, 0.45, lines)
    quantity = np.clip(np.round(amount / unit_price), 1, 24)
    cost_ratio = np.clip(_CATEGORY_COST_RATIO[category] + rng.normal(0.0, 0.03, lines), 0.55, 0.70)
    cost = np.round(amount * cost_ratio, 2)

    # Returns: some lines come back 3-40 days later as negative lines of the same order.
    returned = rng.random(lines) < np.minimum(return_propensity[line_owner] * _CATEGORY_RETURN[category], 0.9)
    return_day = day[line_order] + 3 + rng.geometric(0.08, lines)
    returned &= return_day < len(warp) - 1
    back = np.flatnonzero(returned)
    returned_quantity = np.ceil(quantity[back] * rng.uniform(0.3, 1.0, len(back)))
    returned_share = returned_quantity / quantity[back]

    line_columns = {
        "customer": np.concatenate((customer[line_owner], customer[line_owner[back]])),
        "order": np.concatenate((order_number[line_order], order_number[line_order[back]])),
        "day": np.concatenate((day[line_order], return_day[back])),
        "amount": np.concatenate((amount, -np.round(amount[back] * returned_share, 2))),
        "quantity": np.concatenate((quantity, -returned_quantity)),
        "channel": np.concatenate((sales_channel[line_order], sales_channel[line_order[back]])),
        "region": population.region[customer[np.concatenate((line_owner, line_owner[back]))]],
        "category": np.concatenate((category, category[back])),
        "cost": np.concatenate((cost, -np.round(cost[back] * returned_share, 2))),
        "days_late": np.concatenate((days_late[line_order], np.zeros(len(back)))),
    }
    contacts = _contacts(rng, n, customer, owner, day, line_owner[back], return_day[back], friction,
                         business, late, len(warp) - 1)
    product = _products(rng, category, dropout[line_owner] < _LOYAL_DROPOUT)
    code = _discount_codes(rng, owner, day, dropout)[line_order]
    line_columns["product"] = np.concatenate((product, product[back]))
    line_columns["discount_code"] = np.concatenate((code, code[back]))
    return line_columns, contacts, orders


def _products(rng: np.random.Generator, category: np.ndarray, loyal: np.ndarray) -> np.ndarray:
    """Product index within its category (0-3) per line; drawn after every other column."""
    shares = np.where(loyal[:, None], _PRODUCT_SHARE_LOYAL, _PRODUCT_SHARE)
    return _pick(rng, shares)


def _discount_codes(rng: np.random.Generator, owner: np.ndarray, day: np.ndarray, dropout: np.ndarray) -> np.ndarray:
    """Code index per order (-1 = none): WELCOME10 on first orders (more for deal seekers, who drop out
    sooner), BLACKFRIDAY on some November orders, SAVE15 now and then."""
    orders = len(owner)
    first = np.zeros(orders, dtype=bool)
    first[np.unique(owner, return_index=True)[1]] = True  # orders are in date order
    november = (np.datetime64(START_DATE) + day.astype("timedelta64[D]")).astype("datetime64[M]").astype(int) % 12 == 10
    draw = rng.random(orders)
    welcome = first & (draw < np.clip(0.08 + 1.2 * dropout[owner], 0.0, 0.6))
    black_friday = ~first & november & (draw < 0.3)
    save = ~first & ~november & (draw < 0.06)
    return np.select([welcome, black_friday, save], [0, 1, 2], default=-1)


def _contacts(rng: np.random.Generator, n: int, customer: np.ndarray, order_owner: np.ndarray,
              order_day: np.ndarray, return_owner: np.ndarray, return_day: np.ndarray, friction: np.ndarray,
              business: np.ndarray, late: np.ndarray, days: int) -> dict[str, np.ndarray]:
    """Support contacts: some orders cause a question, most returns a refund request."""
    per_order = np.where(friction, 0.9, rng.gamma(1.0, 0.07, n)) + np.where(business, 0.05, 0.0)
    asked = rng.random(len(order_owner)) < np.minimum(per_order[order_owner], 0.95)
    asked_owner = order_owner[asked]
    reason = _pick(rng, np.tile(_ORDER_REASON_SHARE, (len(asked_owner), 1)))
    reason = np.where(late[asked] & (rng.random(len(asked_owner)) < 0.6), 2, reason)  # late payers: billing
    refund = rng.random(len(return_owner)) < 0.7
    owner = np.concatenate((asked_owner, return_owner[refund]))
    day = np.concatenate((order_day[asked] + rng.geometric(0.3, len(asked_owner)) - 1, return_day[refund]))
    reason = np.concatenate((reason, np.full(int(refund.sum()), 5)))
    keep = day < days
    owner, day, reason = owner[keep], day[keep], reason[keep]
    contacts = len(owner)
    channel = rng.choice(len(CONTACT_CHANNELS), size=contacts, p=[0.45, 0.30, 0.25])
    csat = np.clip(np.round(_REASON_CSAT[reason] - 0.8 * friction[owner] + rng.normal(0.0, 0.9, contacts)), 1, 5)
    cost = np.round(_CONTACT_COST[channel] * np.where(reason == 4, 1.6, 1.0) * rng.lognormal(0.0, 0.3, contacts), 2)
    return {"customer": customer[owner], "day": day, "channel": channel, "reason": reason, "csat": csat, "cost": cost}


def _dates(days: np.ndarray) -> pl.Series:
    return pl.Series((np.datetime64(START_DATE) + days.astype("timedelta64[D]")).astype("datetime64[D]"))


def _labels(index: np.ndarray, labels: tuple[str, ...]) -> pl.Series:
    return pl.Series(np.array(labels, dtype=object)[index], dtype=pl.String)


def _lines_frame(columns: dict[str, np.ndarray], id_width: int) -> pl.DataFrame:
    """Canonical transactions of one chunk, in date order."""
    frame = pl.DataFrame({
        "_customer": columns["customer"],
        "_order": columns["order"],
        C.ORDER_DATE: _dates(columns["day"]),
        C.AMOUNT: columns["amount"],
        C.QUANTITY: columns["quantity"],
        C.CHANNEL: _labels(columns["channel"], SALES_CHANNELS),
        C.REGION: _labels(columns["region"], REGIONS),
        C.CATEGORY: _labels(columns["category"], CATEGORIES),
        C.COST: columns["cost"],
        C.DAYS_LATE: columns["days_late"],
        "_product": columns["product"],
        C.DISCOUNT_CODE: _labels(np.maximum(columns["discount_code"], 0), DISCOUNT_CODES),
        "_has_code": columns["discount_code"] >= 0,
    })
    return (
        frame.sort([C.ORDER_DATE, "_order", C.AMOUNT], descending=[False, False, True], maintain_order=True)
        .with_columns(
            pl.format("C{}", pl.col("_customer").add(1).cast(pl.String).str.zfill(id_width)).alias(C.CUSTOMER_ID),
            pl.format("O{}", pl.col("_order").cast(pl.String).str.zfill(8)).alias(C.ORDER_ID),
            _product_names(pl.col(C.CATEGORY), pl.col("_product")).alias(C.PRODUCT),
            pl.format("SKU-{}{}", pl.col(C.CATEGORY).replace_strict(CATEGORIES, range(1, len(CATEGORIES) + 1)),
                      pl.col("_product") + 1).alias(C.SKU),
            pl.when(pl.col("_has_code")).then(pl.col(C.DISCOUNT_CODE)).alias(C.DISCOUNT_CODE),
        )
        .select([pl.col(name).cast(dtype) for name, dtype in TRANSACTION_SCHEMA.items() if name not in NOT_GENERATED])
    )


def _product_names(category: pl.Expr, index: pl.Expr) -> pl.Expr:
    """The product name of (category label, index within the category)."""
    names = {f"{label}|{i}": name for label, products in zip(CATEGORIES, PRODUCTS) for i, name in enumerate(products)}
    return pl.format("{}|{}", category, index).replace_strict(names)


#: Canonical columns the demo leaves out: refunds in full, discount amounts and the contact written on the
#: order (name, e-mail) come from real exports.
NOT_GENERATED = (C.FULLY_REFUNDED, C.DISCOUNT_AMOUNT, C.CUSTOMER_NAME, C.EMAIL)


def _contacts_frame(columns: dict[str, np.ndarray], id_width: int) -> pl.DataFrame:
    frame = pl.DataFrame({
        "_customer": columns["customer"],
        "interaction_date": _dates(columns["day"]),
        "channel": _labels(columns["channel"], CONTACT_CHANNELS),
        "reason": _labels(columns["reason"], CONTACT_REASONS),
        "csat": columns["csat"],
        "cost": columns["cost"],
    })
    return (
        frame.sort(["interaction_date", "_customer"], maintain_order=True)
        .with_columns(pl.format("C{}", pl.col("_customer").add(1).cast(pl.String).str.zfill(id_width)).alias("customer_id"))
        .select([pl.col(name).cast(dtype) for name, dtype in INTERACTION_SCHEMA.items()])
    )


def _simulate(customers: int, seed: int) -> Iterator[tuple[pl.DataFrame, pl.DataFrame]]:
    """Yield (transactions, interactions) frames chunk by chunk."""
    population = _draw_customers(customers, seed)
    warp = np.concatenate(([0.0], np.cumsum(_seasonality())))
    next_order = 100_001
    for chunk, rows in _chunks(population):
        lines, contacts, orders = _simulate_chunk(population, rows, _chunk_rng(seed, chunk), next_order, warp)
        next_order += orders
        yield _lines_frame(lines, population.id_width), _contacts_frame(contacts, population.id_width)


def _customers_frame(population: _Customers, seed: int) -> pl.DataFrame:
    """Customer side table: synthetic names and e-mails on reserved example domains."""
    rng = np.random.default_rng([seed, 2])
    n = population.count
    first = rng.integers(len(_FIRST_NAMES), size=n)
    last = rng.integers(len(_LAST_NAMES), size=n)
    suffix = rng.integers(len(_COMPANY_SUFFIXES), size=n)
    domain = np.where(rng.random(n) < 0.7, "example.com", "example.org")
    slug = pl.col("_last").str.to_lowercase().str.replace_all(r"[^a-zà-ÿ]", "")
    ascii_slug = (slug.str.replace_all("ü", "u").str.replace_all("í", "i").str.replace_all("é", "e")
                  .str.replace_all("ë", "e"))
    first_slug = (pl.col("_first").str.to_lowercase().str.replace_all("é", "e").str.replace_all("ë", "e"))
    number = pl.col("_n").cast(pl.String)
    frame = pl.DataFrame({
        "_n": np.arange(1, n + 1),
        "_first": _labels(first, _FIRST_NAMES),
        "_last": _labels(last, _LAST_NAMES),
        "_suffix": _labels(suffix, _COMPANY_SUFFIXES),
        "_business": population.business,
        "_domain": pl.Series(domain, dtype=pl.String),
        "signup_date": _dates(population.signup_day),
        "acquisition_channel": _labels(population.acquisition, ACQUISITION_CHANNELS),
        "region": _labels(population.region, REGIONS),
    })
    return frame.with_columns(
        pl.format("C{}", number.str.zfill(population.id_width)).alias("customer_id"),
        pl.when(pl.col("_business"))
        .then(pl.format("{} {}", pl.col("_last"), pl.col("_suffix")))
        .otherwise(pl.format("{} {}", pl.col("_first"), pl.col("_last")))
        .alias("name"),
        pl.when(pl.col("_business"))
        .then(pl.format("accounts.{}{}@{}", ascii_slug, number, pl.col("_domain")))
        .otherwise(pl.format("{}.{}{}@{}", first_slug, ascii_slug, number, pl.col("_domain")))
        .alias("email"),
    ).select([pl.col(name).cast(dtype) for name, dtype in CUSTOMER_SCHEMA.items()])


def _marketing_spend_frame(population: _Customers, seed: int) -> pl.DataFrame:
    """Monthly spend per acquisition channel: expected acquisitions x channel CAC, with noise."""
    rng = np.random.default_rng([seed, 3])
    expected = population.count * _monthly_acquisition_weights()[:, None] * _acquisition_mix()
    spend = np.round(expected * _ACQ_CAC * rng.lognormal(0.0, 0.12, expected.shape), 2)
    months = np.arange(np.datetime64(START_DATE, "M"), np.datetime64(START_DATE, "M") + MONTHS).astype("datetime64[D]")
    return pl.DataFrame({
        "month": pl.Series(np.repeat(months, len(ACQUISITION_CHANNELS))),
        "channel": list(ACQUISITION_CHANNELS) * MONTHS,
        "spend": spend.ravel(),
    }).select([pl.col(name).cast(dtype) for name, dtype in MARKETING_SPEND_SCHEMA.items()])


def generate(customers: int = 5000, seed: int = 7) -> Dataset:
    """The full synthetic portfolio, in memory.

    Parameters
    ----------
    customers
        Number of customers (about 10 order lines each on average).
    seed
        Random seed: the same (customers, seed) always gives identical tables.

    Returns
    -------
    Dataset
        Transactions (date order) plus customers, interactions and
        marketing_spend side tables, all in the canonical schema.
    """
    if customers < 1:
        raise ValueError("customers must be at least 1")
    population = _draw_customers(customers, seed)
    transactions, interactions = [], []
    for lines, contacts in _simulate(customers, seed):
        transactions.append(lines)
        interactions.append(contacts)
    return Dataset(
        transactions=pl.concat(transactions).sort([C.ORDER_DATE, C.ORDER_ID], maintain_order=True).lazy(),
        customers=_customers_frame(population, seed).lazy(),
        interactions=pl.concat(interactions).sort(["interaction_date", "customer_id"], maintain_order=True).lazy(),
        marketing_spend=_marketing_spend_frame(population, seed).lazy(),
        name=f"Demo portfolio ({customers:,} customers, seed {seed})",
    )


def write_transactions_csv(path: str | Path, customers: int, seed: int = 7) -> int:
    """Stream the transactions of ``generate(customers, seed)`` to a CSV (``.gz`` compresses).

    Rows come chunk by chunk (each chunk in date order), so memory stays
    bounded. Columns: :data:`CSV_COLUMNS`. Returns the number of rows written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = 0
    with contextlib.ExitStack() as stack:
        handle: IO[bytes] = stack.enter_context(open(path, "wb"))
        if path.name.endswith(".gz"):  # mtime=0 keeps the bytes identical from run to run
            handle = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=handle, compresslevel=6, mtime=0))
        for lines, _ in _simulate(customers, seed):
            export = lines.select(CSV_COLUMNS).with_columns(pl.col(C.QUANTITY).cast(pl.Int64))
            export.write_csv(handle, include_header=written == 0, float_precision=2)
            written += lines.height
    return written


def write_orders_csv(path: str | Path, orders: int, seed: int = 7) -> int:
    """Benchmark helper: a CSV of about ``orders`` order lines (``orders / 9.7`` customers).

    The row count is approximate (within a few percent: it comes out of the
    simulation); the return value is the exact number of rows written.
    """
    return write_transactions_csv(path, max(1, round(orders / LINES_PER_CUSTOMER)), seed)
