using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Mpt;

/// <summary>One MPT block's weights, named as the HF tensors under transformer.blocks.{i}; biases only without no_bias.</summary>
public sealed record MptLayerWeights(
    DeviceWeight Norm1, DeviceWeight? Norm1Bias,       // (d_model)
    DeviceWeight Wq, DeviceWeight? Bq,                 // (d_model, d_model): rows [0, d) of attn.Wqkv (3 * d_model, d_model)
    DeviceWeight Wk, DeviceWeight? Bk,                 // rows [d, 2d)
    DeviceWeight Wv, DeviceWeight? Bv,                 // rows [2d, 3d)
    DeviceWeight OutProj, DeviceWeight? OutProjBias,   // (d_model, d_model)
    DeviceWeight Norm2, DeviceWeight? Norm2Bias,       // (d_model)
    DeviceWeight UpProj, DeviceWeight? UpProjBias,     // (expansion_ratio * d_model, d_model)
    DeviceWeight DownProj, DeviceWeight? DownProjBias) // (d_model, expansion_ratio * d_model)
    : ILayerNormGeluLayer
{
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionNorm => (Norm1, Norm1Bias);
    (DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?, DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Qkv => (Wq, Bq, Wk, Bk, Wv, Bv);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.AttentionOut => (OutProj, OutProjBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.MlpNorm => (Norm2, Norm2Bias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Up => (UpProj, UpProjBias);
    (DeviceWeight, DeviceWeight?) ILayerNormGeluLayer.Down => (DownProj, DownProjBias);
}

/// <summary>All weights of an MPT model, shape-checked against config.json as they load.</summary>
public sealed record MptWeights(
    DeviceWeight Wte,                           // (vocab, d_model)
    MptLayerWeights[] Layers,
    DeviceWeight NormF, DeviceWeight? NormFBias, // (d_model)
    DeviceWeight LmHead)                        // (vocab, d_model); wte when tied (always, in released MPT checkpoints)
{
    /// <summary>
    /// Loads every tensor from <paramref name="store"/> onto <paramref name="backend"/>. Tensor names carry the
    /// "transformer." prefix of MptForCausalLM; checkpoints saved from the bare MptModel (no prefix) load too, as HF's
    /// loader would. With <paramref name="noBias"/> false (llm-foundry's option), every LayerNorm and Linear has a bias.
    /// </summary>
    public static MptWeights Load(WeightStore store, ModelConfig c, WeightLoader backend, bool noBias)
    {
        string root = store.Contains("transformer.wte.weight") || !store.Contains("wte.weight") ? "transformer." : "";
        if (store.Contains(root + "wpe.weight"))
            throw new LongLMException($"{store.Directory}: '{root}wpe.weight' (learned position embeddings) is not supported; LongLM runs ALiBi MPT models");
        long d = c.HiddenSize, ffn = c.IntermediateSize;
        DeviceWeight Load(string name, params long[] shape) => backend.LoadWeight(store.View(name, shape));
        DeviceWeight? Bias(string name, long size) => noBias ? null : Load(name, size);

        var layers = new MptLayerWeights[c.NumHiddenLayers];
        for (int i = 0; i < layers.Length; i++)
        {
            string p = $"{root}blocks.{i}.";
            var (wq, wk, wv) = FusedQkv.Stacked(store.View(p + "attn.Wqkv.weight", 3 * d, d), (int)d);
            DeviceWeight? bq = null, bk = null, bv = null;
            if (!noBias)
            {
                var (q, k, v) = FusedQkv.Stacked(store.View(p + "attn.Wqkv.bias", 3 * d), (int)d);
                (bq, bk, bv) = (backend.LoadWeight(q), backend.LoadWeight(k), backend.LoadWeight(v));
            }
            layers[i] = new MptLayerWeights(
                Load(p + "norm_1.weight", d), Bias(p + "norm_1.bias", d),
                backend.LoadWeight(wq), bq,
                backend.LoadWeight(wk), bk,
                backend.LoadWeight(wv), bv,
                Load(p + "attn.out_proj.weight", d, d), Bias(p + "attn.out_proj.bias", d),
                Load(p + "norm_2.weight", d), Bias(p + "norm_2.bias", d),
                Load(p + "ffn.up_proj.weight", ffn, d), Bias(p + "ffn.up_proj.bias", ffn),
                Load(p + "ffn.down_proj.weight", d, ffn), Bias(p + "ffn.down_proj.bias", d));
        }
        var wte = Load(root + "wte.weight", c.VocabSize, d);
        var head = c.TieWordEmbeddings ? wte : Load("lm_head.weight", c.VocabSize, d);
        return new MptWeights(wte, layers, Load(root + "norm_f.weight", d), Bias(root + "norm_f.bias", d), head);
    }
}
