#!/usr/bin/env python
"""The plain scikit-learn script that bench_startup.py times against
`mlp train configs/iris.yaml`: the same data, split, scaling, network
(4-32-16-3, tanh), Adam at 0.005, batches of 16 and 150 epochs."""
import warnings

from sklearn.datasets import load_iris
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler

X, y = load_iris(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=0)
scaler = StandardScaler().fit(X_train)
model = MLPClassifier(
    hidden_layer_sizes=(32, 16), activation="tanh", solver="adam", learning_rate_init=0.005, batch_size=16,
    max_iter=150, n_iter_no_change=150, alpha=0.0, random_state=0,
)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)  # 150 epochs, as mlpcli's config says
    model.fit(scaler.transform(X_train), y_train)
print(f"test accuracy {model.score(scaler.transform(X_test), y_test):.4f}")
