"""Numpy references of the old layers' equations, written from the old docs
(per-gate matrices, x @ W + h @ U + b), independent of tfrnn.compat."""

import numpy as np


def hard_sigmoid(x):
    return np.clip(0.2 * x + 0.5, 0.0, 1.0)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


ACT = {"tanh": np.tanh, "sigmoid": sigmoid, "hard_sigmoid": hard_sigmoid, "linear": lambda x: x}


def _run(step, x, state, mask, go_backwards=False):
    """Old Keras scan: masked steps keep the previous state and output."""
    steps = range(x.shape[1])
    if go_backwards:
        steps = reversed(steps)
    outputs = []
    out = np.zeros_like(state[0])
    for t in steps:
        new_out, new_state = step(x[:, t], state)
        if mask is not None:
            m = mask[:, t : t + 1]
            new_out = m * new_out + (1 - m) * out
            new_state = [m * n + (1 - m) * s for n, s in zip(new_state, state)]
        out, state = new_out, new_state
        outputs.append(out)
    return np.stack(outputs, axis=1)


def lstm(x, g, act="tanh", inner="hard_sigmoid", mask=None, go_backwards=False):
    """g: {'i': (W, U, b), 'f': ..., 'c': ..., 'o': ...}."""
    a, s = ACT[act], ACT[inner]
    units = g["i"][1].shape[0]

    def step(xt, state):
        h, c = state
        pre = {k: xt @ W + h @ U + b for k, (W, U, b) in g.items()}
        i, f, o = s(pre["i"]), s(pre["f"]), s(pre["o"])
        c = f * c + i * a(pre["c"])
        h = o * a(c)
        return h, [h, c]

    zeros = np.zeros((x.shape[0], units))
    return _run(step, x, [zeros, zeros], mask, go_backwards)


def gru(x, g, act="tanh", inner="hard_sigmoid", mask=None, go_backwards=False):
    """Cho et al. GRU as Keras 0.x-2.x wrote it (reset before the matmul)."""
    a, s = ACT[act], ACT[inner]
    units = g["z"][1].shape[0]

    def step(xt, state):
        (h,) = state
        z = s(xt @ g["z"][0] + h @ g["z"][1] + g["z"][2])
        r = s(xt @ g["r"][0] + h @ g["r"][1] + g["r"][2])
        hh = a(xt @ g["h"][0] + (r * h) @ g["h"][1] + g["h"][2])
        h = z * h + (1 - z) * hh
        return h, [h]

    return _run(step, x, [np.zeros((x.shape[0], units))], mask, go_backwards)


def gru_reset_after(x, W, U, b_in, b_rec, act="tanh", inner="hard_sigmoid"):
    """GRU(reset_after=True) / cuDNN GRU: r multiplies (h @ U_h + b_rec_h)."""
    a, s = ACT[act], ACT[inner]
    u = U.shape[0]
    split = lambda m: (m[..., :u], m[..., u : 2 * u], m[..., 2 * u :])  # noqa: E731

    def step(xt, state):
        (h,) = state
        xz, xr, xh = split(xt @ W + b_in)
        hz, hr, hh = split(h @ U + b_rec)
        z, r = s(xz + hz), s(xr + hr)
        cand = a(xh + r * hh)
        h = z * h + (1 - z) * cand
        return h, [h]

    return _run(step, x, [np.zeros((x.shape[0], u))], None)


def simple_rnn(x, W, U, b, act="tanh", mask=None):
    def step(xt, state):
        h = ACT[act](xt @ W + state[0] @ U + b)
        return h, [h]

    return _run(step, x, [np.zeros((x.shape[0], U.shape[0]))], mask)


def cudnn_lstm(x, Ws, Rs, bW, bR):
    """cuDNN's LSTM equations: i = sigmoid(W_i x + R_i h + bW_i + bR_i), ...
    Ws/Rs/bW/bR: dicts over gates with W (units, in), R (units, units)."""
    units = Rs["i"].shape[0]

    def step(xt, state):
        h, c = state
        pre = {k: xt @ Ws[k].T + h @ Rs[k].T + bW[k] + bR[k] for k in "ifco"}
        i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
        c = f * c + i * np.tanh(pre["c"])
        h = o * np.tanh(c)
        return h, [h, c]

    zeros = np.zeros((x.shape[0], units))
    return _run(step, x, [zeros, zeros], None)


def conv2d_same(x, k, true_convolution):
    """x (batch, rows, cols, in), k (kr, kc, in, out); 'same' padding, stride 1.
    true_convolution flips the kernel, as Theano's conv2d does."""
    if true_convolution:
        k = k[::-1, ::-1]
    kr, kc = k.shape[:2]
    pr, pc = kr // 2, kc // 2
    xp = np.pad(x, ((0, 0), (pr, kr - 1 - pr), (pc, kc - 1 - pc), (0, 0)))
    out = np.zeros(x.shape[:3] + (k.shape[3],))
    for a in range(kr):
        for b in range(kc):
            out += xp[:, a : a + x.shape[1], b : b + x.shape[2]] @ k[a, b]
    return out


def conv_lstm(x, g, true_convolution, act="tanh", inner="hard_sigmoid"):
    """x (batch, time, rows, cols, in); g[gate] = (W (kr, kc, in, f), U (kr, kc, f, f), b)."""
    a, s = ACT[act], ACT[inner]
    filters = g["i"][2].shape[0]
    h = np.zeros(x.shape[:1] + x.shape[2:4] + (filters,))
    c = np.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        pre = {
            k: conv2d_same(x[:, t], W, true_convolution) + conv2d_same(h, U, true_convolution) + b
            for k, (W, U, b) in g.items()
        }
        i, f, o = s(pre["i"]), s(pre["f"]), s(pre["o"])
        c = f * c + i * a(pre["c"])
        h = o * a(c)
        outs.append(h)
    return np.stack(outs, axis=1)
