"""Op families: each module defines its Functions and binds its Tensor methods."""

# What nn_ops exports to the top level (torch.conv2d, torch.softmax...). Listed here, not in
# nn_ops, so that `import ember` can offer the names without loading that module.
NN_OPS_EXPORTS = (
    "softmax", "log_softmax",
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
    "max_pool1d", "max_pool2d", "max_pool3d", "max_pool1d_with_indices", "avg_pool1d",
    "adaptive_avg_pool1d", "adaptive_max_pool1d", "constant_pad_nd",
    "rnn_tanh", "rnn_relu", "lstm", "gru", "rnn_tanh_cell", "rnn_relu_cell", "lstm_cell",
    "gru_cell",
)
