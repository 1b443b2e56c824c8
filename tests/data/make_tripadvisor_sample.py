"""Re-create the TripAdvisor samples in this folder from the dev dataset (see README.md here).

    python tests/data/make_tripadvisor_sample.py ../shared/datasets/dev/tripadvisor_hotel_reviews_5star.csv.gz
"""

import sys

import pandas as pd
from sklearn.model_selection import train_test_split

df = pd.read_csv(sys.argv[1], dtype=str, keep_default_na=False)
_, sample = train_test_split(df, test_size=800, stratify=df["label"], random_state=11)
train, test = train_test_split(sample, test_size=200, stratify=sample["label"], random_state=11)
for name, part in (("train", train), ("test", test)):
    part.to_csv(f"tests/data/tripadvisor_{name}.csv.gz", index=False, compression={"method": "gzip", "mtime": 0})
