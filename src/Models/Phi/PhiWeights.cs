using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Phi;

/// <summary>One PhiDecoderLayer's weights, named as the HF tensors under model.layers.{i}; every Linear and the LayerNorm have biases.</summary>
public sealed record PhiLayerWeights(
    DeviceWeight InputLayernorm, DeviceWeight InputLayernormBias, // (hidden): the one LayerNorm of the parallel block
    DeviceWeight QProj, DeviceWeight QBias,                       // (heads * head_dim, hidden)
    DeviceWeight KProj, DeviceWeight KBias,                       // (kv_heads * head_dim, hidden)
    DeviceWeight VProj, DeviceWeight VBias,                       // (kv_heads * head_dim, hidden)
    DeviceWeight Dense, DeviceWeight DenseBias,                   // (hidden, heads * head_dim): self_attn.dense
    DeviceWeight Fc1, DeviceWeight Fc1Bias,                       // (intermediate, hidden): mlp.fc1
    DeviceWeight Fc2, DeviceWeight Fc2Bias)                       // (hidden, intermediate): mlp.fc2
    : ILayerNormGeluLayer
{
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionNorm => (InputLayernorm, InputLayernormBias);
    (DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Qkv => (QProj, QBias, KProj, KBias, VProj, VBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionOut => (Dense, DenseBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.MlpNorm => (InputLayernorm, InputLayernormBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Up => (Fc1, Fc1Bias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Down => (Fc2, Fc2Bias);
}

/// <summary>All weights of a PhiForCausalLM, shape-checked against config.json as they load.</summary>
public sealed record PhiWeights(
    DeviceWeight EmbedTokens,                                   // (vocab, hidden)
    PhiLayerWeights[] Layers,
    DeviceWeight FinalLayernorm, DeviceWeight FinalLayernormBias, // (hidden)
    DeviceWeight LmHead, DeviceWeight LmHeadBias)               // (vocab, hidden), (vocab): the head is a Linear with bias
{
    /// <summary>Loads every tensor from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public static PhiWeights Load(WeightStore store, ModelConfig c, WeightLoader backend)
    {
        long hidden = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ffn = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));

        var layers = new PhiLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            layers[i] = new PhiLayerWeights(
                Load(p + "input_layernorm.weight", hidden), Load(p + "input_layernorm.bias", hidden),
                Load(p + "self_attn.q_proj.weight", q, hidden), Load(p + "self_attn.q_proj.bias", q),
                Load(p + "self_attn.k_proj.weight", kv, hidden), Load(p + "self_attn.k_proj.bias", kv),
                Load(p + "self_attn.v_proj.weight", kv, hidden), Load(p + "self_attn.v_proj.bias", kv),
                Load(p + "self_attn.dense.weight", hidden, q), Load(p + "self_attn.dense.bias", hidden),
                Load(p + "mlp.fc1.weight", ffn, hidden), Load(p + "mlp.fc1.bias", ffn),
                Load(p + "mlp.fc2.weight", hidden, ffn), Load(p + "mlp.fc2.bias", hidden));
        }
        var embed = Load("model.embed_tokens.weight", c.VocabSize, hidden);
        // Tied (not in released Phi checkpoints): lm_head.weight is embed_tokens, its bias is still lm_head.bias.
        var head = c.TieWordEmbeddings ? embed : Load("lm_head.weight", c.VocabSize, hidden);
        return new PhiWeights(embed, layers,
            Load("model.final_layernorm.weight", hidden), Load("model.final_layernorm.bias", hidden),
            head, Load("lm_head.bias", c.VocabSize));
    }
}
