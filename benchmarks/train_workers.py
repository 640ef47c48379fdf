"""bench_train.py's workers: the code that runs inside one trial's own process
(bench_train.py starts it; not meant to be run by hand) and prints its
measurements as one JSON line.

    python benchmarks/train_workers.py torch   --workload large --data SPLIT.npz --epochs 2
    python benchmarks/train_workers.py sklearn --workload small --data SPLIT.npz --epochs 30
    python benchmarks/train_workers.py predict --weights WEIGHTS.npz --data ROWS.npy --timings 5

torch: a plain loop (randperm, index, zero_grad, cross_entropy, backward,
step), no DataLoader. sklearn: MLPClassifier with alpha=0, one partial_fit per
epoch (it has no dropout). predict: mlpcli.load(...).predict_proba, timed after
one warm-up. mlpcli itself needs no worker: its trials run the real CLI.
"""
from __future__ import annotations

import argparse
import json
import time
import warnings

import numpy as np

from train_harness import THREADS
from train_workloads import DROPOUT, LR, WORKLOADS


def load_split(path: str):
    with np.load(path, allow_pickle=False) as f:
        return f["X_train"], f["y_train"], f["X_test"], f["y_test"]


def worker_torch(workload: str, data: str, epochs: int) -> dict:
    import threadpoolctl
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(THREADS)
    torch.manual_seed(0)
    spec = WORKLOADS[workload]
    Xtr, ytr, Xte, yte = load_split(data)
    X, y = torch.from_numpy(Xtr), torch.from_numpy(ytr)
    h1, h2 = spec["hidden"]
    model = nn.Sequential(
        nn.Linear(X.shape[1], h1), nn.ReLU(), nn.Dropout(DROPOUT),
        nn.Linear(h1, h2), nn.ReLU(), nn.Dropout(DROPOUT),
        nn.Linear(h2, int(max(ytr.max(), yte.max())) + 1),
    )
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    n, bs = len(X), spec["batch_size"]
    model.train()
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        perm = torch.randperm(n)
        for i in range(0, n, bs):
            idx = perm[i : i + bs]
            xb, yb = X[idx], y[idx]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
        epoch_seconds.append(time.perf_counter() - start)
    model.eval()
    with torch.no_grad():
        accuracy = (model(torch.from_numpy(Xte)).argmax(dim=1) == torch.from_numpy(yte)).float().mean().item()
    return {"epoch_seconds": epoch_seconds, "test_accuracy": accuracy, "n_train": n,
            "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
            "dtype": str(next(model.parameters()).dtype), "threadpools": threadpoolctl.threadpool_info()}


def worker_sklearn(workload: str, data: str, epochs: int) -> dict:
    import sklearn
    import threadpoolctl
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.filterwarnings("ignore", category=ConvergenceWarning)
    spec = WORKLOADS[workload]
    Xtr, ytr, Xte, yte = load_split(data)
    classes = np.unique(np.concatenate([ytr, yte]))
    clf = MLPClassifier(hidden_layer_sizes=spec["hidden"], activation="relu", solver="adam",
                        learning_rate_init=LR, batch_size=spec["batch_size"], alpha=0.0,
                        shuffle=True, random_state=0)
    epoch_seconds = []
    for _ in range(epochs):
        start = time.perf_counter()
        clf.partial_fit(Xtr, ytr, classes=classes)  # one pass over the data (shuffled)
        epoch_seconds.append(time.perf_counter() - start)
    return {"epoch_seconds": epoch_seconds, "test_accuracy": float(clf.score(Xte, yte)), "n_train": len(Xtr),
            "sklearn": sklearn.__version__, "dtype": str(clf.coefs_[0].dtype),
            "threadpools": threadpoolctl.threadpool_info()}


def worker_predict(weights: str, data: str, timings: int) -> dict:
    import mlpcli

    model = mlpcli.load(weights)
    X = np.load(data, allow_pickle=False)
    model.predict_proba(X)  # warm-up
    seconds = []
    for _ in range(timings):
        start = time.perf_counter()
        model.predict_proba(X)
        seconds.append(time.perf_counter() - start)
    return {"n_rows": len(X), "seconds": seconds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("worker", choices=["torch", "sklearn", "predict"])
    parser.add_argument("--data", required=True, help="split .npz (torch, sklearn) or rows .npy (predict)")
    parser.add_argument("--workload", choices=sorted(WORKLOADS), help="torch, sklearn: the model and batch size")
    parser.add_argument("--epochs", type=int, help="torch, sklearn: epochs to train and time")
    parser.add_argument("--weights", help="predict: the weights.npz to load")
    parser.add_argument("--timings", type=int, default=5, help="predict: timed calls after the warm-up")
    args = parser.parse_args(argv)
    if args.worker == "predict":
        if not args.weights:
            parser.error("predict needs --weights")
        result = worker_predict(args.weights, args.data, args.timings)
    else:
        if not args.workload or not args.epochs:
            parser.error(f"{args.worker} needs --workload and --epochs")
        train = worker_torch if args.worker == "torch" else worker_sklearn
        result = train(args.workload, args.data, args.epochs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
