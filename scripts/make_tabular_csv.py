#!/usr/bin/env python3
"""Write a synthetic customer-churn CSV with categorical columns and missing values.

    python scripts/make_tabular_csv.py                   # data/churn.csv, 3000 rows, seed 0
    python scripts/make_tabular_csv.py --rows 500 --seed 1 --out /tmp/churn.csv

Columns: age, income, tenure_months, support_calls (numbers); plan, region,
payment (strings); churned (yes / no, the target, last). About 5% of the
values in age, income, plan and payment are missing, written as an empty
field, NA or ?. Whether a customer churns is drawn from a logistic model of
plan, region, payment, tenure, support calls and age, so a model has to use
both the categorical and the numeric columns to beat the majority class.
The same seed writes the same file (NumPy's default_rng).
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

PLANS = {"basic": 1.2, "standard": 0.0, "premium": -1.4}
REGIONS = {"north": 0.4, "south": -0.4, "east": 0.9, "west": -0.9, "central": 0.0}
PAYMENTS = {"card": -0.4, "bank": -0.7, "cash": 0.7, "voucher": 1.0}
WITH_GAPS = ("age", "income", "plan", "payment")
MISSING_RATE = 0.05
MISSING_TOKENS = ("", "NA", "?")


def make_rows(n: int, seed: int) -> tuple[list[str], list[list[str]]]:
    rng = np.random.default_rng(seed)
    plan = rng.choice(list(PLANS), n, p=[0.45, 0.35, 0.20])
    region = rng.choice(list(REGIONS), n)
    payment = rng.choice(list(PAYMENTS), n, p=[0.4, 0.3, 0.2, 0.1])
    age = rng.integers(18, 80, n)
    income = np.round(rng.lognormal(3.7, 0.4, n), 1)  # thousands a year
    tenure = rng.integers(0, 73, n)
    calls = rng.poisson(2.0, n)
    logit = (
        -0.2
        + np.vectorize(PLANS.get)(plan)
        + np.vectorize(REGIONS.get)(region)
        + np.vectorize(PAYMENTS.get)(payment)
        - 0.05 * (tenure - 36)
        + 0.6 * (calls - 2)
        - 0.03 * (age - 48)
    )
    churned = np.where(rng.random(n) < 1 / (1 + np.exp(-1.5 * logit)), "yes", "no")
    header = ["age", "income", "tenure_months", "support_calls", "plan", "region", "payment", "churned"]
    columns = {
        "age": age.astype(str), "income": income.astype(str), "tenure_months": tenure.astype(str),
        "support_calls": calls.astype(str), "plan": plan, "region": region, "payment": payment, "churned": churned,
    }
    columns = {name: values.astype(object) for name, values in columns.items()}
    for name in WITH_GAPS:  # blank out some values, after the target was drawn from them
        gaps = rng.random(n) < MISSING_RATE
        columns[name][gaps] = rng.choice(MISSING_TOKENS, int(gaps.sum()))
    return header, [list(row) for row in zip(*(columns[name] for name in header))]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/churn.csv", help="CSV file to write (default: data/churn.csv)")
    parser.add_argument("--rows", type=int, default=3000, help="number of rows (default: 3000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    args = parser.parse_args(argv)
    header, rows = make_rows(args.rows, args.seed)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
    print(f"{out}: {len(rows)} rows, {len(header)} columns")


if __name__ == "__main__":
    main()
