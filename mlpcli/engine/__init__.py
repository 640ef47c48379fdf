"""mlpcli's engine: a small NumPy library of layers, activations, losses,
optimizers and learning-rate schedules. It imports nothing from the rest of
mlpcli and nothing but NumPy."""
from .activations import ACTIVATIONS, ACTIVATION_OPTIONS, get_activation
from .initializers import INITIALIZERS
from .layers import Dense, Dropout
from .losses import LOSSES
from .model import MLP, LayerSpec
from .optimizers import OPTIMIZERS, SGD, Adagrad, Adam, AdamW, RMSprop, get_optimizer
from .schedules import SCHEDULES, get_schedule

__all__ = [
    "ACTIVATIONS", "ACTIVATION_OPTIONS", "INITIALIZERS", "LOSSES", "OPTIMIZERS",
    "MLP", "LayerSpec", "Dense", "Dropout", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad",
    "SCHEDULES", "get_activation", "get_optimizer", "get_schedule",
]
