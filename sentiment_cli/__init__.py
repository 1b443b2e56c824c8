"""sentiment: train, evaluate and serve Keras sentiment classifiers from the command line.

Importing the package is cheap on purpose: `sentiment --help` and `sentiment predict` must not pay
for TensorFlow. Heavy modules import it inside the functions that need it.
"""

__version__ = "0.1.0"
