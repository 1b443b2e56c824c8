"""The classifier: Embedding -> recurrent layer(s) -> pooling -> Dense(1, sigmoid) for two classes,
Dense(K, softmax) for K >= 3 (`head`), optionally beside a linear n-gram branch (wide & deep). No I/O.

One function builds every architecture the configs name (SimpleRNN, GRU, LSTM; bidirectional;
stacked) so that comparisons differ only in the config. Pooling over time (max/avg) instead of the
last state lets the classifier use evidence anywhere in a long review and converges faster.
"""

from __future__ import annotations

import logging
import warnings
from typing import Any

import numpy as np

from sentiment_cli.config import ModelConfig, TrainingConfig

log = logging.getLogger("sentiment")


def left_padded_mask(cfg: ModelConfig, padding: str | None) -> bool:
    """Masked padding zeros at the start of each row: Keras 3 cannot hand that to cuDNN."""
    return cfg.mask and padding == "pre"


def cudnn_blockers(cfg: ModelConfig, padding: str | None = None) -> list[str]:
    """Config settings that stop Keras 3 from using the fused cuDNN kernel on a GPU.

    Keras 3 (keras/src/backend/tensorflow/rnn.py) runs LSTM/GRU on cuDNN only with tanh/sigmoid
    activations, a bias, no unrolling, GRU reset_after=True, use_cudnn "auto"/True, no recurrent
    dropout, and a mask (if any) that is right-padded. build_model keeps the first five at their
    defaults (tests/test_distribute.py checks); the config can break the last two. `padding` is
    tokenizer.padding.
    """
    reasons = []
    if cfg.cell == "simple_rnn":
        reasons.append("model.cell=simple_rnn has no cuDNN kernel")
    if cfg.recurrent_dropout > 0:
        reasons.append("model.recurrent_dropout > 0")
    if cfg.cell != "simple_rnn" and left_padded_mask(cfg, padding):
        # Keras would try cuDNN and fail its right-padding assertion inside the compiled step.
        reasons.append("model.mask=true with tokenizer.padding=pre (cuDNN needs right-padded masks: "
                       "set tokenizer.padding=post; the layers are built with use_cudnn=False)")
    return reasons


def _recurrent_trunk(cfg: ModelConfig, inputs: Any, *, vocab_size: int, seed: int,
                     padding: str | None) -> Any:
    """Embedding -> recurrent layer(s) -> pooling -> dropout: one vector per row (layer names fixed,
    so weights move by name between the recurrent model and the wide & deep one)."""
    from keras import layers

    cells = {"lstm": layers.LSTM, "gru": layers.GRU, "simple_rnn": layers.SimpleRNN}
    # Keras picks cuDNN on a GPU when it can ("auto"); a left-padded mask must not even try.
    cudnn = {} if cfg.cell == "simple_rnn" else {"use_cudnn": False if left_padded_mask(cfg, padding) else "auto"}
    x = layers.Embedding(vocab_size, cfg.embedding_dim, mask_zero=cfg.mask, trainable=cfg.embedding_trainable,
                         name="embedding")(inputs)
    if cfg.embedding_dropout > 0:
        x = layers.SpatialDropout1D(cfg.embedding_dropout, seed=seed, name="embedding_dropout")(x)
    for i in range(cfg.layers):
        last = i == cfg.layers - 1
        rnn = cells[cfg.cell](
            cfg.units,
            return_sequences=not (last and cfg.pooling == "last"),
            recurrent_dropout=cfg.recurrent_dropout,
            seed=seed + i,
            name=f"{cfg.cell}_{i + 1}",
            **cudnn,
        )
        if cfg.bidirectional:
            rnn = layers.Bidirectional(rnn, name=f"bidirectional_{cfg.cell}_{i + 1}")
        x = rnn(x)
    if cfg.pooling in ("max", "max_avg"):
        with warnings.catch_warnings():  # "does not support masking": see training.bucketing_is_exact
            warnings.filterwarnings("ignore", message=".*does not support masking.*")
            pooled = [layers.GlobalMaxPooling1D(name="max_pool")(x)]
        if cfg.pooling == "max_avg":
            pooled.append(layers.GlobalAveragePooling1D(name="avg_pool")(x))
            x = layers.Concatenate(name="pools")(pooled)
        else:
            x = pooled[0]
    elif cfg.pooling == "avg":
        x = layers.GlobalAveragePooling1D(name="avg_pool")(x)
    if cfg.dropout > 0:
        x = layers.Dropout(cfg.dropout, seed=seed, name="dropout")(x)
    return x


def head_units(n_classes: int) -> int:
    """Outputs of the model's last layer: one sigmoid score for two classes, K softmax ones above."""
    return 1 if n_classes == 2 else n_classes


def head(n_classes: int, name: str = "predictions") -> Any:
    """The output layer for `n_classes`, float32 even under mixed precision (a float16 sigmoid or
    softmax saturates and breaks the loss)."""
    from keras import layers

    return layers.Dense(head_units(n_classes), activation="sigmoid" if n_classes == 2 else "softmax",
                        dtype="float32", name=name)


