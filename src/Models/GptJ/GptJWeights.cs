using LongLM.Kernels;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.GptJ;

/// <summary>One GPT-J block's weights, named as the HF tensors under transformer.h.{i}: one LayerNorm feeds both branches.</summary>
public sealed record GptJLayerWeights(
    DeviceWeight Ln1, DeviceWeight Ln1Bias,       // (n_embd)
    DeviceWeight QProj,                           // (n_embd, n_embd), attn.q_proj, no bias
    DeviceWeight KProj,                           // (n_embd, n_embd), attn.k_proj, no bias
    DeviceWeight VProj,                           // (n_embd, n_embd), attn.v_proj, no bias
    DeviceWeight OutProj,                         // (n_embd, n_embd), attn.out_proj, no bias
    DeviceWeight FcIn, DeviceWeight FcInBias,     // (n_inner, n_embd), mlp.fc_in
    DeviceWeight FcOut, DeviceWeight FcOutBias)   // (n_embd, n_inner), mlp.fc_out
    : ILayerNormGeluLayer
{
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionNorm => (Ln1, Ln1Bias);
    (DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Qkv => (QProj, null, KProj, null, VProj, null);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionOut => (OutProj, null);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.MlpNorm => (Ln1, Ln1Bias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Up => (FcIn, FcInBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Down => (FcOut, FcOutBias);
}

/// <summary>All weights of a GPT-J model, shape-checked against config.json as they load.</summary>
public sealed record GptJWeights(
    DeviceWeight Wte,                           // (vocab, n_embd)
    GptJLayerWeights[] Layers,
    DeviceWeight LnF, DeviceWeight LnFBias,     // (n_embd)
    DeviceWeight LmHead, DeviceWeight LmHeadBias) // (vocab, n_embd) and (vocab): GPT-J's head is a Linear with bias
{
    /// <summary>
    /// Loads every tensor from <paramref name="store"/> onto <paramref name="backend"/>. Names carry the "transformer."
    /// prefix of GPTJForCausalLM; lm_head.weight is wte when tie_word_embeddings is true, but lm_head.bias is always read
    /// (HF ties the weight only), so a checkpoint without it is an error here rather than a silently zero bias.
    /// </summary>
    public static GptJWeights Load(WeightStore store, ModelConfig c, WeightLoader backend)
    {
        long d = c.HiddenSize, inner = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));

        var layers = new GptJLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"transformer.h.{i}.";
            layers[i] = new GptJLayerWeights(
                Load(p + "ln_1.weight", d), Load(p + "ln_1.bias", d),
                Load(p + "attn.q_proj.weight", d, d),
                Load(p + "attn.k_proj.weight", d, d),
                Load(p + "attn.v_proj.weight", d, d),
                Load(p + "attn.out_proj.weight", d, d),
                Load(p + "mlp.fc_in.weight", inner, d), Load(p + "mlp.fc_in.bias", inner),
                Load(p + "mlp.fc_out.weight", d, inner), Load(p + "mlp.fc_out.bias", d));
        }
        var wte = Load("transformer.wte.weight", c.VocabSize, d);
        var head = c.TieWordEmbeddings ? wte : Load("lm_head.weight", c.VocabSize, d);
        return new GptJWeights(wte, layers, Load("transformer.ln_f.weight", d), Load("transformer.ln_f.bias", d),
            head, Load("lm_head.bias", c.VocabSize));
    }
}
