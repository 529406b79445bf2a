"""The decoupled optimizers on tf_keras (Keras 2): the glue (``glue.py``) and the
reading of a tf_keras model's penalties (``keras_adamw/regularizers/tf_keras.py``). Imported only when a
tf_keras class or model is used, or when ``keras_adamw._keras`` says tf_keras is
``tensorflow.keras``."""