def loss_name(n_classes: int) -> str:
    """The loss for class-index labels: binary for the sigmoid head, sparse categorical for softmax."""
    return "binary_crossentropy" if n_classes == 2 else "sparse_categorical_crossentropy"


def build_model(cfg: ModelConfig, *, vocab_size: int, seed: int, padding: str | None = None,
                embedding: np.ndarray | None = None, n_classes: int = 2) -> Any:
    """The recurrent classifier: an uncompiled keras.Model taking int32 id rows of any length
    (`padding`: tokenizer.padding), ending in `head(n_classes)`.

    `embedding` (vocab_size x embedding_dim, e.g. from word_vectors.ppmi_svd) replaces the initial
    embedding rows that are not all zero; the others keep Keras' random init.
    """
    import keras
    from keras import layers

    inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = _recurrent_trunk(cfg, inputs, vocab_size=vocab_size, seed=seed, padding=padding)
    outputs = head(n_classes)(x)
    model = keras.Model(inputs, outputs, name=f"sentiment_{cfg.cell}")
    if embedding is not None:
        layer = model.get_layer("embedding")
        weights = np.array(layer.get_weights()[0])
        if embedding.shape != weights.shape:
            raise ValueError(f"embedding of shape {embedding.shape} for a layer of shape {weights.shape}")
        known = np.abs(embedding).sum(axis=1) > 0
        weights[known] = embedding[known]
        layer.set_weights([weights])
    return model


def build_wide_deep(cfg: ModelConfig, recurrent: Any, *, vocab_size: int, seed: int, padding: str | None,
                    wide_weights: np.ndarray, combiner: tuple[np.ndarray, np.ndarray]) -> Any:
    """The trained recurrent model beside a linear model over n-gram TF-IDF, and a Dense over both.

    Inputs: token_ids (the recurrent branch's rows), ngram_ids and ngram_weights (ngrams.py, from
    the same rows). The wide logit is sum_j weight_j * wide_weights[id_j] (an Embedding of one
    row per n-gram, dotted with the TF-IDF values); the recurrent logit is the trained model's
    output layer before its sigmoid; `combiner` = (kernel (2, 1), bias (1,)) of the final
    Dense(1, sigmoid) over [wide logit, recurrent logit], fitted on the validation split
    (training.fit_combiner). With K >= 3 classes every logit is a vector of K: `wide_weights` is
    (n-grams, K), the recurrent model's softmax layer becomes K logits, and the combiner is a
    Dense(K, softmax) over the 2K of them (kernel (2K, K)). Built outside any distribution scope,
    weights copied by layer name.
    """
    import keras
    from keras import layers

    tokens = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    ngram_ids = keras.Input(shape=(None,), dtype="int32", name="ngram_ids")
    ngram_weights = keras.Input(shape=(None,), dtype="float32", name="ngram_weights")
    wide_weights = np.asarray(wide_weights, dtype=np.float32)
    k = 1 if wide_weights.ndim == 1 else wide_weights.shape[1]  # logits per branch
    n_classes = 2 if k == 1 else k
    deep = _recurrent_trunk(cfg, tokens, vocab_size=vocab_size, seed=seed, padding=padding)
    deep = layers.Dense(k, dtype="float32", name="recurrent_logit")(deep)
    table = layers.Embedding(len(wide_weights), k, name="wide_weights")(ngram_ids)
    wide = layers.Dot(axes=1, name="wide_logit")([ngram_weights, table])
    both = layers.Concatenate(name="logits")([wide, deep])
    outputs = head(n_classes)(both)
    model = keras.Model([tokens, ngram_ids, ngram_weights], outputs, name=f"sentiment_wide_{cfg.cell}")
    for layer in recurrent.layers:
        if layer.weights:
            target = "recurrent_logit" if layer.name == "predictions" else layer.name
            model.get_layer(target).set_weights([np.asarray(w) for w in layer.get_weights()])
    model.get_layer("wide_weights").set_weights([wide_weights.reshape(-1, k)])
    kernel, bias = combiner
    model.get_layer("predictions").set_weights([np.asarray(kernel, np.float32).reshape(2 * k, k),
                                                np.asarray(bias, np.float32).reshape(k)])
    return model


def make_optimizer(cfg: TrainingConfig) -> Any:
    import keras

    kwargs: dict[str, Any] = {"learning_rate": cfg.learning_rate}
    if cfg.clipnorm is not None:
        kwargs["clipnorm"] = cfg.clipnorm
    classes = {"adam": keras.optimizers.Adam, "adamw": keras.optimizers.AdamW,
               "rmsprop": keras.optimizers.RMSprop, "sgd": keras.optimizers.SGD}
    return classes[cfg.optimizer](**kwargs)


def compile_model(model: Any, cfg: TrainingConfig, n_classes: int = 2) -> Any:
    model.compile(optimizer=make_optimizer(cfg), loss=loss_name(n_classes), metrics=["accuracy"])
    return model


def count_params(model: Any) -> int:
    return int(model.count_params())
