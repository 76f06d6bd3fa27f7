"""Graph attention layers of AASIST (Jung et al., ICASSP 2022) on fully connected graphs of (batch, nodes, dims).

All node counts are static: graph pooling keeps a fixed number of nodes computed from the static input size, so
the layers compile under XLA and run on TPUs.
"""

import keras
import numpy as np
from keras import ops

from models.layers import batch_norm


def pairwise_products(nodes):
    """Element-wise products of every pair of nodes: (batch, n, d) -> (batch, n, n, d)."""
    return ops.expand_dims(nodes, 2) * ops.expand_dims(nodes, 1)


def attend(attention_logits, nodes):
    """Softmax over neighbours j of logits (batch, i, j), then the weighted sum of neighbour nodes (batch, i, d)."""
    weights = ops.softmax(attention_logits, axis=-1)
    return ops.matmul(weights, nodes)


class NodeAttentionLayer(keras.layers.Layer):
    """What GAT and HS-GAT share: input dropout, the edge projection, the node update and their config.

    Subclasses score the edges their own way and then call `update_nodes`. The layer names are the reference's
    (`att_proj`, `proj_with_att`, `proj_without_att`, `bn`), which the weight converter maps by name.

    Args:
        units: output node dimension.
        temperature: divides the attention logits; larger values give flatter attention.
        dropout: dropout rate on the input nodes during training.
    """

    def __init__(self, units, temperature=1.0, dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)
        self.temperature = float(temperature)
        self.dropout = float(dropout)
        self.input_drop = keras.layers.Dropout(self.dropout, name="input_drop")
        self.att_proj = keras.layers.Dense(self.units, name="att_proj")
        self.proj_with_att = keras.layers.Dense(self.units, name="proj_with_att")
        self.proj_without_att = keras.layers.Dense(self.units, name="proj_without_att")
        self.bn = batch_norm("bn")

    def edge_features(self, nodes):
        """tanh(W_a (x_i * x_j)) for every pair of nodes: (batch, n, dims) -> (batch, n, n, units)."""
        return ops.tanh(self.att_proj(pairwise_products(nodes)))

    def update_nodes(self, nodes, logits, training):
        """`W_1 (sum_j a_ij x_j) + W_2 x_i` with `a` the softmax of `logits` over j, then batch norm and SELU."""
        out = self.proj_with_att(attend(logits, nodes)) + self.proj_without_att(nodes)
        return ops.selu(self.bn(out, training=training))

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units, "temperature": self.temperature, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class GraphAttention(NodeAttentionLayer):
    """Graph attention over a fully connected homogeneous graph (GAT-S and GAT-T of AASIST).

    The attention logit of an edge (i, j) is `w . tanh(W_a (x_i * x_j)) / temperature`, normalised over j; the new
    node is `W_1 (sum_j a_ij x_j) + W_2 x_i`, then batch normalisation and SELU.

    Args:
        units: output node dimension.
        temperature: divides the attention logits; larger values give flatter attention.
        dropout: dropout rate on the input nodes during training.

    Example:
        >>> layer = GraphAttention(units=32, temperature=2.0)
        >>> layer(np.zeros((2, 23, 64), "float32")).shape
        (2, 23, 32)
    """

    def build(self, input_shape):
        dims = input_shape[-1]
        pair_shape = (input_shape[0], input_shape[1], input_shape[1], dims)
        self.att_proj.build(pair_shape)
        self.proj_with_att.build(input_shape)
        self.proj_without_att.build(input_shape)
        self.bn.build(input_shape[:-1] + (self.units,))
        self.att_weight = self.add_weight(shape=(self.units, 1), initializer="glorot_normal", name="att_weight")

    def call(self, nodes, training=None):
        # (batch, nodes, dims) -> (batch, nodes, units)
        nodes = self.input_drop(nodes, training=training)
        pairs = self.edge_features(nodes)  # (batch, n, n, units)
        logits = ops.squeeze(ops.matmul(pairs, self.att_weight), -1) / self.temperature
        return self.update_nodes(nodes, logits, training)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)


