"""The example of the keras-adamw 1.38 README, run unchanged in a fresh process.

The 1.38 README says: "If using tensorflow.keras imports, set
os.environ["TF_KERAS"]='1'". Both spellings are run: the example as printed
(``keras.*`` imports) and with ``tensorflow.keras`` imports and TF_KERAS=1.
After the example's own 3 epochs, a few lines appended to it check the optimizer.
"""

import os
import subprocess
import sys

import pytest

ORIGINAL_EXAMPLE = '''
import numpy as np
from keras.layers import Input, Dense, LSTM
from keras.models import Model
from keras.regularizers import l1, l2, l1_l2
from keras_adamw import AdamW

ipt   = Input(shape=(120, 4))
x     = LSTM(60, activation='relu', name='lstm_1',
             kernel_regularizer=l1(1e-4), recurrent_regularizer=l2(2e-4))(ipt)
out   = Dense(1, activation='sigmoid', kernel_regularizer=l1_l2(1e-4, 2e-4))(x)
model = Model(ipt, out)
lr_multipliers = {'lstm_1': 0.5}

optimizer = AdamW(lr=1e-4, model=model, lr_multipliers=lr_multipliers,
                  use_cosine_annealing=True, total_iterations=24)
model.compile(optimizer, loss='binary_crossentropy')
for epoch in range(3):
    for iteration in range(24):
        x = np.random.rand(10, 120, 4) # dummy data
        y = np.random.randint(0, 2, (10, 1)) # dummy labels
        loss = model.train_on_batch(x, y)
        print("Iter {} loss: {}".format(iteration + 1, "%.3f" % loss))
    print("EPOCH {} COMPLETED\\n".format(epoch + 1))
'''

TF_KERAS_HEADER = "import os; os.environ['TF_KERAS'] = '1'\n"

CHECKS = '''
decays = optimizer.weight_decays
print("WEIGHT_DECAYS", sorted(decays.items()))
assert len(decays) == 3, decays
assert decays["lstm_1/lstm_cell/kernel"] == (1e-4, 0.0)
assert decays["lstm_1/lstm_cell/recurrent_kernel"] == (0.0, 2e-4)
dense_key = [k for k in decays if k.endswith("/kernel") and not k.startswith("lstm_1")][0]
assert decays[dense_key] == (1e-4, 2e-4)
assert len(model.losses) == 0                       # penalties zeroed, not doubled
assert int(optimizer.t_cur.numpy()) == 0            # 72 steps = 3 cycles of 24
assert int(optimizer.iterations.numpy()) == 72
assert optimizer.variable_settings["lstm_1/lstm_cell/kernel"].lr_multiplier == 0.5
print("CHECKS PASSED")
'''


@pytest.mark.slow
@pytest.mark.parametrize("spelling", ["keras", "tensorflow.keras"])
def test_original_readme_example_runs_unchanged(spelling, tmp_path):
    code = ORIGINAL_EXAMPLE
    if spelling == "tensorflow.keras":
        code = TF_KERAS_HEADER + code.replace("from keras.", "from tensorflow.keras.")
    script = tmp_path / "example.py"
    script.write_text(code + CHECKS)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_KERAS", None)
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("COMPLETED") == 3
    assert "Iter 24 loss:" in result.stdout
    assert "CHECKS PASSED" in result.stdout
