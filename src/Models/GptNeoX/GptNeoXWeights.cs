using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.GptNeoX;

/// <summary>One GPT-NeoX layer's weights, named as the HF tensors under gpt_neox.layers.{i}; the MLP and LayerNorms always have biases.</summary>
public sealed record GptNeoXLayerWeights(
    DeviceWeight InputLayernorm, DeviceWeight InputLayernormBias,                 // (hidden)
    DeviceWeight Wq, DeviceWeight? Bq,                                             // (hidden, hidden): the q rows of query_key_value,
    DeviceWeight Wk, DeviceWeight? Bk,                                             //   gathered from its [heads, 3 * head_size] outputs
    DeviceWeight Wv, DeviceWeight? Bv,                                             //   (biases absent when attention_bias is false)
    DeviceWeight Dense, DeviceWeight? DenseBias,                                   // (hidden, hidden): attention.dense
    DeviceWeight PostAttentionLayernorm, DeviceWeight PostAttentionLayernormBias, // (hidden)
    DeviceWeight DenseHTo4h, DeviceWeight DenseHTo4hBias,                          // (intermediate, hidden)
    DeviceWeight Dense4hToH, DeviceWeight Dense4hToHBias)                          // (hidden, intermediate)
    : ILayerNormGeluLayer
{
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionNorm => (InputLayernorm, InputLayernormBias);
    (DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Qkv => (Wq, Bq, Wk, Bk, Wv, Bv);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionOut => (Dense, DenseBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.MlpNorm => (PostAttentionLayernorm, PostAttentionLayernormBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Up => (DenseHTo4h, DenseHTo4hBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Down => (Dense4hToH, Dense4hToHBias);
}

/// <summary>All weights of a GPT-NeoX model, shape-checked against config.json as they load.</summary>
public sealed record GptNeoXWeights(
    DeviceWeight EmbedIn,                                       // (vocab, hidden)
    GptNeoXLayerWeights[] Layers,
    DeviceWeight FinalLayerNorm, DeviceWeight FinalLayerNormBias, // (hidden)
    DeviceWeight EmbedOut)                                      // (vocab, hidden); embed_in when tied
{
    /// <summary>
    /// Loads every tensor of GPTNeoXForCausalLM from <paramref name="store"/>. query_key_value's outputs are NeoX's
    /// per-head layout (viewed as [heads, 3 * head_size]: q, k, v of head h are consecutive blocks, BLOOM's layout);
    /// they are split into q, k, v in memory owned by <paramref name="qkv"/>.
    /// </summary>
    internal static GptNeoXWeights Load(WeightStore store, ModelConfig c, WeightLoader backend, FusedQkv qkv)
    {
        long d = c.HiddenSize, ffn = c.IntermediateSize;
        bool bias = c.AttentionBias;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));

        var layers = new GptNeoXLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"gpt_neox.layers.{i}.";
            var (wq, wk, wv) = qkv.PerHead(store.View(p + "attention.query_key_value.weight", 3 * d, d), c.NumAttentionHeads, c.HeadDim);
            DeviceWeight? bq = null, bk = null, bv = null;
            if (bias)
            {
                var (q, k, v) = qkv.PerHead(store.View(p + "attention.query_key_value.bias", 3 * d), c.NumAttentionHeads, c.HeadDim);
                (bq, bk, bv) = (backend.LoadWeight(q), backend.LoadWeight(k), backend.LoadWeight(v));
            }
            layers[i] = new GptNeoXLayerWeights(
                Load(p + "input_layernorm.weight", d), Load(p + "input_layernorm.bias", d),
                backend.LoadWeight(wq), bq,
                backend.LoadWeight(wk), bk,
                backend.LoadWeight(wv), bv,
                Load(p + "attention.dense.weight", d, d), bias ? Load(p + "attention.dense.bias", d) : null,
                Load(p + "post_attention_layernorm.weight", d), Load(p + "post_attention_layernorm.bias", d),
                Load(p + "mlp.dense_h_to_4h.weight", ffn, d), Load(p + "mlp.dense_h_to_4h.bias", ffn),
                Load(p + "mlp.dense_4h_to_h.weight", d, ffn), Load(p + "mlp.dense_4h_to_h.bias", d));
        }
        var embeddings = Load("gpt_neox.embed_in.weight", c.VocabSize, d);
        var head = c.TieWordEmbeddings ? embeddings : Load("embed_out.weight", c.VocabSize, d);
        return new GptNeoXWeights(embeddings, layers,
            Load("gpt_neox.final_layer_norm.weight", d), Load("gpt_neox.final_layer_norm.bias", d),
            head);
    }
}
