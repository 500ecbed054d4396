using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Llama;

/// <summary>One decoder layer's weights, named as the HF tensors under model.layers.{i}.</summary>
public sealed record LlamaLayerWeights(
    DeviceWeight InputLayernorm,          // (hidden)
    DeviceWeight QProj, DeviceWeight? QBias, // (heads * head_dim, hidden)
    DeviceWeight KProj, DeviceWeight? KBias, // (kv_heads * head_dim, hidden)
    DeviceWeight VProj, DeviceWeight? VBias, // (kv_heads * head_dim, hidden)
    DeviceWeight OProj, DeviceWeight? OBias, // (hidden, heads * head_dim)
    DeviceWeight PostAttentionLayernorm,  // (hidden)
    DeviceWeight GateProj, DeviceWeight? GateBias, // (intermediate, hidden)
    DeviceWeight UpProj, DeviceWeight? UpBias,     // (intermediate, hidden)
    DeviceWeight DownProj, DeviceWeight? DownBias); // (hidden, intermediate)

/// <summary>All weights of a Llama-family model, shape-checked against config.json as they load.</summary>
public sealed record LlamaWeights(
    DeviceWeight EmbedTokens,  // (vocab, hidden)
    LlamaLayerWeights[] Layers,
    DeviceWeight Norm,         // (hidden)
    DeviceWeight LmHead)       // (vocab, hidden); embed_tokens when tied
{
    /// <summary>Loads every tensor from <paramref name="store"/> onto <paramref name="backend"/>.</summary>
    public static LlamaWeights Load(WeightStore store, ModelConfig c, WeightLoader backend)
    {
        long hidden = c.HiddenSize, q = (long)c.NumAttentionHeads * c.HeadDim, kv = (long)c.NumKeyValueHeads * c.HeadDim, ffn = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));
        // Qwen2 has q/k/v biases without saying attention_bias: presence of the tensor decides, as HF's loader would.
        DeviceWeight? Bias(string name, bool declared, long size) =>
            declared || store.Contains(name) ? Load(name, size) : null;

        var layers = new LlamaLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"model.layers.{i}.";
            layers[i] = new LlamaLayerWeights(
                Load(p + "input_layernorm.weight", hidden),
                Load(p + "self_attn.q_proj.weight", q, hidden), Bias(p + "self_attn.q_proj.bias", c.AttentionBias, q),
                Load(p + "self_attn.k_proj.weight", kv, hidden), Bias(p + "self_attn.k_proj.bias", c.AttentionBias, kv),
                Load(p + "self_attn.v_proj.weight", kv, hidden), Bias(p + "self_attn.v_proj.bias", c.AttentionBias, kv),
                Load(p + "self_attn.o_proj.weight", hidden, q), Bias(p + "self_attn.o_proj.bias", c.AttentionBias, hidden),
                Load(p + "post_attention_layernorm.weight", hidden),
                Load(p + "mlp.gate_proj.weight", ffn, hidden), Bias(p + "mlp.gate_proj.bias", c.MlpBias, ffn),
                Load(p + "mlp.up_proj.weight", ffn, hidden), Bias(p + "mlp.up_proj.bias", c.MlpBias, ffn),
                Load(p + "mlp.down_proj.weight", hidden, ffn), Bias(p + "mlp.down_proj.bias", c.MlpBias, hidden));
        }
        var embed = Load("model.embed_tokens.weight", c.VocabSize, hidden);
        // Tied: the head is embed_tokens. Untied without lm_head.weight is an error here, where HF would
        // silently start from random weights.
        var head = c.TieWordEmbeddings ? embed : Load("lm_head.weight", c.VocabSize, hidden);
        return new LlamaWeights(embed, layers, Load("model.norm.weight", hidden), head);
    }
}