@keras.saving.register_keras_serializable(package="fakespeech")
class HeteroGraphAttention(NodeAttentionLayer):
    """Heterogeneous stacking graph attention (HS-GAT) over two node types plus a master node.

    Both node sets are first projected into a shared space and stacked into one graph. Edges within type 1, within
    type 2 and across types have their own attention vectors; the master node attends to every node with its own
    projection and attention vector, and is updated without normalisation or activation.

    Args:
        units: output node dimension.
        temperature: divides the attention logits of nodes and master.
        dropout: dropout rate on the stacked nodes during training.

    Example:
        >>> layer = HeteroGraphAttention(units=32, temperature=100.0)
        >>> a, b, m = layer(np.zeros((2, 14, 64), "f4"), np.zeros((2, 11, 64), "f4"), np.zeros((2, 1, 64), "f4"))
        >>> a.shape, b.shape, m.shape
        ((2, 14, 32), (2, 11, 32), (2, 1, 32))
    """

    def __init__(self, units, temperature=1.0, dropout=0.2, **kwargs):
        super().__init__(units, temperature, dropout, **kwargs)
        # The master node's own projections and attention.
        self.att_projM = keras.layers.Dense(self.units, name="att_projM")
        self.proj_with_attM = keras.layers.Dense(self.units, name="proj_with_attM")
        self.proj_without_attM = keras.layers.Dense(self.units, name="proj_without_attM")

    def build(self, nodes_a_shape, nodes_b_shape=None, master_shape=None):
        dims = nodes_a_shape[-1]
        self.proj_type1 = keras.layers.Dense(dims, name="proj_type1")
        self.proj_type2 = keras.layers.Dense(dims, name="proj_type2")
        for layer in (self.proj_type1, self.proj_type2, self.att_proj, self.att_projM, self.proj_with_att,
                      self.proj_without_att, self.proj_with_attM, self.proj_without_attM):
            layer.build((None, None, dims))
        self.bn.build((None, None, self.units))
        for name in ("att_weight11", "att_weight22", "att_weight12", "att_weightM"):
            setattr(self, name, self.add_weight(shape=(self.units, 1), initializer="glorot_normal", name=name))

    def _edge_logits(self, pairs, count_a):
        """Attention logits (batch, n, n): a different attention vector for each block of the type adjacency."""
        count = pairs.shape[1]
        same_a = np.zeros((count, count), bool)
        same_a[:count_a, :count_a] = True
        same_b = np.zeros((count, count), bool)
        same_b[count_a:, count_a:] = True
        # One matmul against the three attention vectors, then a static per-block choice.
        vectors = ops.concatenate([self.att_weight11, self.att_weight22, self.att_weight12], axis=-1)
        scores = ops.matmul(pairs, vectors)  # (batch, n, n, 3)
        within_a, within_b, across = scores[..., 0], scores[..., 1], scores[..., 2]
        return ops.where(same_a, within_a, ops.where(same_b, within_b, across))

    def call(self, nodes_a, nodes_b, master, training=None):
        # (batch, na, dims), (batch, nb, dims), (batch, 1, dims) -> (batch, na, units), (batch, nb, units), (batch, 1, units)
        count_a = nodes_a.shape[1]
        nodes = ops.concatenate([self.proj_type1(nodes_a), self.proj_type2(nodes_b)], axis=1)
        nodes = self.input_drop(nodes, training=training)

        pairs = self.edge_features(nodes)  # (batch, n, n, units)
        out = self.update_nodes(nodes, self._edge_logits(pairs, count_a) / self.temperature, training)

        master_pairs = ops.tanh(self.att_projM(nodes * master))  # (batch, n, units)
        master_logits = ops.matmul(master_pairs, self.att_weightM) / self.temperature  # (batch, n, 1)
        master_logits = ops.transpose(master_logits, (0, 2, 1))  # (batch, 1, n)
        master = self.proj_with_attM(attend(master_logits, nodes)) + self.proj_without_attM(master)
        return out[:, :count_a], out[:, count_a:], master

    def compute_output_shape(self, nodes_a_shape, nodes_b_shape, master_shape):
        return (
            tuple(nodes_a_shape[:-1]) + (self.units,),
            tuple(nodes_b_shape[:-1]) + (self.units,),
            tuple(master_shape[:-1]) + (self.units,),
        )


