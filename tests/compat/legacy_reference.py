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


def cudnn_gru(x, Ws, Rs, bW, bR):
    """cuDNN's GRU equations: r = sigmoid(W_r x + bW_r + R_r h + bR_r), z likewise,
    h' = tanh(W_h x + bW_h + r * (R_h h + bR_h)), h = (1 - z) * h' + z * h.
    Ws/Rs/bW/bR: dicts over gates 'z', 'r', 'h' with W (units, in), R (units, units)."""
    units = Rs["z"].shape[0]

    def step(xt, state):
        (h,) = state
        r = sigmoid(xt @ Ws["r"].T + bW["r"] + h @ Rs["r"].T + bR["r"])
        z = sigmoid(xt @ Ws["z"].T + bW["z"] + h @ Rs["z"].T + bR["z"])
        cand = np.tanh(xt @ Ws["h"].T + bW["h"] + r * (h @ Rs["h"].T + bR["h"]))
        h = (1 - z) * cand + z * h
        return h, [h]

    return _run(step, x, [np.zeros((x.shape[0], units))], None)


def old_conv2d(x, W, x_format, w_format, border_mode, strides, true_convolution):
    """One 2-D convolution as old Keras backends computed it, with explicit loops
    over the kernel window (channels contracted at each offset).

    x: 'th' (batch, in, rows, cols) or 'tf' (batch, rows, cols, in).
    W: 'th' (out, in, kr, kc) or 'tf' (kr, kc, in, out).
    border_mode 'valid' or 'same' (odd kernels: kr // 2 zeros on each side).
    true_convolution: Theano's conv2d, which flips the kernel window;
    TensorFlow's conv2d is a correlation. Returns the output in x_format.
    """
    if x_format == "th":
        x = np.moveaxis(x, 1, -1)
    kr, kc = (W.shape[2], W.shape[3]) if w_format == "th" else (W.shape[0], W.shape[1])
    if border_mode == "same":
        x = np.pad(x, ((0, 0), (kr // 2, kr // 2), (kc // 2, kc // 2), (0, 0)))
    sr, sc = strides
    rows = (x.shape[1] - kr) // sr + 1
    cols = (x.shape[2] - kc) // sc + 1
    out_ch = W.shape[0] if w_format == "th" else W.shape[3]
    out = np.zeros((x.shape[0], rows, cols, out_ch))
    for a in range(kr):
        for d in range(kc):
            ka, kd = (kr - 1 - a, kc - 1 - d) if true_convolution else (a, d)
            w = W[:, :, ka, kd].T if w_format == "th" else W[ka, kd]  # (in, out)
            patch = x[:, a : a + sr * (rows - 1) + 1 : sr, d : d + sc * (cols - 1) + 1 : sc]
            for c_in in range(w.shape[0]):
                out += patch[..., c_in : c_in + 1] * w[c_in]
    return np.moveaxis(out, -1, 1) if x_format == "th" else out


def old_conv_lstm(
    x,
    gates,
    x_format,
    w_format,
    border_mode,
    strides,
    true_convolution,
    act="tanh",
    inner="hard_sigmoid",
):
    """Old Keras ConvLSTM2D (Keras 1 ``step`` / Keras 2 ConvLSTM2DCell):
    x_g = conv(x_t, W_g, border_mode, strides) + b_g, h_g = conv(h, U_g, 'same', 1),
    i, f, o = inner(x_g + h_g), c = f * c + i * act(x_c + h_c), h = o * act(c).
    x: (batch, time, ...) in x_format; gates[g] = (W, U, b) in w_format."""
    a, s = ACT[act], ACT[inner]
    channel_axis = 1 if x_format == "th" else -1
    bias_shape = (1, -1, 1, 1) if x_format == "th" else (1, 1, 1, -1)
    h = c = None
    outs = []
    for t in range(x.shape[1]):
        pre = {}
        for g, (W, U, b) in gates.items():
            xg = old_conv2d(x[:, t], W, x_format, w_format, border_mode, strides, true_convolution)
            xg = xg + b.reshape(bias_shape)
            if h is None:
                h = c = np.zeros_like(xg)
            hg = old_conv2d(h, U, x_format, w_format, "same", (1, 1), true_convolution)
            pre[g] = xg + hg
        i, f, o = s(pre["i"]), s(pre["f"]), s(pre["o"])
        c = f * c + i * a(pre["c"])
        h = o * a(c)
        outs.append(h)
    assert outs[0].shape[channel_axis] == gates["i"][2].shape[0]
    return np.stack(outs, axis=1)
