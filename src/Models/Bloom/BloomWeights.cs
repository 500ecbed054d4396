using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Bloom;

/// <summary>One BLOOM block's weights, named as the HF tensors under transformer.h.{i}; every LayerNorm and Linear has a bias.</summary>
public sealed record BloomLayerWeights(
    DeviceWeight InputLayernorm, DeviceWeight InputLayernormBias,                 // (hidden)
    DeviceWeight Wq, DeviceWeight Bq,                                              // (hidden, hidden): the q rows of query_key_value
    DeviceWeight Wk, DeviceWeight Bk,                                              //   de-interleaved from its [heads, 3, head_dim] outputs
    DeviceWeight Wv, DeviceWeight Bv,
    DeviceWeight Dense, DeviceWeight DenseBias,                                    // (hidden, hidden): self_attention.dense
    DeviceWeight PostAttentionLayernorm, DeviceWeight PostAttentionLayernormBias, // (hidden)
    DeviceWeight DenseHTo4h, DeviceWeight DenseHTo4hBias,                          // (4 * hidden, hidden)
    DeviceWeight Dense4hToH, DeviceWeight Dense4hToHBias)                          // (hidden, 4 * hidden)
    : ILayerNormGeluLayer
{
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionNorm => (InputLayernorm, InputLayernormBias);
    (DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Qkv => (Wq, Bq, Wk, Bk, Wv, Bv);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionOut => (Dense, DenseBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.MlpNorm => (PostAttentionLayernorm, PostAttentionLayernormBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Up => (DenseHTo4h, DenseHTo4hBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Down => (Dense4hToH, Dense4hToHBias);
}

/// <summary>All weights of a BLOOM model, shape-checked against config.json as they load.</summary>
public sealed record BloomWeights(
    DeviceWeight WordEmbeddings,                                                   // (vocab, hidden)
    DeviceWeight WordEmbeddingsLayernorm, DeviceWeight WordEmbeddingsLayernormBias, // (hidden)
    BloomLayerWeights[] Layers,
    DeviceWeight LnF, DeviceWeight LnFBias,                                        // (hidden)
    DeviceWeight LmHead)                                                           // (vocab, hidden); word_embeddings when tied
{
    /// <summary>
    /// Loads every tensor from <paramref name="store"/> onto <paramref name="backend"/>. Names carry BloomForCausalLM's
    /// "transformer." prefix; the released bigscience checkpoints were saved from the bare BloomModel (no prefix) and
    /// load too, as HF's loader would. query_key_value is split into q, k, v in memory owned by <paramref name="qkv"/>.
    /// </summary>
    internal static BloomWeights Load(WeightStore store, ModelConfig c, WeightLoader backend, FusedQkv qkv)
    {
        string root = store.Contains("transformer.word_embeddings.weight") || !store.Contains("word_embeddings.weight") ? "transformer." : "";
        long d = c.HiddenSize, ffn = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));

        var layers = new BloomLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"{root}h.{i}.";
            var (wq, wk, wv) = qkv.PerHead(store.View(p + "self_attention.query_key_value.weight", 3 * d, d), c.NumAttentionHeads, c.HeadDim);
            var (bq, bk, bv) = qkv.PerHead(store.View(p + "self_attention.query_key_value.bias", 3 * d), c.NumAttentionHeads, c.HeadDim);
            layers[i] = new BloomLayerWeights(
                Load(p + "input_layernorm.weight", d), Load(p + "input_layernorm.bias", d),
                backend.LoadWeight(wq), backend.LoadWeight(bq),
                backend.LoadWeight(wk), backend.LoadWeight(bk),
                backend.LoadWeight(wv), backend.LoadWeight(bv),
                Load(p + "self_attention.dense.weight", d, d), Load(p + "self_attention.dense.bias", d),
                Load(p + "post_attention_layernorm.weight", d), Load(p + "post_attention_layernorm.bias", d),
                Load(p + "mlp.dense_h_to_4h.weight", ffn, d), Load(p + "mlp.dense_h_to_4h.bias", ffn),
                Load(p + "mlp.dense_4h_to_h.weight", d, ffn), Load(p + "mlp.dense_4h_to_h.bias", d));
        }
        var embeddings = Load(root + "word_embeddings.weight", c.VocabSize, d);
        var head = c.TieWordEmbeddings ? embeddings : Load("lm_head.weight", c.VocabSize, d);
        return new BloomWeights(embeddings,
            Load(root + "word_embeddings_layernorm.weight", d), Load(root + "word_embeddings_layernorm.bias", d),
            layers,
            Load(root + "ln_f.weight", d), Load(root + "ln_f.bias", d),
            head);
    }
}