def kept_nodes(count, ratio):
    """Number of nodes graph pooling keeps: int(count * ratio), at least one (the reference rule)."""
    return max(int(count * ratio), 1)


@keras.saving.register_keras_serializable(package="fakespeech")
class GraphPool(keras.layers.Layer):
    """Graph pooling: scores every node with sigmoid(w . x + b), keeps the top-k nodes scaled by their scores.

    k is fixed from the static node count (`kept_nodes`), so the output shape is static. Kept nodes come in
    descending score order.

    Args:
        ratio: fraction of nodes to keep.
        dropout: dropout rate on the nodes fed to the scorer (not on the kept nodes) during training.

    Example:
        >>> GraphPool(ratio=0.5)(np.zeros((2, 23, 64), "float32")).shape
        (2, 11, 64)
    """

    def __init__(self, ratio, dropout=0.3, **kwargs):
        super().__init__(**kwargs)
        self.ratio = float(ratio)
        self.dropout = float(dropout)
        self.drop = keras.layers.Dropout(self.dropout, name="drop")
        self.proj = keras.layers.Dense(1, name="proj")

    def build(self, input_shape):
        if input_shape[1] is None:
            raise ValueError(f"{self.name}: GraphPool needs a static node count, got input shape {input_shape}")
        self.proj.build(input_shape)

    def call(self, nodes, training=None):
        # (batch, nodes, dims) -> (batch, kept, dims)
        scores = ops.sigmoid(self.proj(self.drop(nodes, training=training)))  # (batch, nodes, 1)
        k = kept_nodes(nodes.shape[1], self.ratio)
        _, index = ops.top_k(ops.squeeze(scores, -1), k=k, sorted=True)  # (batch, k)
        return ops.take_along_axis(nodes * scores, ops.expand_dims(index, -1), axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], kept_nodes(input_shape[1], self.ratio), input_shape[2])

    def get_config(self):
        config = super().get_config()
        config.update({"ratio": self.ratio, "dropout": self.dropout})
        return config


@keras.saving.register_keras_serializable(package="fakespeech")
class NodePositionEmbedding(keras.layers.Layer):
    """Adds a learned embedding, one per node position, to a graph of static size (AASIST's `pos_S`).

    Example:
        >>> NodePositionEmbedding()(np.zeros((2, 23, 64), "float32")).shape
        (2, 23, 64)
    """

    def build(self, input_shape):
        self.embedding = self.add_weight(
            shape=(1, input_shape[1], input_shape[2]), initializer="random_normal", name="embedding"
        )

    def call(self, nodes):
        # (batch, nodes, dims)
        return nodes + self.embedding


@keras.saving.register_keras_serializable(package="fakespeech")
class MasterNode(keras.layers.Layer):
    """A learned node, the same for every example, broadcast to the batch of `reference` (AASIST's master node).

    Args:
        units: dimension of the node.

    Example:
        >>> MasterNode(units=64)(np.zeros((3, 23, 64), "float32")).shape
        (3, 1, 64)
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = int(units)

    def build(self, input_shape):
        self.node = self.add_weight(shape=(1, 1, self.units), initializer="random_normal", name="node")

    def call(self, reference):
        # (batch, ...) -> (batch, 1, units)
        batch = ops.shape(reference)[0]
        return ops.broadcast_to(ops.cast(self.node, self.compute_dtype), (batch, 1, self.units))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], 1, self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
