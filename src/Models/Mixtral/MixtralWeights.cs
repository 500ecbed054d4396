using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Mixtral;

/// <summary>One expert of block_sparse_moe.experts.{e}: w2(silu(w1(h)) * w3(h)), HF MixtralBlockSparseTop2MLP.</summary>
public sealed record MixtralExpertWeights(
    DeviceWeight W1,  // (intermediate, hidden): the gate projection
    DeviceWeight W3,  // (intermediate, hidden): the up projection
    DeviceWeight W2); // (hidden, intermediate): the down projection

/// <summary>One decoder layer's weights, named as the HF tensors under model.layers.{i}.</summary>
public sealed record MixtralLayerWeights(
    DeviceWeight InputLayernorm,         // (hidden)
    DeviceWeight QProj,                  // (heads * head_dim, hidden)
    DeviceWeight KProj,                  // (kv_heads * head_dim, hidden)
    DeviceWeight VProj,                  // (kv_heads * head_dim, hidden)
    DeviceWeight OProj,                  // (hidden, heads * head_dim)
    DeviceWeight PostAttentionLayernorm, // (hidden)
    DeviceWeight Gate,                   // (experts, hidden): block_sparse_moe.gate, the router
    MixtralExpertWeights[] Experts);

/// <summary>All weights of a Mixtral model, shape-checked against config.json as they load.</summary>
public sealed record MixtralWeights(
    DeviceWeight EmbedTokens, // (vocab, hidden)
    MixtralLayerWeights[] Layers,
    DeviceWeight Norm,        // (hidden)
    DeviceWeight LmHead)      // (vocab, hidden); embed_tokens when tied
{
    /// <summary>Loads every tensor from <paramref name="store"/> onto the backend of <paramref name="loader"/>.</summary>
    public static MixtralWeights Load(WeightStore store, ModelConfig c, MixtralSettings moe, WeightLoader loader)
    {
        long hidden = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ffn = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => loader.LoadWeight(store.View(name, shape));
        var layers = new MixtralLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.", m = p + "block_sparse_moe.";
            var experts = new MixtralExpertWeights[moe.NumLocalExperts];
            for (int e = 0; e < experts.Length; e++)
                experts[e] = new MixtralExpertWeights(
                    Load($"{m}experts.{e}.w1.weight", ffn, hidden),
                    Load($"{m}experts.{e}.w3.weight", ffn, hidden),
                    Load($"{m}experts.{e}.w2.weight", hidden, ffn));
            layers[i] = new MixtralLayerWeights(
                Load(p + "input_layernorm.weight", hidden),
                Load(p + "self_attn.q_proj.weight", q, hidden),
                Load(p + "self_attn.k_proj.weight", kv, hidden),
                Load(p + "self_attn.v_proj.weight", kv, hidden),
                Load(p + "self_attn.o_proj.weight", hidden, q),
                Load(p + "post_attention_layernorm.weight", hidden),
                Load(m + "gate.weight", moe.NumLocalExperts, hidden),
                experts);
        }
        var embed = Load("model.embed_tokens.weight", c.VocabSize, hidden);
        var head = c.TieWordEmbeddings ? embed : Load("lm_head.weight", c.VocabSize, hidden);
        return new MixtralWeights(embed, layers, Load("model.norm.weight", hidden), head);
    }
}
